"""Does the warm-up request need the cell's whole generation? The first measured request after no
warm-up, a short one and a whole one, real llama-server + aiperf 0.13.

Why it matters (issue 17): each aiperf run sends `sweep.warmup_requests` warm-up requests of its
first cell's shape before measuring. Block capture pays that once per block; adaptive stopping
(`requests: auto`) runs one aiperf per cell and pays it per cell: at the seed's scale (768 cells, a
mean request of 12.5 s) ~2.7 h of a ~21-36 h sweep. A warm-up capped at a few generated tokens costs
~the prefill alone. This measures whether the first measured request still reads like the rest.

How: one cell (default: config.yaml's largest prompt and generation), each run a fresh aiperf
process (as every cell of the cell unit and of adaptive stopping) with N measured requests after
  none  -- no warm-up request;
  short -- one warm-up of the cell's prompt length and `--short` generated tokens;
  whole -- one warm-up of the cell's shape (what joulebench sends);
the conditions interleaved over R rounds (machine drift falls on all alike), on a server that has
already served requests (`warm`: the next cell of a block) and on one started for the run (`fresh`:
a block's first cell). Per run: the first measured request's TTFT, mean ITL and output tok/s per user
over the median of the run's other measured requests. A warm-up does its job when that ratio reads
like the ratio of any other request to the median (its spread is printed beside).

    .venv/bin/python benchmarks/warmup_length.py [--config config.yaml] [--rounds 3] [--requests 5] [--servers warm]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "src"))
from _results import machine, publish  # noqa: E402
from adaptive_requests import free_port, run_and_read  # noqa: E402

from joulebench import config as C  # noqa: E402
from joulebench.backends import make_backend  # noqa: E402
from joulebench.capture import adaptive, pinning  # noqa: E402
from joulebench.capture.model import prepare_model  # noqa: E402
from joulebench.capture.prompts import model_prompts, write_dataset  # noqa: E402
from joulebench.runtime.devicelock import DeviceLock  # noqa: E402

FIGURES = {"TTFT": "time_to_first_token", "ITL": "inter_token_latency",
           "tok/s per user": "output_token_throughput_per_user"}


def one_run(cfg, cell, model, backend, endpoint, work: Path, requests: int, warm_gen: int | None,
            seed: int) -> tuple[list[dict], float]:
    """One aiperf run: a warm-up of `warm_gen` tokens (None: none), then `requests` measured ones.
    (measured records in the order they were sent, the warm-up's seconds)."""
    sweep = {**cfg["sweep"], "warmup_requests": 0 if warm_gen is None else 1, "requests": requests}
    texts = model_prompts(model, cell.ctx, requests + 1, seed)
    lines = ([(texts[0], warm_gen)] if warm_gen is not None else []) + [(t, cell.gen) for t in texts[1:]]
    work.mkdir(parents=True)
    dataset = write_dataset(work / "prompts.jsonl", lines)
    recs, _ = run_and_read(cfg, sweep, model, backend, endpoint, dataset, work,  # one in flight: sent order
                           (requests + 1) * float(sweep["request_timeout_s"]) + 300)
    from joulebench.parse.aiperf import parse_requests

    df = parse_requests(work / "aiperf", include_warmup=True)
    warm = df[df["benchmark_phase"] == "warmup"]
    warm_s = float(((warm["end_ns"] - warm["start_ns"]) / 1e9).sum())
    if len(recs) != requests:
        raise SystemExit(f"{work}: {len(recs)} measured records, expected {requests}")
    osl = {adaptive._value(r, "output_sequence_length") for r in recs}
    if osl != {float(cell.gen)}:  # a measured request that was sent the warm-up's line
        raise SystemExit(f"{work}: measured output lengths {sorted(osl)}, expected {cell.gen} each")
    return recs, warm_s


def ratios(recs: list[dict]) -> dict[str, tuple[float, list[float]]]:
    """Per figure: (first measured request / median of the others, every other request / that median)."""
    out = {}
    for name, key in FIGURES.items():
        v = np.array([adaptive._value(r, key) for r in recs])
        med = float(np.median(v[1:]))
        out[name] = (float(v[0] / med), [float(x / med) for x in v[1:]])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=REPO / "config.yaml")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=5, help="measured requests per run (>= 3)")
    ap.add_argument("--short", type=int, default=2, help="generated tokens of the short warm-up")
    ap.add_argument("--servers", default="warm,fresh", help="server kinds to run, comma-separated")
    ap.add_argument("--out", help="keep the aiperf runs here")
    args = ap.parse_args()
    servers = args.servers.split(",")
    cfg = C.load(args.config)
    if cfg["platform"] == "cpu":  # the default config's fixed port may be taken by a running pipeline
        for b in cfg["backends"].values():
            b["port"] = free_port()
    cells = [c for c in C.cells(cfg) if c.trial == 1 and c.concurrency == 1]
    cell = max(cells, key=lambda c: (c.gen, c.ctx))
    conditions = {"none": None, "short": args.short, "whole": cell.gen}
    pin = cfg["pinning"]
    out = Path(args.out or tempfile.mkdtemp(prefix="jb-warmup-"))
    lock = DeviceLock(REPO).acquire(say=lambda m: print(m, file=sys.stderr))
    t0, load = time.monotonic(), [os.getloadavg()[0]]
    runs: list[dict] = []
    backend = None
    try:
        model = prepare_model(cfg, cell.model, args.config.parent)
        backend = make_backend(cell.backend, cfg, out / "state", pinning.server_threads(pin, cfg["modes"][cell.mode]),
                               pinning.prefix(pin, "server"))
        endpoint = backend.ensure(model)
        one_run(cfg, cell, model, backend, endpoint, out / "prime", 2, cell.gen, 7)  # the server has served
        seed = 100
        for rnd in range(args.rounds):
            for server in servers:
                for cond, warm_gen in conditions.items():
                    if server == "fresh":
                        backend.stop()
                        endpoint = backend.ensure(model)
                    seed += 1
                    recs, warm_s = one_run(cfg, cell, model, backend, endpoint, out / f"r{rnd}-{server}-{cond}",
                                           args.requests, warm_gen, seed)
                    runs.append({"server": server, "cond": cond, "warm_s": warm_s, "ratios": ratios(recs)})
                    load.append(os.getloadavg()[0])
                    print(f"round {rnd} {server} {cond}: first TTFT x{runs[-1]['ratios']['TTFT'][0]:.3f}, "
                          f"warm-up {warm_s:.2f} s, load {load[-1]:.2f}", file=sys.stderr, flush=True)
    finally:
        if backend is not None:
            backend.stop()
        lock.release()
    publish(report(runs, servers, cell, conditions, args, load, time.monotonic() - t0))


