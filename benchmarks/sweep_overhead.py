"""Sweep overhead: wall time of a real default sweep vs the time spent serving measured requests.

Runs the embedded default sweep (real llama-server, aiperf, gemma3-270m) through the snakemake CLI
twice in fresh working dirs — one aiperf run per cell, then one per (mode, backend, model) block —
with llama-server already built and the tokenizer cached (as on a second run). Prints and appends
to benchmarks/RESULTS.md:
  serving = sum over measured requests of (end - start), from results/requests.parquet
  overhead = 1 - serving / wall      (targets, issue 17: <= 5 % with block capture, <= 10 % with capture.unit: cell)
and where every other second went (_overhead_items.py: Snakemake, each capture step, aiperf's own
phases from its log, the analysis jobs, the figures), with the load average and the CPU seconds of
the run beside the wall time (the machine may be shared).
The floor beside it: the overhead of the required components alone (aiperf's own phases, the
warm-up request, the server's start where nothing hides it, and the same snakemake command run
again with nothing to do), i.e. with every joulebench step, the analysis and the figures at zero.

    .venv/bin/python benchmarks/sweep_overhead.py                       # the default sweep as shipped
    .venv/bin/python benchmarks/sweep_overhead.py --requests 20 --units block   # the seed's 20 per cell
    .venv/bin/python benchmarks/sweep_overhead.py --itemise /tmp/jb-overhead-block-XXXX   # a kept run again
"""
from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _overhead_items import LOCK_WAIT, itemise, snakemake_elapsed  # noqa: E402
from _results import publish, record_target, machine  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(unit: str, requests: int | None = None) -> dict:
    wd = Path(tempfile.mkdtemp(prefix=f"jb-overhead-{unit}-"))
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["backends"]["llamacpp"]["port"] = free_port()
    cfg["capture"] = {"unit": unit}
    if requests:
        cfg["sweep"]["requests"] = requests
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(wd),
           "--configfile", str(wd / "config.yaml"), "--cores", "1"]
    load_before = os.getloadavg()
    cpu0 = _children_cpu()
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode:
        raise SystemExit(f"sweep failed ({unit}):\n{proc.stderr[-3000:]}")
    load_after, cpu = os.getloadavg()[0], _children_cpu() - cpu0
    t0 = time.monotonic()  # the same command again: nothing to do, what any invocation costs
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    return {**measured(wd, wall), "unit": unit, "cpu_s": cpu, "load": (load_before[0], load_after),
            "bare_snakemake_s": time.monotonic() - t0}


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measured(wd: Path, wall: float) -> dict:
    """Serving, overhead, per-step and per-item seconds of one finished sweep folder."""
    req = pd.read_parquet(wd / "results/requests.parquet")
    serving = float(((req["end_ns"] - req["start_ns"]) / 1e9).sum())
    items = itemise(wd, wall, serving)
    # another checkout's capture holding the device is not this sweep's overhead (a shared machine)
    waited = items[LOCK_WAIT]
    return {"wall_s": wall, "serving_s": serving, "overhead": 1 - serving / (wall - waited), "waited_s": waited,
            "cells": int(req.groupby(["ctx", "gen"]).ngroups), "requests": len(req), "items": items, "dir": str(wd)}


