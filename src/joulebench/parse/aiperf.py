"""aiperf 0.13 exports -> one row per request, and the cell's aggregate metrics.

Timestamps: `request_start_ns` / `request_end_ns` are epoch ns from time.time_ns(). The first
token is start + TTFT of the same record: `request_ack_ns` is the HTTP response header (3-8 ms
after sending), not the first token.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ParseError

RECORDS = "profile_export.jsonl"
RAW_RECORDS = "profile_export_raw.jsonl"
AGGREGATE = "profile_export_aiperf.json"

# aiperf per-request metric -> our column (unit in the name)
REQUEST_METRICS = {
    "time_to_first_token": "ttft_ms",
    "time_to_second_token": "ttst_ms",
    "inter_token_latency": "itl_ms",
    "request_latency": "latency_ms",
    "decode_duration": "decode_ms",
    "output_token_throughput_per_user": "output_tok_s_per_user",
    "e2e_output_token_throughput": "e2e_output_tok_s",
    "prefill_throughput_per_user": "prefill_tok_s_per_user",
    "input_sequence_length": "isl_client",
    "output_sequence_length": "osl_client",
    "usage_prompt_tokens": "isl_server",
    "usage_completion_tokens": "osl_server",
    "http_req_chunks_received": "n_chunks",
}

# aiperf aggregate metric -> our prefix; every statistic aiperf gives is kept
AGGREGATE_METRICS = {
    "time_to_first_token": "ttft_ms",
    "time_to_second_token": "ttst_ms",
    "inter_token_latency": "itl_ms",
    "request_latency": "latency_ms",
    "output_token_throughput_per_user": "output_tok_s_per_user",
    "e2e_output_token_throughput": "e2e_output_tok_s",
    "prefill_throughput_per_user": "prefill_tok_s_per_user",
    "input_sequence_length": "isl",
    "output_sequence_length": "osl",
    "decode_duration": "decode_ms",
    "usage_prompt_tokens": "isl_server",
    "usage_completion_tokens": "osl_server",
}
SCALARS = {
    # aiperf's own (its phase duration); request_throughput_rps is metrics/load.py's, over the
    # requests' span, the same for a cell run and a block's cell
    "request_throughput": "aiperf_request_throughput_rps",
    "output_token_throughput": "output_token_throughput_tok_s",
    "benchmark_duration": "benchmark_duration_s",
    "request_count": "aiperf_request_count",
    "completed_request_count": "aiperf_completed_requests",
    "request_error_rate": "aiperf_error_rate_pct",
}
STATS = ("avg", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "min", "max", "std")


def _load_jsonl(path: Path) -> list[tuple[int, dict]]:
    if not path.exists():
        raise ParseError(path, "file missing (did the capture finish?)")
    out = []
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ParseError(path, f"invalid JSON ({exc.msg}); truncated export?", lineno) from exc
            except UnicodeDecodeError as exc:  # binary junk: json.loads guesses UTF-16/32 and fails
                raise ParseError(path, f"invalid JSON (not UTF-8 text: {exc.reason}); corrupt export?",
                                 lineno) from exc
            if not isinstance(rec, dict):
                raise ParseError(path, "expected one JSON object per line", lineno)
            out.append((lineno, rec))
    return out


def _value(metrics: dict, key: str):
    m = metrics.get(key)
    if isinstance(m, dict):
        return m.get("value")
    return None


def _server_timings(raw_path: Path) -> dict[str, dict]:
    """llama-server's own `timings` (and `usage`) from the last SSE chunks, by x_request_id."""
    if not raw_path.exists():
        return {}
    found = {}
    for lineno, rec in _load_jsonl(raw_path):
        rid = (rec.get("metadata") or {}).get("x_request_id")
        timings, usage = None, None
        for resp in rec.get("responses") or []:
            for pkt in resp.get("packets") or []:
                val = pkt.get("value")
                if not isinstance(val, str) or '"timings"' not in val and '"usage"' not in val:
                    continue
                try:
                    body = json.loads(val)
                except json.JSONDecodeError:
                    continue
                timings = body.get("timings") or timings
                usage = body.get("usage") or usage
        if rid:
            found[rid] = {"timings": timings or {}, "usage": usage or {}}
    return found


