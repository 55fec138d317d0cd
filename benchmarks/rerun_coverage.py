"""Re-run coverage: the same config captured twice (two result trees); for every cell and every
tok/s and tok/J figure, does run A's interval contain run B's value (and B's contain A's)?

Two intervals are checked: the re-run interval (`<figure>_rerun95_lo/hi`, metrics/intervals.py:
where a repeat of the cell lands, the one the goal is about) and the 95 % confidence interval of
the mean (`_ci95_`), which brackets the true mean and so holds a repeat's value only ~83 % of the
time even when exact. Summaries from before the re-run columns get them from `_ci95_` the same way.

    python benchmarks/rerun_coverage.py RUN_A/results/summary.parquet RUN_B/results/summary.parquet

Prints a per-figure table (cells compared, coverage both ways, median and largest |B/A - 1|,
median relative half-width) and the per-cell rows as Markdown. The goal (calibrated-measurement
issue): >= 90 % of cells covered per figure.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from joulebench.config import Cell  # noqa: E402
from joulebench.metrics.intervals import RERUN_FACTOR  # noqa: E402

KEY = list(Cell.KEY)  # a pooled summary row per cell: the key without `trial`


def figures(summary: pd.DataFrame) -> list[str]:
    return [c[: -len("_ci95_lo")] for c in summary.columns
            if c.endswith("_ci95_lo") and f"{c[:-len('_ci95_lo')]}_ci95_hi" in summary.columns
            and c[: -len("_ci95_lo")] in summary.columns]


def bounds(summary: pd.DataFrame, fig: str, interval: str) -> tuple[pd.Series, pd.Series]:
    """(lo, hi) of one figure's interval: `ci95` or `rerun95` (derived from ci95 where absent)."""
    if f"{fig}_{interval}_lo" in summary:
        return summary[f"{fig}_{interval}_lo"].astype(float), summary[f"{fig}_{interval}_hi"].astype(float)
    lo, hi = summary[f"{fig}_ci95_lo"].astype(float), summary[f"{fig}_ci95_hi"].astype(float)
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    return centre - RERUN_FACTOR * half, centre + RERUN_FACTOR * half


def compare(a: pd.DataFrame, b: pd.DataFrame, interval: str = "rerun95") -> tuple[pd.DataFrame, pd.DataFrame]:
    key = [k for k in KEY if k in a.columns and k in b.columns]
    rows, cells = [], []
    for fig in figures(a):
        if fig not in b:
            continue
        ia, ib = bounds(a, fig, interval), bounds(b, fig, interval)
        both = a[key + [fig]].assign(_lo=ia[0], _hi=ia[1]).merge(
            b[key + [fig]].assign(_lo=ib[0], _hi=ib[1]), on=key, suffixes=("_a", "_b"))
        va, vb = both[f"{fig}_a"].astype(float), both[f"{fig}_b"].astype(float)
        lo_a, hi_a, lo_b, hi_b = both["_lo_a"], both["_hi_a"], both["_lo_b"], both["_hi_b"]
        ok = va.notna() & vb.notna() & lo_a.notna() & lo_b.notna()
        if not ok.any():
            continue
        a_has_b = (vb >= lo_a) & (vb <= hi_a)
        b_has_a = (va >= lo_b) & (va <= hi_b)
        move = (vb / va - 1)[ok]
        half = ((hi_a - lo_a) / 2 / va.abs())[ok]
        rows.append({"figure": fig, "cells": int(ok.sum()),
                     "A contains B": f"{int(a_has_b[ok].sum())}/{int(ok.sum())}",
                     "B contains A": f"{int(b_has_a[ok].sum())}/{int(ok.sum())}",
                     "coverage": float((a_has_b[ok].mean() + b_has_a[ok].mean()) / 2),
                     "median |B/A-1| %": float(np.median(move.abs()) * 100),
                     "max |B/A-1| %": float(move.abs().max() * 100),
                     "median half-width %": float(np.median(half) * 100)})
        for i in np.flatnonzero(ok.to_numpy()):
            cells.append({**{k: both[k].iloc[i] for k in key}, "figure": fig, "A": va.iloc[i], "B": vb.iloc[i],
                          "A lo": lo_a.iloc[i], "A hi": hi_a.iloc[i], "B/A-1 %": (vb.iloc[i] / va.iloc[i] - 1) * 100,
                          "A contains B": bool(a_has_b.iloc[i]), "B contains A": bool(b_has_a.iloc[i])})
    return pd.DataFrame(rows), pd.DataFrame(cells)


GOAL = 0.90


def overall(cells: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """(covered, checked) one-way checks both ways, pooled over the tok/s and over the tok/J figures."""
    out = {}
    for kind, pick in (("tok/s", ~cells["figure"].str.endswith("_tok_per_j")),
                       ("tok/J", cells["figure"].str.endswith("_tok_per_j"))):
        sub = cells[pick]
        out[kind] = (int(sub["A contains B"].sum() + sub["B contains A"].sum()), 2 * len(sub))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--cells", action="store_true", help="also print every cell")
    args = ap.parse_args(argv)
    a, b = pd.read_parquet(args.a), pd.read_parquet(args.b)
    for interval, title in (("rerun95", "re-run interval (rerun95: where a repeat lands, the goal)"),
                            ("ci95", "95 % confidence interval of the mean (ci95: ~83 % expected even when exact)")):
        table, cells = compare(a, b, interval)
        if table.empty:
            print("no figure with intervals in both summaries", file=sys.stderr)
            return 1
        print(f"### {title}\n")
        print(table.to_markdown(index=False, floatfmt=".3g"))
        print()
        for kind, (hit, n) in overall(cells).items():
            if n:
                verdict = f"goal >= {GOAL:.0%}: {'met' if hit / n >= GOAL else 'NOT met'}" if interval == "rerun95" else "no goal"
                print(f"{kind}: {hit}/{n} one-way checks covered ({hit / n:.1%}; {verdict})")
        print()
        if args.cells and interval == "rerun95":
            print(cells.to_markdown(index=False, floatfmt=".4g"))
            print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
