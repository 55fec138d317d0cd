"""Per-trial rows -> one row per sweep point: trials pooled, 95 % intervals, the precision gate.

A column is pooled the way aiperf's multi-run report pools a statistic (the mean of the trial
values), except: counts of requests / samples are summed, `*_min` / `*_max` are the extremes over
trials, flags are all (resolved) or any (throttled, cancelled), text is the distinct values. Every
tok/s and tok/J figure gets `<figure>_ci95_lo` / `_ci95_hi` (metrics/intervals.py) and its pooled
within-trial `<figure>_rel_unc`. A tok/J whose interval is wider than `energy.max_rel_ci`
(relative half-width) is unresolved: NaN, `<phase>_resolved` False, the reason in `energy_reason`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..config import Cell
from . import intervals
from .cell_table import TOK_S_FIGURES

TOK_J_FIGURES = ("prefill_tok_per_j", "decode_tok_per_j", "total_tok_per_j")
INTERVAL_FIGURES = (*TOK_S_FIGURES, *TOK_J_FIGURES)
SUMMED = ("n_requests", "n_errors", "energy_samples", "energy_rejected_lines", "idle_baseline_samples")
ANY_FLAGS = ("throttled", "aiperf_cancelled")
FIRST = ("captured_at", "capture_start_ns")
# figures derived from a gated tok/J: unresolved with it
DERIVED_FROM = {"decode_tok_per_j": ("mj_per_output_token",)}


def _distinct_text(values: pd.Series):
    seen = list(dict.fromkeys(v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))))
    if not seen:
        return None
    return seen[0] if len(seen) == 1 else "; ".join(map(str, seen))


def _pool_column(name: str, values: pd.Series):
    if len(values) == 1:
        return values.iloc[0]
    if name in FIRST:
        return values.iloc[0]
    known = values.dropna()
    if known.empty:
        return values.iloc[0]
    if pd.api.types.is_bool_dtype(values) or known.map(lambda v: isinstance(v, (bool, np.bool_))).all():
        return bool(known.any()) if name in ANY_FLAGS else bool(known.all())
    if pd.api.types.is_numeric_dtype(values):
        v = pd.to_numeric(values, errors="coerce").astype("float64")
        if name in SUMMED:
            return float(v.sum(min_count=1))
        if name.endswith("_min"):
            return float(v.min())
        if name.endswith("_max"):
            return float(v.max())
        return float(v.mean())
    return _distinct_text(values)


def _requests_for_dof(group: pd.DataFrame, figure: str) -> pd.Series:
    n = pd.to_numeric(group.get("n_requests", pd.Series(np.nan, index=group.index)), errors="coerce")
    if figure in TOK_J_FIGURES and "energy_coverage" in group:  # tok/J pools the covered requests
        n = n * pd.to_numeric(group["energy_coverage"], errors="coerce")
    return n


def pool_group(group: pd.DataFrame, max_rel_ci: float) -> dict:
    """One pooled row from the per-trial rows of one sweep point (or of one trial)."""
    row = {name: _pool_column(name, group[name]) for name in group.columns if name != "trial"}
    row["n_trials"] = int(len(group))
    reasons = []
    for figure in INTERVAL_FIGURES:
        if figure not in group:
            continue
        rel_col = f"{figure}_rel_unc"
        rel = group[rel_col] if rel_col in group else pd.Series(np.nan, index=group.index)
        res = intervals.pooled(pd.to_numeric(group[figure], errors="coerce"), pd.to_numeric(rel, errors="coerce"),
                               _requests_for_dof(group, figure))
        row[figure], row[rel_col] = res["value"], res["rel_sigma"]
        row[f"{figure}_ci95_lo"], row[f"{figure}_ci95_hi"] = res["lo"], res["hi"]
        if figure in TOK_J_FIGURES and math.isfinite(res["value"]):
            width = intervals.rel_half_width(res["lo"], res["hi"], res["value"])
            if not width <= max_rel_ci:  # NaN width (no interval) is not resolved either
                phase = figure.split("_", 1)[0]
                shown = f"+-{width:.1%}" if math.isfinite(width) else "unknown"
                reasons.append(f"{phase}: 95 % interval {shown} wider than energy.max_rel_ci "
                               f"{max_rel_ci:.0%} ({res['basis']}, {res['n_trials']} trial(s))")
                row[figure] = math.nan
                for derived in DERIVED_FROM.get(figure, ()):
                    if derived in row:
                        row[derived] = math.nan
                if f"{phase}_resolved" in row:
                    row[f"{phase}_resolved"] = False
    if reasons:
        row["energy_reason"] = "; ".join(filter(None, [row.get("energy_reason"), *reasons]))
    return row


def pool(per_trial: pd.DataFrame, by: tuple[str, ...], max_rel_ci: float) -> pd.DataFrame:
    """One row per distinct `by` (Cell.KEY: the summary; Cell.ROW: one row per trial)."""
    if per_trial.empty:
        return per_trial
    rows = []
    for _, group in per_trial.groupby(list(by), sort=True):
        row = pool_group(group, max_rel_ci)
        if "trial" in by:
            row["trial"] = int(group["trial"].iloc[0])
        rows.append(row)
    out = pd.DataFrame(rows)
    if "trial" in by:
        out.insert(len(Cell.KEY), "trial", out.pop("trial"))
    return out
