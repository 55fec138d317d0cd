"""Per-trial rows -> one row per sweep point: trials pooled, 95 % intervals, the precision gate.

A column is pooled the way aiperf's multi-run report pools a statistic (the mean of the trial
values), except: counts of requests / samples are summed, `*_min` / `*_max` are the extremes over
trials, flags are all (resolved) or any (throttled, cancelled), text is the distinct values. Every
tok/s and tok/J figure gets `<figure>_ci95_lo` / `_ci95_hi`, the re-run interval
`<figure>_rerun95_lo` / `_rerun95_hi` (metrics/intervals.py) and its pooled
within-trial `<figure>_rel_unc`. A tok/J whose interval is wider than `energy.max_rel_ci`
(relative half-width) is unresolved: NaN, `<phase>_resolved` False, the reason in `energy_reason`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import intervals
from .cell_table import TOK_S_FIGURES

TOK_J_FIGURES = ("prefill_tok_per_j", "decode_tok_per_j", "total_tok_per_j", "steady_tok_per_j")
# the column a gated figure's reason goes to (energy_reason unless named: the steady window keeps its own)
REASON_COLUMN = {"steady_tok_per_j": "steady_reason"}
INTERVAL_FIGURES = (*TOK_S_FIGURES, *TOK_J_FIGURES)
SUMMED = ("n_requests", "n_errors", "n_good", "queue_delay_n", "energy_samples", "energy_rejected_lines", "idle_baseline_samples")
ANY_FLAGS = ("throttled", "aiperf_cancelled")
FIRST = ("captured_at", "capture_start_ns")
# figures derived from a gated tok/J: unresolved with it
DERIVED_FROM = {"decode_tok_per_j": ("mj_per_output_token",)}


def _distinct_text(values: pd.Series):
    seen = list(dict.fromkeys(v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))))
    if not seen:
        return None
    return seen[0] if len(seen) == 1 else "; ".join(map(str, seen))


def _is_flag(values: pd.Series) -> bool:
    known = values.dropna()
    return pd.api.types.is_bool_dtype(values) or (
        not known.empty and known.map(lambda v: isinstance(v, (bool, np.bool_))).all())


def _pool_columns(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Every column of groups of several trials, pooled by its rule (module docstring)."""
    g = rows.groupby(by, sort=True)
    out = {}
    for name in rows.columns:
        if name in by or name == "trial":
            continue
        col = rows[name]
        if name in FIRST:
            out[name] = g[name].first()
        elif _is_flag(col):
            as_num = pd.to_numeric(col.map(lambda v: np.nan if pd.isna(v) else float(bool(v))))
            pooled = as_num.groupby([rows[c] for c in by], sort=True)
            agg = pooled.max() if name in ANY_FLAGS else pooled.min()
            out[name] = agg.map(lambda v: pd.NA if pd.isna(v) else bool(v))
        elif pd.api.types.is_numeric_dtype(col):
            num = g[name]
            out[name] = (num.sum(min_count=1) if name in SUMMED else num.min() if name.endswith("_min")
                         else num.max() if name.endswith("_max") else num.mean())
        else:
            text = g[name].first()  # a value all trials share: most provenance columns
            mixed = g[name].nunique(dropna=True) > 1
            if mixed.any():
                text = text.astype(object)
                text[mixed] = g[name].agg(_distinct_text)[mixed]
            out[name] = text
    return pd.DataFrame(out)


def pool(per_trial: pd.DataFrame, by: tuple[str, ...], max_rel_ci: float) -> pd.DataFrame:
    """One row per distinct `by` (Cell.KEY: the summary; Cell.ROW: one row per trial).

    A group of one trial keeps its row as it is (types included); groups of several are pooled.
    Then every figure gets its interval and every tok/J the max_rel_ci gate."""
    if per_trial.empty:
        return per_trial
    by = list(by)
    rows = per_trial.drop(columns=["n_trials"], errors="ignore").sort_values(by, kind="stable").reset_index(drop=True)
    key = pd.Series(list(zip(*(rows[c] for c in by))), index=rows.index)
    size = key.map(key.value_counts())
    single = rows[size == 1].drop(columns=[] if "trial" in by else ["trial"], errors="ignore")
    parts = [single.set_index(by)]
    if (size > 1).any():
        parts.append(_pool_columns(rows[size > 1], by))
    out = pd.concat(parts).sort_index()
    flat = out.index.to_flat_index()  # the pooled rows' keys, as `key` holds them
    out.insert(len(out.columns), "n_trials", key.value_counts().reindex(flat).to_numpy())
    columns = {}
    for figure in INTERVAL_FIGURES:
        if figure in rows:
            columns.update(_interval_columns(flat, rows, key, figure))
    # replaced in place or appended in one step: one insert per column fragments the frame (pandas
    # then warns into the user's terminal at every aggregate)
    new = [c for c in columns if c not in out]
    for c in columns:
        if c in out:
            out[c] = columns[c]
    out = pd.concat([out, pd.DataFrame({c: columns[c] for c in new}, index=out.index)], axis=1)
    resolved_trials = {c: pd.to_numeric(rows[c], errors="coerce").groupby(key).sum().reindex(flat)
                       for c in rows.columns if c.endswith("_resolved")}
    _gate(out, max_rel_ci, resolved_trials)
    return out.reset_index()


