"""Figures after one re-measured cell at seed scale: each chart's PNG rendered only where the chart
changed (plots/reuse.py, KeptFigures), against a full draw of the same summary.

On the GENERATED 768-cell tree of analysis_scale.py (real rules, real plot job through the
snakemake CLI, --cores 2):
  1. the analysis and `snakemake figures`: the first draw, every chart rendered and keyed;
  2. one cell re-measured (new raw files), `snakemake figures` again: the analysis re-runs its pair,
     the plot job builds every chart and renders only those whose figure_key changed;
  3. the same summary drawn from scratch (the kept set and figures removed), as before this change,
     with --cores 2 (charts spread over two processes) and with --cores 1 (one, the profile's);
  4. the cost of keying: the first draw of step 1's summary in a fresh process with a place to keep
     the set (charts keyed) and without one (joulebench's API: nothing keyed), plot job only.
Every PNG of step 2 is compared with step 3's, byte for byte. Printed and appended to RESULTS.md.

    .venv/bin/python benchmarks/figure_reuse.py [--keep DIR] [--no-publish]
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, publish  # noqa: E402
from analysis_scale import REPO, generate, remeasure, snakemake, tree_and_args  # noqa: E402

from joulebench import config as C  # noqa: E402

DRAWN = re.compile(r"(\d+) charts drawn, (\d+) unchanged")
ONE_DRAW = """
import sys, time, yaml
sys.path.insert(0, {src!r})
from joulebench.plots import render_all
cfg = yaml.safe_load(open({cfg!r}))
t = time.monotonic()
render_all({summary!r}, {requests!r}, {out!r}, cfg, keep_in={keep!r})
print(time.monotonic() - t)
"""


def plot_log_counts(wd: Path) -> tuple[int, int] | None:
    found = DRAWN.findall((wd / "results/logs/plot.log").read_text())
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def draw_once(wd: Path, out: Path, keep: Path | None) -> float:
    """The plot job's own seconds (render_all) in a fresh process."""
    code = ONE_DRAW.format(src=str(REPO / "src"), cfg=str(wd / "config.yaml"),
                           summary=str(wd / "results/summary.parquet"), requests=str(wd / "results/requests.parquet"),
                           out=str(out), keep=str(keep) if keep else None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    wd, args = tree_and_args("jb-figreuse-")
    started = time.strftime("%Y-%m-%d %H:%M")
    generate(wd)
    snakemake(wd, "--cores", "2", "results/summary.parquet")
    first = snakemake(wd, "--cores", "2", "figures")
    cfg = C.load(REPO / "config/jetson-orin-nano-super.yaml")
    cells = C.cells(cfg)
    one = C.Cell("15W", "llamacpp", "Qwen2.5-0.5B", 512, 128)
    remeasure(wd, cfg, one, cells.index(one))
    snakemake(wd, "--cores", "2", "results/summary.parquet")  # the analysis alone, not timed here
    incremental = snakemake(wd, "--cores", "2", "figures")
    counts = plot_log_counts(wd)
    kept_set = wd / "figures-incremental"
    shutil.copytree(wd / "results/figures", kept_set)
    shutil.rmtree(wd / "results/.run/figures")
    shutil.rmtree(wd / "results/figures")
    fresh = snakemake(wd, "--cores", "2", "figures")
    pngs = sorted(p.name for p in (wd / "results/figures").glob("*.png"))
    differ = [p for p in pngs if (kept_set / p).read_bytes() != (wd / "results/figures" / p).read_bytes()]
    two_procs = wd / "figures-two-processes"
    shutil.copytree(wd / "results/figures", two_procs)
    shutil.rmtree(wd / "results/.run/figures")
    shutil.rmtree(wd / "results/figures")
    serial = snakemake(wd, "--cores", "1", "figures")
    differ += [f"{p} (one process)" for p in pngs
               if (two_procs / p).read_bytes() != (wd / "results/figures" / p).read_bytes()]
    keyed = draw_once(wd, wd / "draw-keyed", wd / "keep-empty")
    plain = draw_once(wd, wd / "draw-plain", None)
    load = np.mean([first[2], incremental[2], fresh[2], serial[2]])
    drawn, copied = counts if counts else (float("nan"), float("nan"))
    lines = [f"## Figures after one re-measured cell, seed scale — {started} on {machine()}", "",
             "Command: `.venv/bin/python benchmarks/figure_reuse.py` (GENERATED 768-cell tree of analysis_scale.py; "
             "`snakemake --cores 2 figures` through the CLI, wall seconds of the whole command; 1-min load average "
             f"before the steps {load:.1f}). A chart's PNG is rendered only where the chart as built differs from the "
             "kept one (plots/reuse.py).", "",
             "| step | wall s | ratio |", "|---|---|---|",
             f"| first `snakemake figures` (every chart rendered and keyed) | {first[0]:.1f} | — |",
             f"| one cell re-measured, `snakemake figures` again: {drawn} charts rendered, {copied} copied | "
             f"{incremental[0]:.1f} | {incremental[0] / fresh[0]:.2f} of the full draw |",
             f"| the same summary drawn in full (kept set removed: what the plot job did before) | {fresh[0]:.1f} | 1 |",
             f"| the same, `--cores 1` (the charts in one process) | {serial[0]:.1f} | {serial[0] / fresh[0]:.2f} |",
             f"| plot job alone (render_all), first draw with charts keyed | {keyed:.1f} | {keyed / plain:.2f} |",
             f"| plot job alone, first draw without keys (joulebench's API) | {plain:.1f} | 1 |", "",
             f"PNGs of the incremental draw or the one-process draw that differ from the full draw's: {len(differ)}"
             f" of {len(pngs)}"
             + (f" ({', '.join(differ[:5])})" if differ else " (byte for byte the same)") + "."]
    text = "\n".join(lines) + "\n"
    if args.no_publish:
        print(text)
    else:
        publish(text)
    if differ:
        raise SystemExit("reused PNGs differ from a full draw")


if __name__ == "__main__":
    main()