# issue 17: the fixed costs of the default sweep next to its serving time
TARGETS = {"block": 0.05, "cell": 0.10}


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, help="requests per cell (default: config.yaml's)")
    ap.add_argument("--units", default="cell,block", help="capture units to run, comma-separated")
    ap.add_argument("--itemise", nargs="+", metavar="DIR",
                    help="only print the itemisation of kept sweep folders (wall = Snakemake's own elapsed time)")
    args = ap.parse_args()
    if args.itemise:
        found = []
        for d in map(Path, args.itemise):
            r = measured(d, snakemake_elapsed(d))
            found.append({**r, "unit": yaml.safe_load((d / "config.yaml").read_text())["capture"]["unit"]})
        print("\n".join(item_table(found)))
        return
    results = [run(u, args.requests) for u in args.units.split(",")]
    per_cell = args.requests or yaml.safe_load((REPO / "config.yaml").read_text())["sweep"]["requests"]
    argv = " ".join(sys.argv[1:])
    lines = [
        f"## Sweep overhead — {time.strftime('%Y-%m-%d %H:%M')} on {machine()}",
        "",
        f"Command: `.venv/bin/python benchmarks/sweep_overhead.py{' ' + argv if argv else ''}` (embedded default "
        f"sweep with {per_cell} requests per cell, real components, llama-server built and tokenizer cached "
        "beforehand; wall = the whole `snakemake --cores 1`, figures included).",
        "",
        "| capture unit | cells | requests | wall s | of which waiting for another checkout's capture s | "
        "serving measured requests s | overhead (wall less that wait) | target | CPU s (all processes) | "
        "load avg before / after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        target = TARGETS[r["unit"]]
        ok = "met" if r["overhead"] <= target else "NOT met"
        lines.append(f"| {r['unit']} | {r['cells']} | {r['requests']} | {r['wall_s']:.1f} | {r['waited_s']:.0f} | "
                     f"{r['serving_s']:.1f} | "
                     f"{100 * r['overhead']:.1f} % | <= {100 * target:.0f} % ({ok}) | {r['cpu_s']:.1f} | "
                     f"{r['load'][0]:.2f} / {r['load'][1]:.2f} |")
    lines += ["", "Where the wall time went (seconds; benchmarks/_overhead_items.py):", "", *item_table(results)]
    lines += floor_lines(results)
    publish("\n".join(lines) + "\n")
    for r in results:
        record_target(f"sweep overhead, capture.unit: {r['unit']}", 100 * r["overhead"], 100 * TARGETS[r["unit"]], "%",
                      note=f"{r['wall_s']:.0f} s wall, {r['serving_s']:.0f} s serving", load=r["load"][0])
        parts, share = floor(r)
        record_target(f"the floor under it: the required components alone (capture.unit: {r['unit']})",
                      100 * share, 0, "%", note=", ".join(f"{k} {v:.1f} s" for k, v in parts.items()),
                      load=r["load"][0])
        runs = r["cells"] if r["unit"] == "cell" else 1  # aiperf runs of this one-block sweep
        record_target(f"{WARMUP_PER_RUN} (capture.unit: {r['unit']})", r["items"].get(WARMUP, 0.0) / runs, 0, "s",
                      note="one request of the cell's own shape per aiperf run: it scales with the request time")
        if r["unit"] == "block":
            block_s, cell_s = fixed_costs(r["items"], r["cells"])
            record_target("fixed seconds per block (block capture)", block_s, 0, "s",
                          note="capture job, steps and aiperf's own phases of the default sweep's one block")
            record_target("fixed seconds per further cell of a block", cell_s, 0, "s",
                          note="the capture jobs adopting a cell measured in its block, per cell")
        else:  # one aiperf run per cell: how adaptive stopping (`sweep.requests: auto`) captures
            runs_s, _ = fixed_costs(r["items"], r["cells"])
            record_target(CELL_UNIT_FIXED, runs_s / r["cells"], 0, "s",
                          note="capture job, steps and aiperf's own phases per cell with one aiperf run each "
                               "(the server's one start spread over the cells)")


WARMUP = "aiperf: warm-up requests"
WARMUP_PER_RUN = "warm-up seconds per aiperf run"
# adaptive stopping captures cell by cell (capture/block.splits_into_cells): its projection's fixed cost
CELL_UNIT_FIXED = "fixed seconds per cell (capture.unit: cell, as adaptive stopping captures)"
ONCE_PER_SWEEP = ("analysis:", "figures", "snakemake:")
ADOPTING = "capture jobs adopting a cell measured in its block"


# the fixed seconds no joulebench step can remove: aiperf's own phases (its process, services,
# tokenizer, configuring, end of phase, export and exit), the warm-up request(s) the method sends,
# the server's start where nothing hides it, and a Snakemake invocation with nothing to do
REQUIRED = {
    "aiperf's own phases": ("aiperf: interpreter and imports", "aiperf: services start", "aiperf: tokenizer load",
                            "aiperf: dataset and configuring", "aiperf: configured -> first request",
                            "aiperf: profiling phase beyond the measured requests", "aiperf: results, export, exit"),
    "warm-up request(s)": (WARMUP,),
    "the server's start (not hidden)": ("capture step: server_ready",),
}


def floor(r: dict) -> tuple[dict[str, float], float]:
    """(seconds per required component, the overhead they alone give): the lowest overhead this
    sweep could have with every joulebench step at zero seconds."""
    parts = {name: sum(r["items"].get(k, 0.0) for k in keys) for name, keys in REQUIRED.items()}
    parts["a Snakemake run with nothing to do"] = r["bare_snakemake_s"]
    fixed = sum(parts.values())
    return parts, fixed / (r["serving_s"] + fixed)


def floor_lines(results: list[dict]) -> list[str]:
    lines = ["", "The floor: the overhead of the required components alone (every joulebench step, the analysis "
             "and the figures at zero):", "",
             "| capture unit | " + " | ".join(REQUIRED) + " | a Snakemake run with nothing to do | sum s | "
             "overhead | target |", "|---|" + "---|" * (len(REQUIRED) + 4)]
    for r in results:
        parts, share = floor(r)
        target = TARGETS[r["unit"]]
        lines.append(f"| {r['unit']} | " + " | ".join(f"{v:.1f}" for v in parts.values())
                     + f" | {sum(parts.values()):.1f} | {100 * share:.1f} % | <= {100 * target:.0f} % "
                     + f"({'below' if share <= target else 'ABOVE'} the target: "
                     + f"{100 * (target - share):+.1f} points left for everything else) |")
    return lines


def fixed_costs(items: dict[str, float], cells: int) -> tuple[float, float]:
    """(seconds per block, seconds per further cell of a block) of a one-block default sweep: the
    capture's fixed items, and the adopting jobs spread over the block's other cells; the analysis,
    the figures, Snakemake's start and any lock wait are once per sweep, not per block."""
    per_block = sum(v for k, v in items.items()
                    if not k.startswith(ONCE_PER_SWEEP) and k != ADOPTING and "waiting" not in k.lower()
                    and "lock" not in k.lower())
    return per_block, items.get(ADOPTING, 0.0) / max(cells - 1, 1)


def item_table(results: list[dict]) -> list[str]:
    """Serving, then every fixed cost, per capture unit; the rows add up to the wall time."""
    keys = list(dict.fromkeys(k for r in results for k in r["items"]))
    lines = ["| item | " + " | ".join(r["unit"] for r in results) + " |", "|---|" + "---|" * len(results),
             "| serving the measured requests | " + " | ".join(f"{r['serving_s']:.1f}" for r in results) + " |"]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(f"{r['items'].get(k, 0.0):.1f}" for r in results) + " |")
    lines.append("| **overhead (all but serving, less the lock wait)** | "
                 + " | ".join(f"{r['wall_s'] - r['serving_s'] - r['waited_s']:.1f}" for r in results) + " |")
    lines.append("| **wall** | " + " | ".join(f"{r['wall_s']:.1f}" for r in results) + " |")
    lines.append("| **overhead % (of the wall less the lock wait)** | "
                 + " | ".join(f"{100 * r['overhead']:.1f} %" for r in results) + " |")
    return lines


if __name__ == "__main__":
    main()
