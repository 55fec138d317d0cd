"""aiperf's per-metric statistics recomputed from its own per-request records.

Used when several cells share one aiperf run (block capture): aiperf's summary then covers the
whole block, so each cell's summary is rebuilt from that cell's records with aiperf's definitions
(numpy linear percentiles, population std: identical to aiperf 0.13's to the last digit on the
fixture). The benchmark duration is first request start -> last request end (aiperf counts from
its phase start, ~0.2 ms earlier on the fixture), and is labelled so.
"""
from __future__ import annotations

import numpy as np

from .aiperf import AGGREGATE_METRICS

PCTS = (1, 5, 10, 25, 50, 75, 90, 95, 99)


def stats(values) -> dict:
    v = np.asarray([x for x in values if x is not None], dtype="float64")
    if v.size == 0:
        return {}
    out = {"avg": float(v.mean())}
    for p in PCTS:
        out[f"p{p}"] = float(np.percentile(v, p))
    out.update(min=float(v.min()), max=float(v.max()), std=float(v.std()), count=int(v.size), sum=float(v.sum()))
    return out


def aggregate(records: list[dict], aiperf_version: str | None = None) -> dict:
    """A profile_export_aiperf.json-shaped dict for these (profiling) records."""
    out = {
        "schema_version": "1.4",
        "aiperf_version": aiperf_version,
        "computed_by": "joulebench from per-request records (block capture)",
        "is_complete": True,
        "was_cancelled": False,
        "error_summary": [r.get("error") for r in records if r.get("error")],
    }
    for key in AGGREGATE_METRICS:
        vals = [((r.get("metrics") or {}).get(key) or {}).get("value") for r in records]
        s = stats(vals)
        if s:
            out[key] = {"unit": ((records[0].get("metrics") or {}).get(key) or {}).get("unit"), **s}
    starts = [r["metadata"]["request_start_ns"] for r in records]
    ends = [r["metadata"]["request_end_ns"] for r in records]
    duration = (max(ends) - min(starts)) / 1e9 if records else float("nan")
    osl = sum(((r.get("metrics") or {}).get("output_sequence_length") or {}).get("value") or 0 for r in records)
    ok = [r for r in records if not r.get("error")]
    out.update(
        benchmark_duration={"unit": "sec", "avg": duration, "definition": "first start to last end"},
        request_count={"unit": "requests", "avg": float(len(records))},
        completed_request_count={"unit": "requests", "avg": float(len(ok))},
        request_throughput={"unit": "requests/sec", "avg": len(records) / duration if duration else float("nan")},
        output_token_throughput={"unit": "tokens/sec", "avg": osl / duration if duration else float("nan")},
        request_error_rate={"unit": "%", "avg": 100.0 * (len(records) - len(ok)) / max(1, len(records))},
    )
    return out
