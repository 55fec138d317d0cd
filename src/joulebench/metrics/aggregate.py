"""A pair's trial rows -> the summary (one row per cell, trials pooled), per-trial rows and requests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Cell
from .rowio import read_table
from .trials import pool


def seed_columns(s: pd.DataFrame) -> pd.DataFrame:
    """The seed report's own headline figures, computed the seed's way and labelled so.

    Tok/J (seed) = output tok/s (avg) / whole-window median power; it is NaN wherever the
    power was not measured.
    """
    s = s.copy()
    power = s.get("power_w_seed_median", pd.Series(np.nan, index=s.index))
    s["seed_tok_per_j"] = s["output_tok_s_per_user_avg"] / power
    return s


def with_identity(frame: pd.DataFrame) -> pd.DataFrame:
    """Tables parsed before the trial or concurrency axis existed lack its column: that is 1."""
    for col in ("concurrency", "trial"):
        if col not in frame and not frame.empty:
            frame.insert(min(len(frame.columns), list(Cell.ROW).index(col)), col, 1)
    return frame


def aggregate_pair(trial_rows_in, request_rows_in, summary_out, requests_out, trials_out, *,
                   max_rel_ci: float, csv=False) -> None:
    """From one pair's trial rows and request rows (the parse + split rule's outputs)."""
    write_pooled(read_table(trial_rows_in), read_table(request_rows_in), summary_out, requests_out, trials_out,
                 max_rel_ci=max_rel_ci, csv=csv)


def write_pooled(per_trial, requests, summary_out, requests_out, trials_out, *, max_rel_ci: float,
                 csv=False) -> None:
    summary = pool(per_trial, Cell.columns(per_trial), max_rel_ci)
    if not requests.empty:
        order = [c for c in (*Cell.columns(requests, Cell.ROW), "request_idx") if c in requests]
        requests = requests.sort_values(order).reset_index(drop=True)
    trials = pool(per_trial, Cell.columns(per_trial, Cell.ROW), max_rel_ci)
    for df, out in ((summary, summary_out), (requests, requests_out), (trials, trials_out)):
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(out, index=False)
        if csv:
            df.to_csv(out.with_suffix(".csv"), index=False)
