"""Adaptive stopping vs 20 fixed requests on a sweep, real llama-server + aiperf 0.13.

What is compared (the calibrated-measurement issue: "the request count and wall time to reach the
precision that 20 fixed requests give"):
- *fixed design*: every cell gets 20 requests. The precision it delivers on the sweep is the width
  of its **worst** cell (a fixed count is chosen so that every cell is measured at least that
  well): per stopping figure, the largest relative 95 % half-width over the cells' first 20
  requests. That is the sweep target.
- *adaptive*: every cell stops (capture/adaptive.py's rule: sequential t on the mean output tok/s
  per user, with a power sensor also the decode tok/J ratio, min_requests 5) once it reaches the
  sweep target. Quiet cells stop early; the noisiest cell needs about 20.
- *per-cell matched* (for reference): each cell's own fixed-20 width as its target. Sequential
  stopping gives no free lunch here (~18 requests on average in simulation, tests/test_adaptive.py).

How: per cell, one real aiperf run of `--requests` requests (+ warm-up) in the capture's order on
one server per model (pinned, 127.0.0.1), records in the order they completed. The fixed design is
its first 20 records; the adaptive rule is replayed on the same records in order (paired: both
designs see the same requests, so the ratio is not noise between two runs). Time to a design's
last record is measured from the first request's start; aiperf's own start-up (~8 s per run on
the 2-core VM) comes on top of both alike. Machine load (1-min load average) is recorded.

    .venv/bin/python benchmarks/adaptive_requests.py [--config config.yaml] [--requests 40] [--out DIR]
    .venv/bin/python benchmarks/adaptive_requests.py --config config/h200-adaptive.yaml   # on a GPU
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "src"))
from _results import publish, record_target, machine  # noqa: E402

from joulebench import config as C  # noqa: E402
from joulebench.backends import make_backend  # noqa: E402
from joulebench.capture import adaptive, pinning  # noqa: E402
from joulebench.capture.aiperf_cmd import aiperf_argv, aiperf_binary  # noqa: E402
from joulebench.capture.model import prepare_model  # noqa: E402
from joulebench.capture.prompts import model_prompts, write_dataset  # noqa: E402
from joulebench.platforms import get_platform  # noqa: E402
from joulebench.runtime.clients import run_aiperf  # noqa: E402
from joulebench.runtime.devicelock import DeviceLock  # noqa: E402
from joulebench.telemetry import resolve_source  # noqa: E402

FIXED = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record_stream(cfg, cell, model, backend, endpoint, work: Path, requests: int) -> tuple[list[dict], float]:
    """One aiperf run of `requests` measured requests; (completed records in completion order, wall s)."""
    sweep = cfg["sweep"]
    warm = int(sweep["warmup_requests"])
    prompts = model_prompts(model, cell.ctx, requests + warm, int(sweep["seed"]))
    work.mkdir(parents=True)
    dataset = write_dataset(work / "prompts.jsonl", [(t, cell.gen) for t in prompts])
    return run_and_read(cfg, {**sweep, "requests": requests}, model, backend, endpoint, dataset, work,
                        requests * float(sweep["request_timeout_s"]) + 300)


def run_and_read(cfg, sweep: dict, model, backend, endpoint, dataset: Path, work: Path,
                 timeout_s: float) -> tuple[list[dict], float]:
    """One real aiperf run of `dataset` as `sweep` says (pinned as the capture pins its client, the
    model's tokenizer offline), killed after timeout_s; (its completed profiling records in
    completion order, wall s)."""
    argv = aiperf_argv(aiperf_binary(None), endpoint, model.tokenizer_id, dataset, sweep, work / "aiperf")
    env = dict(os.environ)
    if model.hf_home:
        env.update(HF_HOME=str(model.hf_home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    reader = adaptive.Stopper(work / "aiperf" / "profile_export.jsonl",
                              adaptive.Precision(0.0, 0.0, 0.95, 10**9, 10**9), False)  # reads, never stops
    t = time.monotonic()
    rc = run_aiperf([*pinning.prefix(cfg["pinning"], "client"), *argv], env, work / "aiperf.log", backend, timeout_s)
    wall = time.monotonic() - t
    if rc != 0:
        raise SystemExit(f"aiperf exited {rc}: see {work / 'aiperf.log'}")
    reader._read_new()
    recs = sorted(reader.records, key=lambda r: r["metadata"]["request_end_ns"])
    return recs, wall


def elapsed_s(recs: list[dict], n: int) -> float:
    """From the first request's start to the n-th completed request's end."""
    return (recs[n - 1]["metadata"]["request_end_ns"] - recs[0]["metadata"]["request_start_ns"]) / 1e9


def stop_at(recs: list[dict], targets: dict, level: float, min_requests: int, with_energy: bool) -> int:
    """capture/adaptive.py's rule replayed on the records in order: the request count it stops at."""
    prec = adaptive.Precision(targets["output_tok_s_per_user_mean"], targets.get("decode_tok_per_j", 1.0),
                              level, min_requests, len(recs))
    for n in range(min_requests, len(recs)):
        if adaptive.tight(adaptive.widths(recs[:n], level, with_energy), prec):
            return n
    return len(recs)