def report(runs, servers, cell, conditions, args, load, wall) -> str:
    lines = [f"## Warm-up length: the first measured request after none, a short and a whole warm-up — "
             f"{time.strftime('%Y-%m-%d %H:%M')} on {machine()}", "",
             f"Command: `.venv/bin/python benchmarks/warmup_length.py --config {os.path.relpath(args.config, REPO)} "
             f"--rounds {args.rounds} --requests {args.requests} --short {args.short} --servers {args.servers}` ({wall / 60:.1f} min; 1-min "
             f"load average {min(load):.2f}-{max(load):.2f}). Cell {cell.model} ctx{cell.ctx}_gen{cell.gen}; each run "
             f"a fresh aiperf process, {args.requests} measured requests; `warm` = a server that has served requests, "
             f"`fresh` = one started for the run. Ratio = the first measured request over the median of the run's "
             f"other measured requests (median and range over the {args.rounds} runs); `others` = every other "
             f"request over that median, pooled over all runs of the server kind (the spread a warmed-up request has).",
             "", "| server | warm-up | its s (median) | " + " | ".join(f"first {f}" for f in FIGURES) + " |",
             "|---|---|---|" + "---|" * len(FIGURES)]
    fmt = lambda v: f"{np.median(v):.3f} ({min(v):.3f}-{max(v):.3f})"  # noqa: E731
    for server in servers:
        mine = [r for r in runs if r["server"] == server]
        for cond, gen in conditions.items():
            rs = [r for r in mine if r["cond"] == cond]
            label = "none" if gen is None else f"{cond}, {gen} tokens"
            lines.append(f"| {server} | {label} | {np.median([r['warm_s'] for r in rs]):.2f} | "
                         + " | ".join(fmt([r["ratios"][f][0] for r in rs]) for f in FIGURES) + " |")
        lines.append(f"| {server} | others | — | "
                     + " | ".join(fmt([x for r in mine for x in r["ratios"][f][1]]) for f in FIGURES) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
