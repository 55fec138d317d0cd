"""Uncertainty for the figures.

* Latency / throughput: a seeded percentile bootstrap of the median over the cell's requests
  (requests.parquet). The interval is for the p50 the charts show.
* Energy: the split's own relative uncertainty columns (`*_rel_unc`), interval = value × (1 ± rel).
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
ENERGY_REL_UNC = {
    "prefill_tok_per_j": "prefill_tok_per_j_rel_unc",
    "decode_tok_per_j": "decode_tok_per_j_rel_unc",
    "total_tok_per_j": "total_tok_per_j_rel_unc",
    "mj_per_output_token": "decode_tok_per_j_rel_unc",  # 1000/decode tok/J: same relative error
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


def request_cis(requests: pd.DataFrame, n_boot: int = 500, seed: int = 0) -> pd.DataFrame:
    """One row per cell: `<summary column>_lo` / `_hi` for every metric in REQUEST_METRICS."""
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
            if rcol in grp:
                row[f"{col}_lo"], row[f"{col}_hi"] = bootstrap_ci(grp[rcol].to_numpy(), n_boot=n_boot, seed=seed)
        rows.append(row)
    return pd.DataFrame(rows)


def attach(summary: pd.DataFrame, cis: pd.DataFrame) -> pd.DataFrame:
    """summary + `_lo`/`_hi` columns: bootstrap ones for request metrics, rel_unc ones for energy."""
    s = summary.copy()
    if not cis.empty:
        s = s.merge(cis, on=IDENTITY, how="left")
    for col, unc in ENERGY_REL_UNC.items():
        if col in s and unc in s:
            rel = pd.to_numeric(s[unc], errors="coerce")
            s[f"{col}_lo"] = s[col] * (1 - rel)
            s[f"{col}_hi"] = s[col] * (1 + rel)
    return s


def yerr(values, lo, hi):
    """Asymmetric error-bar array (2, n) from value and interval; NaN where unknown, never negative."""
    v = np.asarray(values, dtype=float)
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    return np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
