"""Service-level objectives: which requests are "good" (one home for the predicate).

A request is good when every limit the cell's SLO sets holds for it: its time to first token
(`ttft_ms`) is at most `slo.ttft_ms` and its mean inter-token latency (`itl_ms`, aiperf's per-request
inter_token_latency) at most `slo.itl_ms`, as aiperf's `--goodput "time_to_first_token:X
inter_token_latency:Y"` judges each request. A limit that is not set is not checked; a request whose
checked value was not measured (NaN) is not good; an SLO with no limit at all judges nothing (None).
Goodput, the good fraction and the energy per good token all use `good_requests`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# SLO key -> the per-request column (requests.parquet) it limits
LIMITS = {"ttft_ms": "ttft_ms", "itl_ms": "itl_ms"}


def slo_of(meta: dict) -> dict:
    """The cell's SLO from cell.json (`settings.slo`, as captured): {limit: value} for the limits set."""
    slo = ((meta.get("settings") or {}).get("slo") or meta.get("slo") or {})
    return {k: float(slo[k]) for k in LIMITS if slo.get(k) is not None}


def good_requests(requests: pd.DataFrame, slo: dict) -> np.ndarray | None:
    """Per request: True when every limit set in `slo` holds (module docstring); None if none is set."""
    limits = {k: v for k, v in (slo or {}).items() if k in LIMITS and v is not None}
    if not limits:
        return None
    good = np.ones(len(requests), dtype=bool)
    for key, limit in limits.items():
        col = LIMITS[key]
        values = pd.to_numeric(requests[col], errors="coerce").to_numpy(dtype=float) if col in requests \
            else np.full(len(requests), np.nan)
        good &= np.isfinite(values) & (values <= float(limit))
    return good
