"""Uncertainty for the figures.

* Where the summary carries `<column>_ci95_lo` / `_ci95_hi` (metrics/intervals.py: the tok/s and
  tok/J figures, within and across trials) that interval is used, for any column; nothing is
  re-estimated here.
* Latency percentiles the summary gives no interval for (TTFT, ITL, latency p50): a seeded
  percentile bootstrap of the median over the cell's requests (requests.parquet).
* Summaries written before the `_ci95_` columns existed: the same bootstrap for the tok/s p50s,
  and for energy the split's relative uncertainty (`*_rel_unc`, 1 sigma), value × (1 ± 1.96 rel).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

IDENTITY = ["mode", "backend", "model", "ctx", "gen"]

# summary column -> per-request column whose median it is
REQUEST_METRICS = {
    "ttft_ms_p50": "ttft_ms",
    "itl_ms_p50": "itl_ms",
    "latency_ms_p50": "latency_ms",
    "output_tok_s_per_user_p50": "output_tok_s_per_user",
    "prefill_tok_s_per_user_p50": "prefill_tok_s_per_user",
    "decode_ms_p50": "decode_ms",
    "e2e_output_tok_s_p50": "e2e_output_tok_s",
}
# energy column -> its relative-uncertainty column
Z95 = 1.96  # two-sided 95 % for a 1-sigma relative uncertainty
ENERGY_REL_UNC = {
    "prefill_tok_per_j": "prefill_tok_per_j_rel_unc",
    "decode_tok_per_j": "decode_tok_per_j_rel_unc",
    "total_tok_per_j": "total_tok_per_j_rel_unc",
    "mj_per_output_token": "decode_tok_per_j_rel_unc",  # 1000/decode tok/J: same relative error
    "steady_tok_per_j": "steady_tok_per_j_rel_unc",
    "energy_per_good_token_j": "energy_per_good_token_j_rel_unc",
}


def bootstrap_ci(values, stat=np.median, n_boot: int = 1000, ci: float = 0.95, seed: int = 0):
    """Percentile bootstrap interval (lo, hi) of `stat` over `values`; NaNs dropped.

    Deterministic for a given seed. Fewer than 2 finite values -> (nan, nan): no interval
    can be claimed from one request.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    stats = stat(v[idx], axis=1)
    a = (1.0 - ci) / 2.0
    return (float(np.quantile(stats, a)), float(np.quantile(stats, 1.0 - a)))


def summary_intervals(summary: pd.DataFrame) -> list[str]:
    """The columns the summary gives a 95 % interval for (`<column>_ci95_lo` and `_ci95_hi`), in order."""
    return [c[: -len("_ci95_lo")] for c in summary.columns
            if c.endswith("_ci95_lo") and f"{c[: -len('_ci95_lo')]}_ci95_hi" in summary]


def request_cis(requests: pd.DataFrame, n_boot: int = 500, seed: int = 0, skip=()) -> pd.DataFrame:
    """One row per cell: `<summary column>_lo` / `_hi` for every metric in REQUEST_METRICS but
    those in `skip` (the summary's own intervals)."""
    if requests is None or requests.empty or not set(IDENTITY) <= set(requests.columns):
        return pd.DataFrame(columns=IDENTITY)
    req = requests
    if "benchmark_phase" in req:
        req = req[req["benchmark_phase"].fillna("profiling") == "profiling"]
    if "error" in req:
        req = req[req["error"].isna()]
    rows = []
    for key, grp in req.groupby(IDENTITY, sort=False):
        row = dict(zip(IDENTITY, key))
        for col, rcol in REQUEST_METRICS.items():
            if rcol in grp and col not in skip:
                row[f"{col}_lo"], row[f"{col}_hi"] = bootstrap_ci(grp[rcol].to_numpy(), n_boot=n_boot, seed=seed)
        rows.append(row)
    return pd.DataFrame(rows)


def attach(summary: pd.DataFrame, cis: pd.DataFrame) -> pd.DataFrame:
    """summary + `_lo`/`_hi` columns (95 %): the summary's own `_ci95_` interval where it has one, else
    the bootstrap over requests for request metrics and value × (1 ± 1.96 rel_unc) for energy."""
    s = summary.copy()
    if not cis.empty:
        s = s.merge(cis, on=IDENTITY, how="left")
    own = summary_intervals(s)
    for col, unc in ENERGY_REL_UNC.items():
        if col in s and unc in s and col not in own:
            s[f"{col}_lo"], s[f"{col}_hi"] = rel_interval(s[col], s[unc])
    for col in own:
        s[f"{col}_lo"], s[f"{col}_hi"] = s[f"{col}_ci95_lo"], s[f"{col}_ci95_hi"]
    return s


def rel_interval(value, rel_unc):
    """95 % interval (lo, hi) from a value and its 1-sigma relative uncertainty."""
    v = pd.to_numeric(value, errors="coerce")
    rel = pd.to_numeric(rel_unc, errors="coerce")
    return v * (1 - Z95 * rel), v * (1 + Z95 * rel)


def yerr(values, lo, hi):
    """Asymmetric error-bar array (2, n) from value and interval; NaN where unknown, never negative."""
    v = np.asarray(values, dtype=float)
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    return np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
