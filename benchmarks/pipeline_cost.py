"""Issue 17's pipeline-cost targets side by side, from one run on this machine.

Runs, one after the other, the benchmarks that measure them (each also appends its own detailed
section to RESULTS.md):
  analysis_scale.py      seed-scale analysis, one re-measured cell, dry runs
  sweep_overhead.py      the default sweep's overhead, block and cell capture
  adaptive_requests.py   requests and request time to the seed's precision (20 fixed requests)
then appends one table: every figure, its target, the ratio and met / NOT met, with machine, date and
the load average beside each, and the seed-scale sweep time projected from the measured ratios.

    .venv/bin/python benchmarks/pipeline_cost.py [--skip adaptive] [--skip sweep]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import TARGETS_ENV, publish, read_targets, machine  # noqa: E402

STEPS = {  # name -> the script and its arguments
    "analysis": ["analysis_scale.py"],
    "sweep": ["sweep_overhead.py"],
    "adaptive": ["adaptive_requests.py"],
}
# The seed's full sweep (768 cells x 20 requests, Jetson Orin Nano Super), as issue 17 quotes it
# from the seed's report: the reference the projection is compared with, not a result of ours.
SEED_SWEEP_H, SEED_SERVING_H = 58.4, 53.5
SEED_BLOCKS, SEED_CELLS = 64, 768


def run_steps(names: list[str], out: Path) -> dict[str, float]:
    seconds = {}
    for name in names:
        t = time.monotonic()
        print(f"pipeline_cost: {name} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, str(HERE / STEPS[name][0]), *STEPS[name][1:]], check=True,
                       env={**os.environ, TARGETS_ENV: str(out)})
        seconds[name] = time.monotonic() - t
    return seconds


def projection(rows: list[dict]) -> list[str]:
    """The seed's sweep at its own precision, ours projected: serving scaled by the measured
    request-time ratio of adaptive stopping, plus the fixed costs per block and per cell that the
    default sweep's itemisation measured."""
    by = {r["what"]: r for r in rows}
    ratio = by.get("request time to the seed's precision, adaptive / 20 fixed")
    block = by.get("fixed seconds per block (block capture)")
    cell = by.get("fixed seconds per further cell of a block")
    if ratio is None:
        return ["No projection: the adaptive-stopping run was skipped."]
    serving_h = SEED_SERVING_H * ratio["measured"]
    fixed_h = ((block["measured"] * SEED_BLOCKS if block else 0.0)
               + (cell["measured"] * (SEED_CELLS - SEED_BLOCKS) if cell else 0.0)) / 3600
    total = serving_h + fixed_h
    missing = [n for n, r in (("per block", block), ("per cell", cell)) if r is None]
    if missing:
        verdict = f"incomplete: the fixed costs {' and '.join(missing)} were not measured in this run"
    else:
        verdict = "met" if total / SEED_SWEEP_H <= 0.5 else "NOT met"
    return [(f"Seed-scale sweep at the seed's precision, **projected** (no Jetson here): serving {SEED_SERVING_H} h x "
            f"{ratio['measured']:.3f} = {serving_h:.1f} h, fixed costs {fixed_h:.2f} h "
            f"({SEED_BLOCKS} blocks, {SEED_CELLS} cells) = **{total:.1f} h, {total / SEED_SWEEP_H:.2f}x the seed's "
            f"{SEED_SWEEP_H} h** (target <= 0.5x: {verdict}).")]


def table(rows: list[dict], seconds: dict[str, float], started: str) -> str:
    lines = [f"## Pipeline cost, every target side by side (issue 17) — {started} on {machine()}", "",
             "Command: `.venv/bin/python benchmarks/pipeline_cost.py` (one run: "
             + ", ".join(f"{n} {s / 60:.1f} min" for n, s in seconds.items())
             + "; each step's own section is above). Load = 1-min load average when the figure was taken.", "",
             "| figure | measured | target | ratio to target | status | load | note |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["target"] > 0:
            ratio = r["measured"] / r["target"]
            status = "met" if ratio <= 1 else "NOT met"
            lines.append(f"| {r['what']} | {r['measured']:.3g} {r['unit']} | <= {r['target']:g} {r['unit']} "
                         f"| {ratio:.2f} | {status} | {r['load_1min']:.1f} | {r.get('note', '')} |")
        else:
            lines.append(f"| {r['what']} | {r['measured']:.3g} {r['unit']} | — | — | — | {r['load_1min']:.1f} "
                         f"| {r.get('note', '')} |")
    return "\n".join(lines + [""] + projection(rows) + [""])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip", action="append", default=[], choices=sorted(STEPS))
    args = ap.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M")
    out = Path(tempfile.mkdtemp(prefix="jb-cost-")) / "targets.jsonl"
    seconds = run_steps([n for n in STEPS if n not in args.skip], out)
    publish(table(read_targets(out), seconds, started))


if __name__ == "__main__":
    main()
