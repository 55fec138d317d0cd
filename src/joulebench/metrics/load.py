"""Metrics that make sense under load (docs/load-metrics.md), from aiperf's per-request records.

Per cell (one trial), over the measured requests' wall span [first start, last end]:
- system_output_tok_s: all output tokens / span (what the server delivers to all users together;
  per-user tok/s stays aiperf's `output_tok_s_per_user_*`);
- request_throughput_rps: requests / span;
- achieved_concurrency: sum of request latencies / span (Little's law: the mean number in flight);
- queue_delay_ms_p50 / _p95: TTFT minus llama-server's own prompt time (`timings.prompt_ms`) per
  request: the time a request waited before its prefill started (for a slot, or behind other
  slots' work in the batch) plus the HTTP and tokenisation overhead, which is what it reads at
  concurrency 1. NaN where the server reports no timings (Ollama, most OpenAI servers).
Goodput, under the SLO recorded with the capture (cell.json `settings.slo`, config key `slo`; the
split's energy per good token judges by the same one):
- a request is good when it succeeded and metrics/slo.py's predicate holds: TTFT <= slo.ttft_ms
  and its mean inter-token latency <= slo.itl_ms (MLPerf's TPOT); a metric it lacks fails;
- goodput_rps = good requests / span, goodput_fraction = good / all.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .slo import LIMITS, good_requests

QUEUE_METHOD = "ttft_ms - llama-server timings.prompt_ms per request"


def span_s(df: pd.DataFrame) -> float:
    """Wall span of the requests: first start to last end, seconds (NaN for none)."""
    if df.empty:
        return math.nan
    return float(df["end_ns"].max() - df["start_ns"].min()) / 1e9


def _pct(values: pd.Series, p: float) -> float:
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    return float(np.percentile(v, p)) if v.size else math.nan  # numpy linear, as aiperf


def queue_delay_ms(df: pd.DataFrame) -> pd.Series:
    return df["ttft_ms"].astype("float64") - df["server_prompt_ms"].astype("float64")


def load_columns(df: pd.DataFrame) -> dict:
    """Load metrics of one trial's requests (requests.parquet rows)."""
    span = span_s(df)
    ok = span > 0
    queue = queue_delay_ms(df)
    n_queue = int(np.isfinite(queue).sum())
    return {
        "load_span_s": span,
        "system_output_tok_s": float(df["osl"].astype("float64").sum()) / span if ok else math.nan,
        "request_throughput_rps": len(df) / span if ok else math.nan,
        "achieved_concurrency": float(df["latency_ms"].sum()) / 1e3 / span if ok else math.nan,
        "queue_delay_ms_p50": _pct(queue, 50),
        "queue_delay_ms_p95": _pct(queue, 95),
        "queue_delay_n": n_queue,
        "queue_delay_method": QUEUE_METHOD if n_queue else "not measured: the server reported no prompt timings",
    }


def goodput_columns(df: pd.DataFrame, slo: dict) -> dict:
    """Goodput of one trial's requests under `slo` (metrics/slo.py judges each request; a request
    that failed is never good). Adds `slo_good` to `df` (NA where no SLO is set)."""
    limits = {f"slo_{k}": float(slo.get(k, math.nan)) for k in LIMITS}
    good = good_requests(df, slo)
    if good is None:
        df["slo_good"] = pd.array([pd.NA] * len(df), dtype="boolean")
        return {**limits, "n_good": math.nan, "goodput_rps": math.nan, "goodput_fraction": math.nan,
                "goodput_reason": "no slo set (config key slo: {ttft_ms, itl_ms})"}
    if "error" in df:
        good &= df["error"].isna().to_numpy()
    df["slo_good"] = good
    span, n_good = span_s(df), int(good.sum())
    return {**limits, "n_good": n_good, "goodput_rps": n_good / span if span > 0 else math.nan,
            "goodput_fraction": n_good / len(df) if len(df) else math.nan, "goodput_reason": None}
