"""The prefill / decode / idle split of a cell's energy.

Per request: prefill = [start, first_token], decode = [first_token, end], first_token = start + TTFT.
Source `none`: every energy figure is NaN with a reason. Otherwise cell_energy.split_cell does the
measurement (docs/energy-method.md); it never needs the sensor library.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Cell

# Per-cell energy columns (summary.parquet). NaN + energy_reason where not measured.
CELL_ENERGY_COLUMNS = [
    "e_prefill_j", "e_decode_j", "e_total_j", "e_idle_baseline_w",
    "e_prefill_above_idle_j", "e_decode_above_idle_j",
    "p_prefill_w", "p_decode_w", "p_active_w",
    "prefill_tok_per_j", "decode_tok_per_j", "total_tok_per_j", "mj_per_output_token",
    "prefill_tok_per_j_rel_unc", "decode_tok_per_j_rel_unc", "total_tok_per_j_rel_unc",
    "prefill_resolved", "decode_resolved",
    "prefill_samples_per_window", "decode_samples_per_window", "sensor_period_ms",
    "seed_p_prefill_w", "seed_p_decode_w", "seed_prefill_tok_per_j", "seed_decode_tok_per_j",
    "seed_total_tok_per_j", "power_w_seed_median", "seed_rail",
    "temp_cpu_mean_c", "temp_gpu_mean_c", "temp_tj_peak_c", "throttled", "gpu_clock_mhz_mean",
    # added by the measurement core (split/cell_energy.py); per-rail rail_<RAIL>_{prefill_j,decode_j,idle_w}
    # columns come on top, one set per rail the source reported
    "prefill_window_over_period", "decode_window_over_period", "prefill_method", "decode_method",
    "energy_coverage", "idle_baseline_samples", "energy_rejected_lines", "energy_problems", "energy_samples",
]
# under overlap (split/overlap.py): the steady-state window's figure and the energy per good token
STEADY_COLUMNS = ["steady_tok_per_j", "steady_tok_per_j_rel_unc", "steady_resolved", "steady_method",
                  "steady_samples", "steady_coverage", "steady_window_s", "steady_tokens", "steady_e_j",
                  "steady_concurrency", "steady_reason"]
GOOD_TOKEN_COLUMNS = ["energy_per_good_token_j", "energy_per_good_token_j_rel_unc", "good_requests", "good_reason"]
CELL_ENERGY_COLUMNS += STEADY_COLUMNS + GOOD_TOKEN_COLUMNS
REQUEST_ENERGY_COLUMNS = ["e_prefill_j", "e_decode_j", "n_prefill_samples", "n_decode_samples", "energy_covered"]


def no_energy(reason: str, source: str) -> dict:
    row = {c: np.nan for c in CELL_ENERGY_COLUMNS}
    row.update(prefill_resolved=False, decode_resolved=False, throttled=pd.NA, seed_rail=None)
    row.update(steady_resolved=False, steady_method="none", steady_reason=reason, good_reason=reason)
    row.update(energy_source=source, energy_method="none", energy_rail=None, energy_reason=reason)
    return row


def split_tables(cell_json, meta: dict, req: pd.DataFrame, max_rel_ci: float) -> tuple[pd.DataFrame, dict]:
    """One cell's requests with their energy columns, and its energy row (identity first), in memory.
    max_rel_ci: config key energy.max_rel_ci."""
    tmeta = meta.get("telemetry") or {}
    source = tmeta.get("source", "none")
    ident = {k: req[k].iloc[0] for k in Cell.columns(req) if k in req}  # the sweep point, whatever axes it has
    if source == "none":
        row = no_energy(tmeta.get("reason") or "no power sensor", source)
        req = req.copy()
        for c in REQUEST_ENERGY_COLUMNS:
            req[c] = np.nan
    else:
        from .cell_energy import split_cell  # the measurement core (telemetry samples present)

        req, row = split_cell(Path(cell_json).parent, meta, req, max_rel_ci)
    return req, {**ident, **row}
