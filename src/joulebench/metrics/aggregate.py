"""Per-cell Parquet -> summary (one row per cell) and requests (one row per request)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .cell_table import IDENTITY


def _concat(paths) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in paths]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def seed_columns(s: pd.DataFrame) -> pd.DataFrame:
    """The seed report's own headline figures, computed the seed's way and labelled so.

    Tok/J (seed) = output tok/s (avg) / whole-window median power; it is NaN wherever the
    power was not measured.
    """
    s = s.copy()
    power = s.get("power_w_seed_median", pd.Series(np.nan, index=s.index))
    s["seed_tok_per_j"] = s["output_tok_s_per_user_avg"] / power
    return s


def build_summary(cell_paths, energy_paths) -> pd.DataFrame:
    cells = _concat(cell_paths)
    if cells.empty:
        return cells
    energy = _concat(energy_paths)
    if not energy.empty:
        cells = cells.merge(energy, on=IDENTITY, how="left", validate="one_to_one")
    cells = seed_columns(cells)
    return cells.sort_values(IDENTITY).reset_index(drop=True)


def aggregate_to(cell_paths, energy_paths, request_paths, summary_out, requests_out, csv=False) -> None:
    summary = build_summary(cell_paths, energy_paths)
    requests = _concat(request_paths)
    if not requests.empty:
        requests = requests.sort_values(IDENTITY + ["request_idx"]).reset_index(drop=True)
    for df, out in ((summary, summary_out), (requests, requests_out)):
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(out, index=False)
        if csv:
            df.to_csv(out.with_suffix(".csv"), index=False)
