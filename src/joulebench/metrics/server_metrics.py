"""A cell's server /metrics scrape (capture/server_metrics.py) -> `server_*` summary columns.

The cell's measured span is [first request start, last request end] (a block's scrape covers the
whole block). Gauges: mean and max over the scrapes inside the span. Tokens predicted: llama-server
adds a request's generated tokens to `tokens_predicted_total` when the request completes, so the
cell's count is the counter at the first scrape at or after the span's end minus the counter at
the first scrape at or after its start (the warm-up and earlier runs completed before the start);
it is exact when every request lasts longer than one scrape period (none of the cell's completes
before the first scrape, no later run's completes before the closing one), and per second it is
that count / the span. Busy slots per decode: llama-server's gauge is a running mean since start
(n_busy_slots / n_decode), so the span's own value is
(gauge_last x n_decode_last - gauge_first x n_decode_first) / (n_decode_last - n_decode_first)
over the scrapes inside the span. A metric the server does not expose is NaN (this llama-server
build has no KV-cache gauge).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..capture.server_metrics import META, SAMPLES

# column stem -> metric names, first found wins (llama-server --metrics, then vLLM's)
GAUGES = {
    "requests_processing": ("llamacpp:requests_processing", "vllm:num_requests_running"),
    "requests_deferred": ("llamacpp:requests_deferred", "vllm:num_requests_waiting"),
    "kv_cache_usage_ratio": ("llamacpp:kv_cache_usage_ratio", "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
}
PREDICTED = ("llamacpp:tokens_predicted_total", "vllm:generation_tokens_total")
BUSY, DECODES = "llamacpp:n_busy_slots_per_decode", "llamacpp:n_decode_total"


def _value(values: dict, names: tuple[str, ...]) -> float:
    """The first of `names` present, summed over its label sets; NaN if none is."""
    for name in names:
        found = [float(v) for k, v in values.items() if k == name or k.startswith(name + "{")]
        if found:
            return float(sum(found))
    return math.nan


def read_samples(cell_dir: Path) -> tuple[list[dict], dict]:
    """(scrape lines, meta); a truncated last line (killed capture) is skipped."""
    meta_path, path = Path(cell_dir) / META, Path(cell_dir) / SAMPLES
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = {"reason": f"no {META} (captured before the scrape existed, or it could not be written)"}
    lines = []
    if path.exists():
        with open(path) as fh:
            for text in fh:
                try:
                    lines.append(json.loads(text))
                except ValueError:
                    continue
    return lines, meta


def summarise(cell_dir: Path, start_ns: int, end_ns: int) -> dict:
    lines, meta = read_samples(cell_dir)
    inside = [ln for ln in lines if start_ns <= ln.get("t_ns", -1) <= end_ns]
    ok = [ln for ln in inside if isinstance(ln.get("values"), dict)]
    out = {"server_metrics_samples": len(ok), "server_metrics_errors": len(inside) - len(ok),
           "server_metrics_interval_ms": meta.get("interval_ms")}
    if len(ok) < 2:
        reason = meta.get("reason") or (f"{len(ok)} successful scrape(s) inside the measured span "
                                        f"(errors: {meta.get('first_error')})")
    else:
        reason = None
    out["server_metrics_reason"] = reason
    values = [{k: float(v) for k, v in ln["values"].items()} for ln in ok]
    absent = []
    for stem, names in GAUGES.items():
        series = np.array([_value(v, names) for v in values], dtype=float)
        finite = series[np.isfinite(series)]
        out[f"server_{stem}_mean"] = float(finite.mean()) if finite.size else math.nan
        out[f"server_{stem}_max"] = float(finite.max()) if finite.size else math.nan
        if values and not finite.size:
            absent.append(f"{stem} ({' / '.join(names)})")
    if absent and reason is None:  # the scrape worked; the server does not export these gauges
        out["server_metrics_reason"] = "not exported by the server: " + "; ".join(absent)
    after = [ln for ln in lines if isinstance(ln.get("values"), dict) and ln.get("t_ns", -1) >= start_ns]
    opened = after[0] if after else None
    closed = next((ln for ln in after if ln["t_ns"] >= end_ns), None)
    count = math.nan
    if opened is not None and closed is not None and closed is not opened:
        count = _value({k: float(v) for k, v in closed["values"].items()}, PREDICTED) - \
            _value({k: float(v) for k, v in opened["values"].items()}, PREDICTED)
    out["server_tokens_predicted"] = count
    span_s = (end_ns - start_ns) / 1e9
    out["server_tokens_predicted_per_s"] = count / span_s if span_s > 0 else math.nan
    out["server_busy_slots_per_decode"] = math.nan
    if len(ok) >= 2:
        d0, d1 = values[0].get(DECODES, math.nan), values[-1].get(DECODES, math.nan)
        b0, b1 = values[0].get(BUSY, math.nan), values[-1].get(BUSY, math.nan)
        if d1 > d0:
            out["server_busy_slots_per_decode"] = (b1 * d1 - b0 * d0) / (d1 - d0)
    return out