def parse_requests(aiperf_dir: str | Path, include_warmup: bool = False) -> pd.DataFrame:
    """One row per request. Raises ParseError naming file and line on malformed input."""
    aiperf_dir = Path(aiperf_dir)
    path = aiperf_dir / RECORDS
    records = _load_jsonl(path)
    timings = _server_timings(aiperf_dir / RAW_RECORDS)
    rows = []
    for lineno, rec in records:
        meta = rec.get("metadata")
        metrics = rec.get("metrics") or {}
        if not isinstance(meta, dict):
            raise ParseError(path, "record has no 'metadata' object", lineno)
        phase = meta.get("benchmark_phase", "profiling")
        if phase != "profiling" and not include_warmup:
            continue
        try:
            start = int(meta["request_start_ns"])
            end = int(meta["request_end_ns"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ParseError(path, f"record lacks request_start_ns/request_end_ns ({exc})", lineno) from exc
        ack = meta.get("request_ack_ns")
        err = rec.get("error")
        row = {
            "x_request_id": meta.get("x_request_id"),
            "conversation_id": meta.get("conversation_id"),
            "benchmark_phase": phase,
            "start_ns": start,
            "ack_ns": int(ack) if ack is not None else pd.NA,
            "end_ns": end,
            "cancelled": bool(meta.get("was_cancelled", False)),
            "error": json.dumps(err) if err else None,
        }
        for key, col in REQUEST_METRICS.items():
            row[col] = _value(metrics, key)
        icl = _value(metrics, "inter_chunk_latency")
        row["n_inter_chunk"] = len(icl) if isinstance(icl, list) else None
        ttft = row["ttft_ms"]
        if ttft is None or (isinstance(ttft, float) and math.isnan(ttft)):
            row["first_token_ns"] = pd.NA
        else:
            row["first_token_ns"] = start + int(round(float(ttft) * 1e6))
        t = timings.get(row["x_request_id"] or "", {}).get("timings", {})
        row["server_prompt_n"] = t.get("prompt_n")
        row["server_prompt_ms"] = t.get("prompt_ms")
        row["server_prompt_per_second"] = t.get("prompt_per_second")
        row["server_predicted_n"] = t.get("predicted_n")
        row["server_predicted_ms"] = t.get("predicted_ms")
        row["server_predicted_per_second"] = t.get("predicted_per_second")
        # ISL/OSL as the server counted them (usage), falling back to aiperf's own count
        row["isl"] = row["isl_server"] if row["isl_server"] is not None else row["isl_client"]
        row["osl"] = row["osl_server"] if row["osl_server"] is not None else row["osl_client"]
        rows.append(row)
    if not rows:
        raise ParseError(path, "no profiling records")
    # typed column by column, then one DataFrame (assigning columns one at a time cost ~15 ms a cell)
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    for col in ("start_ns", "end_ns"):
        cols[col] = np.array(cols[col], dtype="int64")
    for col in ("ack_ns", "first_token_ns"):
        cols[col] = pd.array(cols[col], dtype="Int64")
    float_cols = [c for c in REQUEST_METRICS.values()] + [
        "server_prompt_ms", "server_prompt_per_second", "server_predicted_ms", "server_predicted_per_second"]
    for col in float_cols:
        cols[col] = _floats(cols[col])
    for col in ("isl", "osl", "server_prompt_n", "server_predicted_n", "n_inter_chunk"):
        cols[col] = _ints(cols[col])
    df = pd.DataFrame(cols)
    if not (np.diff(cols["start_ns"]) > 0).all():  # in order already (the usual export): no sort needed
        df = df.sort_values("start_ns").reset_index(drop=True)
    df.insert(0, "request_idx", range(len(df)))  # aiperf's profiling_index is not a sequence
    return df


def _plain_numbers(values: list, types: tuple) -> bool:
    return all(v is None or type(v) in types for v in values)


def _floats(values: list) -> np.ndarray:
    """float64, None and anything non-numeric NaN (numbers and None straight to numpy: ~10x faster)."""
    if _plain_numbers(values, (float, int)):
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype="float64")


def _ints(values: list):
    """Nullable Int64, anything non-numeric NA."""
    if _plain_numbers(values, (int,)):
        return pd.array(values, dtype="Int64")
    return pd.array(pd.to_numeric(pd.Series(values, dtype=object), errors="coerce"), dtype="Int64")


def parse_aggregate(aiperf_dir: str | Path) -> dict:
    """The cell's aiperf summary: every percentile of every latency/throughput metric."""
    path = Path(aiperf_dir) / AGGREGATE
    if not path.exists():
        raise ParseError(path, "file missing (did aiperf finish?)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ParseError(path, f"invalid JSON ({exc.msg})", exc.lineno) from exc
    if not isinstance(data, dict):
        raise ParseError(path, "expected a JSON object")
    out = {
        "aiperf_version": data.get("aiperf_version"),
        "aiperf_schema": data.get("schema_version"),
        "aiperf_complete": data.get("is_complete"),
        "aiperf_cancelled": data.get("was_cancelled"),
        "aiperf_errors": json.dumps(data.get("error_summary") or []),
    }
    missing = [k for k in ("time_to_first_token", "request_latency") if k not in data]
    if missing:
        raise ParseError(path, f"missing metrics {missing}")
    for key, prefix in AGGREGATE_METRICS.items():
        m = data.get(key) or {}
        for stat in STATS:
            v = m.get(stat)
            out[f"{prefix}_{stat}"] = float(v) if v is not None else math.nan
    for key, col in SCALARS.items():
        m = data.get(key) or {}
        v = m.get("avg") if isinstance(m, dict) else None
        out[col] = float(v) if v is not None else math.nan
    return out