def _interval_columns(index, rows: pd.DataFrame, key: pd.Series, figure: str) -> dict[str, np.ndarray]:
    """The pooled figure, its relative uncertainty, 95 % interval, re-run interval and basis, per
    row of `index` (the pooled rows' keys)."""
    rel_col = f"{figure}_rel_unc"
    rel = rows[rel_col] if rel_col in rows else pd.Series(np.nan, index=rows.index)
    n = pd.to_numeric(rows.get("n_requests", pd.Series(np.nan, index=rows.index)), errors="coerce")
    if figure in TOK_J_FIGURES and "energy_coverage" in rows:  # tok/J pools the covered requests
        n = n * pd.to_numeric(rows["energy_coverage"], errors="coerce")
    res = intervals.pooled_groups(key, pd.to_numeric(rows[figure], errors="coerce"),
                                  pd.to_numeric(rel, errors="coerce"), n).reindex(index)
    return {figure: res["value"].to_numpy(), rel_col: res["rel_sigma"].to_numpy(),
            f"{figure}_ci95_lo": res["lo"].to_numpy(), f"{figure}_ci95_hi": res["hi"].to_numpy(),
            # where a repeat of the cell lands (95 %)
            f"{figure}_rerun95_lo": res["rerun_lo"].to_numpy(), f"{figure}_rerun95_hi": res["rerun_hi"].to_numpy(),
            f"_{figure}_basis": res["basis"].to_numpy()}


def _gate(out: pd.DataFrame, max_rel_ci: float, resolved_trials: dict | None = None) -> None:
    """A tok/J whose 95 % interval is wider than max_rel_ci (relative half-width) is unresolved, and
    so is one that some trials could not resolve: the mean of the others would hide the trial the
    sensor could not pin (resolved_trials: `<phase>_resolved` column -> trials resolved per row)."""
    reasons = {c: pd.Series([[] for _ in range(len(out))], index=out.index)
               for c in {"energy_reason", *REASON_COLUMN.values()}}
    for figure in TOK_J_FIGURES:
        if figure not in out:
            continue
        value = out[figure].astype(float)
        width = (out[f"{figure}_ci95_hi"] - out[f"{figure}_ci95_lo"]) / 2 / value.abs()
        wide = np.isfinite(value) & ~(width <= max_rel_ci)  # no interval at all is not resolved either
        phase = figure.split("_", 1)[0]
        for i in np.flatnonzero(wide.to_numpy()):
            w = width.iloc[i]
            shown = f"+-{w:.1%}" if math.isfinite(w) else "unknown"
            reasons[REASON_COLUMN.get(figure, "energy_reason")].iloc[i].append(f"{phase}: 95 % interval {shown} wider than energy.max_rel_ci {max_rel_ci:.0%} "
                                   f"({out[f'_{figure}_basis'].iloc[i]}, {out['n_trials'].iloc[i]} trial(s))")
        flag = f"{phase}_resolved"
        if flag in out and resolved_trials and flag in resolved_trials:
            done = pd.Series(resolved_trials[flag].to_numpy(), index=out.index)
            partly = np.isfinite(value) & ~wide & ~out[flag].astype(bool)
            for i in np.flatnonzero(partly.to_numpy()):
                reasons[REASON_COLUMN.get(figure, "energy_reason")].iloc[i].append(
                    f"{phase}: resolved in {int(done.iloc[i])} of {out['n_trials'].iloc[i]} trials, so not pooled")
            wide = wide | partly
        out.loc[wide, figure] = math.nan
        for derived in DERIVED_FROM.get(figure, ()):
            if derived in out:
                out.loc[wide, derived] = math.nan
        if f"{phase}_resolved" in out:
            out.loc[wide, f"{phase}_resolved"] = False
    for column, why in reasons.items():
        if column not in out and (column == "energy_reason" or why.map(len).any()):
            out[column] = None
        if why.map(len).any():
            out[column] = out[column].astype(object)  # an all-None column may have been read as float
        for i in np.flatnonzero(why.map(len).to_numpy()):
            before = out[column].iloc[i]
            out.iloc[i, out.columns.get_loc(column)] = "; ".join(
                filter(None, [before if isinstance(before, str) else None, *why.iloc[i]]))
    out.drop(columns=[c for c in out.columns if c.startswith("_") and c.endswith("_basis")], inplace=True)
