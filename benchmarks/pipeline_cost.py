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
from sweep_overhead import CELL_UNIT_FIXED, WARMUP_PER_RUN  # noqa: E402

STEPS = {  # name -> the script and its arguments
    "analysis": ["analysis_scale.py"],
    "sweep": ["sweep_overhead.py"],
    "adaptive": ["adaptive_requests.py"],
}
# The seed's full sweep (768 cells x 20 requests, Jetson Orin Nano Super), as issue 17 quotes it
# from the seed's report: the reference the projection is compared with, not a result of ours.
SEED_SWEEP_H, SEED_SERVING_H = 58.4, 53.5
SEED_BLOCKS, SEED_CELLS = 64, 768
# the seed's mean request (its serving time over 768 cells x 20 requests): what one warm-up costs there
SEED_REQUEST_S = SEED_SERVING_H * 3600 / (SEED_CELLS * 20)


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
    request-time ratio of adaptive stopping, plus the fixed costs that the default sweep's
    itemisation measured for the way each design captures. Adaptive stopping runs one aiperf per
    cell (capture/block.splits_into_cells), so its fixed cost is the cell unit's per cell; 20 fixed
    requests use block capture (per block, and per further cell of a block). Each aiperf run's
    warm-up is one request of its first cell's shape, so it is counted at the seed's mean request
    time, not at the default sweep's short one."""
    by = {r["what"]: r for r in rows}
    ratio = by.get("request time to the seed's precision, adaptive / 20 fixed")
    block = by.get("fixed seconds per block (block capture)")
    cell = by.get("fixed seconds per further cell of a block")
    per_cell = by.get(CELL_UNIT_FIXED)
    warm = {u: by.get(f"{WARMUP_PER_RUN} (capture.unit: {u})") for u in ("block", "cell")}
    lines = []
    if block and cell and warm["block"]:
        runs_s = (block["measured"] - warm["block"]["measured"] + SEED_REQUEST_S) * SEED_BLOCKS
        fixed_h = (runs_s + cell["measured"] * (SEED_CELLS - SEED_BLOCKS)) / 3600
        lines.append(f"Seed-scale sweep, 20 fixed requests per cell with block capture, **projected**: serving "
                     f"{SEED_SERVING_H} h + fixed costs {fixed_h:.2f} h ({SEED_BLOCKS} aiperf runs, each with a warm-up "
                     f"request of the seed's mean {SEED_REQUEST_S:.1f} s; {SEED_CELLS} cells) = "
                     f"{SEED_SERVING_H + fixed_h:.1f} h, {(SEED_SERVING_H + fixed_h) / SEED_SWEEP_H:.2f}x the seed's "
                     f"{SEED_SWEEP_H} h ({SEED_SWEEP_H - SEED_SERVING_H:.1f} h of which were its overhead).")
    if ratio is None:
        return lines + ["No projection at the seed's precision: the adaptive-stopping run was skipped."]
    serving_h = SEED_SERVING_H * ratio["measured"]
    if per_cell is None or warm["cell"] is None:
        return lines + [f"No projection at the seed's precision: serving {SEED_SERVING_H} h x {ratio['measured']:.3f} = "
                        f"{serving_h:.1f} h, but the fixed cost per cell of one aiperf run per cell (how adaptive "
                        "stopping captures) was not measured in this run (sweep_overhead.py --units cell)."]
    cell_s = per_cell["measured"] - warm["cell"]["measured"] + SEED_REQUEST_S
    fixed_h = cell_s * SEED_CELLS / 3600
    total = serving_h + fixed_h
    verdict = "met" if total / SEED_SWEEP_H <= 0.5 else "NOT met"
    return lines + [(f"Seed-scale sweep at the seed's precision with adaptive stopping, **projected** (no Jetson here): "
                     f"serving {SEED_SERVING_H} h x {ratio['measured']:.3f} = {serving_h:.1f} h, fixed costs "
                     f"{cell_s:.1f} s x {SEED_CELLS} cells (one aiperf run each: {per_cell['measured'] - warm['cell']['measured']:.1f} s "
                     f"measured here + a warm-up request of the seed's mean {SEED_REQUEST_S:.1f} s) = {fixed_h:.2f} h; "
                     f"**{total:.1f} h, {total / SEED_SWEEP_H:.2f}x the seed's {SEED_SWEEP_H} h** "
                     f"(target <= 0.5x: {verdict}).")]


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
