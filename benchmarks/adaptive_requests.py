"""Adaptive stopping vs 20 fixed requests on the default sweep, real llama-server + aiperf 0.13.

Per cell of the sweep (config.yaml: ctx {128, 512} x gen {32, 64}), three aiperf runs against one
llama-server started as the capture starts it (pinned, 127.0.0.1), the same exact-length prompts:
  fixed     20 requests (+1 warm-up): the precision they give (relative 95 % half-width of output
            tok/s per user, mean and p50);
  auto      up to max_requests, stopped by capture/adaptive.py at the config's targets;
  matched   up to max_requests, stopped once each width is at most the fixed run's.
Requests counted are completed measured requests; wall time is aiperf's whole run (start-up,
warm-up, the cancelled in-flight request and export included).

    .venv/bin/python benchmarks/adaptive_requests.py [--max 40] [--out DIR]
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "src"))
from _results import publish  # noqa: E402

from joulebench import config as C  # noqa: E402
from joulebench.backends import make_backend  # noqa: E402
from joulebench.capture import adaptive, pinning  # noqa: E402
from joulebench.capture.aiperf_cmd import aiperf_argv, aiperf_binary  # noqa: E402
from joulebench.capture.model import prepare_model  # noqa: E402
from joulebench.runtime.clients import run_aiperf  # noqa: E402
from joulebench.capture.prompts import build_prompts, write_dataset  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(cfg, cell, model, backend, endpoint, work: Path, requests: int, stopper_for):
    sweep = cfg["sweep"]
    warm = int(sweep["warmup_requests"])
    hf = str(model.hf_home) if model.hf_home else None
    prompts = build_prompts(model.tokenizer_id, hf, cell.ctx, requests + warm, int(sweep["seed"]))
    work.mkdir(parents=True)
    dataset = write_dataset(work / "prompts.jsonl", [(t, cell.gen) for t in prompts])
    argv = aiperf_argv(aiperf_binary(None), endpoint, model.tokenizer_id, dataset,
                       {**sweep, "requests": requests}, work / "aiperf")
    env = dict(os.environ, **adaptive.FLUSH_ENV)
    if model.hf_home:
        env.update(HF_HOME=str(model.hf_home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    stopper = stopper_for(work / "aiperf" / "profile_export.jsonl")
    t = time.monotonic()
    rc = run_aiperf([*pinning.prefix(cfg["pinning"], "client"), *argv], env, work / "aiperf.log", backend,
                    600, on_tick=stopper)
    wall = time.monotonic() - t
    stopper._read_new()  # everything aiperf exported
    n = len(stopper.records)
    return {"rc": rc, "requests": n, "wall_s": wall, "stopped_at": stopper.stopped_at,
            "widths": adaptive.widths(stopper.records[:stopper.stopped_at or n], stopper.precision.level, False)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=40, help="max_requests of the adaptive runs")
    ap.add_argument("--out", help="keep the aiperf runs here")
    ap.add_argument("--no-auto", action="store_true", help="skip the run at the config's targets")
    args = ap.parse_args()
    cfg = C.load(REPO / "config.yaml")
    cfg["backends"]["llamacpp"]["port"] = free_port()
    p = cfg["sweep"]["precision"]
    targets = adaptive.Precision(p["tok_s_rel"], p["decode_tok_per_j_rel"], p["level"], p["min_requests"], args.max)
    never = adaptive.Precision(0.0, 0.0, p["level"], 10**9, 10**9)  # the fixed run: never stops early
    out = Path(args.out or tempfile.mkdtemp(prefix="jb-adaptive-"))
    state = out / "state"
    cells = C.cells(cfg)
    model = prepare_model(cfg, cells[0].model, REPO)
    pin = cfg["pinning"]
    backend = make_backend(cells[0].backend, cfg, state, pinning.server_threads(pin, {}), pinning.prefix(pin, "server"))
    endpoint = backend.ensure(model)
    rows = []
    try:
        for cell in cells:
            tag = f"ctx{cell.ctx}_gen{cell.gen}"
            fixed = one_run(cfg, cell, model, backend, endpoint, out / tag / "fixed", 20,
                            lambda f: adaptive.Stopper(f, never, False))
            matched_p = adaptive.Precision(max(fixed["widths"].values()), 1.0, p["level"], p["min_requests"],
                                           args.max)
            matched = one_run(cfg, cell, model, backend, endpoint, out / tag / "matched", args.max,
                              lambda f: adaptive.Stopper(f, matched_p, False))
            auto = {"requests": 0, "wall_s": 0.0, "widths": {}}
            if not args.no_auto:
                auto = one_run(cfg, cell, model, backend, endpoint, out / tag / "auto", args.max,
                               lambda f: adaptive.Stopper(f, targets, False))
            rows.append({"cell": tag, "fixed": fixed, "auto": auto, "matched": matched})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        backend.stop()
    (out / "adaptive.json").write_text(json.dumps(rows, indent=1))
    publish(report(rows, targets, time.strftime("%Y-%m-%d %H:%M")))


def report(rows: list[dict], targets: adaptive.Precision, when: str) -> str:
    pct = lambda w: " / ".join(f"{100 * v:.1f}" for v in w.values())  # noqa: E731
    with_auto = any(r["auto"]["requests"] for r in rows)
    head = "| cell | fixed 20: wall s, widths % | matched: requests, wall s, widths % |"
    lines = [f"## Adaptive stopping vs 20 fixed requests — {when} on {socket.gethostname()} ({os.cpu_count()} cores)",
             "", "Command: `.venv/bin/python benchmarks/adaptive_requests.py --max "
             f"{targets.max_requests}{'' if with_auto else ' --no-auto'}`. Default sweep, real llama-server + "
             "aiperf 0.13, one server, the same prompts. Widths: relative 95 % half-width of output tok/s per user "
             "(mean / p50). *matched*: stopped by capture/adaptive.py once both widths are at most the larger of "
             f"the fixed run's two (min {targets.min_requests}, max {targets.max_requests} requests). Wall time: "
             "the whole aiperf run (start-up, warm-up, cancel and export included).", ""]
    lines += [head + (" auto (config targets): requests, wall s, widths % |" if with_auto else ""),
              "|---|---|---|" + ("---|" if with_auto else "")]
    for r in rows:
        f, m, a = r["fixed"], r["matched"], r["auto"]
        line = f"| {r['cell']} | {f['wall_s']:.0f}, {pct(f['widths'])} | {m['requests']}, {m['wall_s']:.0f}, {pct(m['widths'])} |"
        lines.append(line + (f" {a['requests']}, {a['wall_s']:.0f}, {pct(a['widths'])} |" if with_auto else ""))
    tot = {k: (sum(r[k]["requests"] for r in rows), sum(r[k]["wall_s"] for r in rows)) for k in ("fixed", "matched")}
    lines += ["", f"Total: fixed {tot['fixed'][0]} requests / {tot['fixed'][1]:.0f} s; matched {tot['matched'][0]} "
              f"requests / {tot['matched'][1]:.0f} s ({tot['fixed'][0] / max(1, tot['matched'][0]):.2f}x fewer)."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