def analyse(cells: list[dict], level: float, min_requests: int, with_energy: bool) -> dict:
    for c in cells:
        c["fixed_widths"] = adaptive.widths(c["recs"][:FIXED], level, with_energy)
        tok = np.array([adaptive._value(r, "output_token_throughput_per_user") for r in c["recs"][:FIXED]])
        c["cv"] = float(np.std(tok, ddof=1) / np.mean(tok))
    figs = list(cells[0]["fixed_widths"])
    sweep_target = {f: max(c["fixed_widths"][f] for c in cells) for f in figs}
    for c in cells:
        c["sweep_n"] = stop_at(c["recs"], sweep_target, level, min_requests, with_energy)
        c["matched_n"] = stop_at(c["recs"], c["fixed_widths"], level, min_requests, with_energy)
        for k in ("sweep", "matched"):
            n = c[f"{k}_n"]
            c[f"{k}_widths"] = adaptive.widths(c["recs"][:n], level, with_energy)
            c[f"{k}_s"] = elapsed_s(c["recs"], n)
        c["fixed_s"] = elapsed_s(c["recs"], FIXED)
    return {"sweep_target": sweep_target, "figures": figs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", type=Path, default=REPO / "config.yaml")
    ap.add_argument("--requests", type=int, default=40, help="recorded requests per cell (>= 20)")
    ap.add_argument("--out", help="keep the aiperf runs here")
    args = ap.parse_args()
    cfg = C.load(args.config)
    if cfg["platform"] == "cpu":  # the default config's fixed port may be taken by a running pipeline
        for b in cfg["backends"].values():
            b["port"] = free_port()
    sweep = cfg["sweep"]
    level, min_requests = float(sweep["precision"]["level"]), int(sweep["precision"]["min_requests"])
    plat = get_platform(cfg)
    with_energy = resolve_source(cfg, plat.name)[0] != "none"  # as the capture decides
    out = Path(args.out or tempfile.mkdtemp(prefix="jb-adaptive-"))
    pin = cfg["pinning"]
    lock = DeviceLock(REPO).acquire(say=lambda m: print(m, file=sys.stderr))
    load = [os.getloadavg()[0]]
    t0 = time.monotonic()
    cells = []
    try:
        backend = None
        for cell in C.cells(cfg):
            if cell.trial != 1:
                continue
            if backend is None or backend.name != cell.backend or cells[-1]["model"] != cell.model:
                if backend is not None:
                    backend.stop()
                model = prepare_model(cfg, cell.model, args.config.parent)
                backend = make_backend(cell.backend, cfg, out / "state", pinning.server_threads(pin, cfg["modes"][cell.mode]),
                                       pinning.prefix(pin, "server"))
                endpoint = backend.ensure(model)
            tag = f"{cell.model} ctx{cell.ctx}_gen{cell.gen}"
            recs, wall = record_stream(cfg, cell, model, backend, endpoint, out / cell.model / f"ctx{cell.ctx}_gen{cell.gen}",
                                       args.requests)
            cells.append({"cell": tag, "model": cell.model, "recs": recs, "aiperf_wall_s": wall})
            load.append(os.getloadavg()[0])
            print(f"{tag}: {len(recs)} records, {wall:.0f} s, load {load[-1]:.2f}", file=sys.stderr, flush=True)
    finally:
        if backend is not None:
            backend.stop()
        lock.release()
    res = analyse(cells, level, min_requests, with_energy)
    (out / "adaptive.json").write_text(json.dumps(
        {**res, "cells": [{k: v for k, v in c.items() if k != "recs"} for c in cells]}, indent=1, default=float))
    publish(report(cells, res, args, load, time.monotonic() - t0, with_energy, min_requests))
    fixed_s, adaptive_s = sum(c["fixed_s"] for c in cells), sum(c["sweep_s"] for c in cells)
    record_target("request time to the seed's precision, adaptive / 20 fixed", adaptive_s / fixed_s, 0.5, "x",
                  note=f"{len(cells)} cells of {os.path.relpath(args.config, REPO)}; the sweep target is the worst "
                       f"cell's {FIXED}-request width")


def report(cells, res, args, load, wall, with_energy, min_requests) -> str:
    pct = lambda w: " / ".join(f"{100 * w[f]:.1f}" for f in res["figures"])  # noqa: E731
    names = " / ".join(res["figures"])
    lines = [f"## Adaptive stopping vs {FIXED} fixed requests — {time.strftime('%Y-%m-%d %H:%M')} on "
             f"{machine()}", "",
             f"Command: `.venv/bin/python benchmarks/adaptive_requests.py --config {os.path.relpath(args.config, REPO)} "
             f"--requests {args.requests}` ({wall / 60:.1f} min; 1-min load average {min(load):.2f}-{max(load):.2f}; "
             f"power sensor: {'yes' if with_energy else 'no'}). One real aiperf run of {args.requests} requests per cell; "
             f"fixed = its first {FIXED}; the stopping rule replayed on the same records (min_requests {min_requests}). "
             f"Widths: relative 95 % half-width of {names} (%). Sweep target = the worst cell's fixed-{FIXED} width: "
             + pct(res["sweep_target"]) + ".", "",
             f"| cell | per-request CV | fixed {FIXED}: widths, s | adaptive to sweep target: requests, widths, s "
             f"| matched to own fixed width: requests |", "|---|---|---|---|---|"]
    for c in cells:
        lines.append(f"| {c['cell']} | {100 * c['cv']:.1f} % | {pct(c['fixed_widths'])}, {c['fixed_s']:.1f} "
                     f"| {c['sweep_n']}, {pct(c['sweep_widths'])}, {c['sweep_s']:.1f} | {c['matched_n']} |")
    nf, ns, nm = FIXED * len(cells), sum(c["sweep_n"] for c in cells), sum(c["matched_n"] for c in cells)
    tf, ts = sum(c["fixed_s"] for c in cells), sum(c["sweep_s"] for c in cells)
    lines += ["", f"Total to the sweep target: fixed {nf} requests / {tf:.0f} s, adaptive {ns} requests / {ts:.0f} s: "
              f"**{nf / ns:.2f}x fewer requests, {tf / ts:.2f}x less request time** (aiperf start-up, "
              f"{np.mean([c['aiperf_wall_s'] - elapsed_s(c['recs'], len(c['recs'])) for c in cells]):.0f} s per run here, "
              f"not included). Each cell to its own fixed width: {nm} requests ({nf / nm:.2f}x).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
