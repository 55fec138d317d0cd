"""One cell's raw capture -> requests.parquet (one row per request) + cell.parquet (one row)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Cell
from ..errors import ParseError
from ..parse.aiperf import parse_aggregate, parse_requests
from . import intervals, server_metrics
from .load import goodput_columns, load_columns
from .slo import slo_of

# summary tok/s figure -> (statistic, per-request column) it is computed with; each gets a
# within-trial relative 1-sigma `<figure>_rel_unc` and, in the summary, a 95 % interval
TOK_S_FIGURES = {
    "output_tok_s_per_user_avg": ("mean", "output_tok_s_per_user"),
    "output_tok_s_per_user_p50": ("p50", "output_tok_s_per_user"),
    "e2e_output_tok_s_avg": ("mean", "e2e_output_tok_s"),
    "e2e_output_tok_s_p50": ("p50", "e2e_output_tok_s"),
    "prefill_tok_s_per_user_avg": ("mean", "prefill_tok_s_per_user"),
    "prefill_tok_s_per_user_p50": ("p50", "prefill_tok_s_per_user"),
    "client_decode_tok_s_mean": ("mean", "client_decode_tok_s"),
    "server_decode_tok_s_mean": ("mean", "server_predicted_per_second"),
    "server_prefill_tok_s_mean": ("mean", "server_prompt_per_second"),
    # requests run one after another: the run's tok/s is sum(OSL) / sum(latency) up to the gaps;
    # with N in flight the span is ~ sum(latency) / N, so the ratio's relative spread still applies
    "output_token_throughput_tok_s": ("ratio", ("osl", "latency_ms")),
    "system_output_tok_s": ("ratio", ("osl", "latency_ms")),
}


def load_cell_json(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ParseError(path, "missing") from exc
    except json.JSONDecodeError as exc:
        raise ParseError(path, f"invalid JSON ({exc.msg})", exc.lineno) from exc
    for key in ("cell", "backend", "model", "platform"):
        if key not in data:
            raise ParseError(path, f"missing key '{key}'")
    return data


def backend_version(backend: dict) -> str | None:
    """The server's version as a string for every kind (one column holds all backends): the
    provenance core's `version`; records from before it existed: llama.cpp's build as its tag,
    Ollama's `ollama_version` (OpenAI-compatible servers recorded none)."""
    if backend.get("version") is not None:
        return str(backend["version"])
    build = (backend.get("llama_cpp") or {}).get("build")
    if build is not None:
        return f"b{build}"
    return backend.get("ollama_version")


def provenance_columns(meta: dict) -> dict:
    backend = meta.get("backend", {})
    llama = backend.get("llama_cpp") or {}
    plat = meta.get("platform", {})
    state = plat.get("state_before") or {}
    model = meta.get("model", {})
    return {
        "quant": model.get("quant"),
        "params_m": model.get("params_m"),
        "model_sha256": model.get("sha256"),
        "model_size_bytes": model.get("size_bytes"),
        "model_source": json.dumps(model.get("source")),
        "backend_kind": backend.get("kind"),
        "backend_version": backend_version(backend),
        "llama_cpp_build": llama.get("build"),
        "llama_cpp_commit": llama.get("commit"),
        "backend_live_tested": backend.get("live_tested", True),
        "aiperf_version": meta.get("versions", {}).get("aiperf"),
        "joulebench_version": meta.get("versions", {}).get("joulebench"),
        "platform": plat.get("platform"),
        "device": state.get("device_name") or state.get("cpu_model"),
        "mode_in_force": json.dumps(state, sort_keys=True, default=str),
        "server_threads": meta.get("pinning", {}).get("server_threads"),
        # the slots the server reported itself (llama-server /props total_slots), else None
        "server_slots": (backend.get("slots") or {}).get("server_slots"),
        "pinned": bool(meta.get("pinning", {}).get("client_prefix")),
        "telemetry_source": (meta.get("telemetry") or {}).get("source"),
        "config_hash": meta.get("config_hash"),
        "cell_settings_hash": meta.get("cell_settings_hash"),
        "captured_at": (meta.get("timestamps") or {}).get("capture_start_iso"),
        "capture_start_ns": (meta.get("timestamps") or {}).get("capture_start_ns"),
        # a fleet cell's device as configured (host, cores, submit): only where there is one
        **({"fleet_device_config": json.dumps(meta["fleet_device"], sort_keys=True)}
           if "fleet_device" in meta else {}),
        "capture_seconds": (meta.get("step_seconds") or {}).get("total"),
        "aiperf_seconds": (meta.get("step_seconds") or {}).get("aiperf"),
        "host": meta.get("host"),
    }


def request_derived(df: pd.DataFrame, ctx: int, gen: int) -> dict:
    osl, isl = _floats(df["osl"]), _floats(df["isl"])
    with np.errstate(all="ignore"):  # as pandas: x / 0 is inf, 0 / 0 NaN, without a warning
        decode = decode_tok_s(osl, _floats(df["decode_ms"]))
    out = {
        "n_requests": int(len(df)),
        "n_errors": int(df["error"].notna().sum()),
        "osl_mismatch_pct": float(_nanmean(np.abs(osl - gen)) / gen * 100.0),
        "isl_mismatch_pct": float(_nanmean(np.abs(isl - ctx)) / ctx * 100.0),
        "first_token_minus_ack_ms_p50": float(_nanmedian((_floats(df["first_token_ns"]) - _floats(df["ack_ns"])) / 1e6)),
        "client_decode_tok_s_mean": float(_nanmean(decode)),
        "server_decode_tok_s_mean": float(_nanmean(_floats(df["server_predicted_per_second"]))),
        "server_prefill_tok_s_mean": float(_nanmean(_floats(df["server_prompt_per_second"]))),
    }
    if not math.isnan(out["server_decode_tok_s_mean"]) and out["server_decode_tok_s_mean"] > 0:
        out["client_vs_server_decode_ratio"] = out["client_decode_tok_s_mean"] / out["server_decode_tok_s_mean"]
    else:
        out["client_vs_server_decode_ratio"] = np.nan
    return out


# pandas' Series.mean / .median of a float64 column, on numpy arrays (pandas' per-call overhead was
# ~1.5 ms a cell here): the same operations in the same order (pandas.core.nanops), so the same bits
def _floats(column: pd.Series) -> np.ndarray:
    """What column.astype("float64") holds (NA -> NaN), as a new array."""
    return column.to_numpy(dtype="float64", na_value=np.nan, copy=True)


def _nanmean(x: np.ndarray) -> float:
    """nanops.nanmean: NaNs replaced by 0 before the sum, divided by the count of the others."""
    nan = np.isnan(x)
    count = np.float64(x.size - nan.sum())
    if nan.any():
        x = np.where(nan, 0.0, x)
    return x.sum() / count if count > 0 else np.nan


def _nanmedian(x: np.ndarray) -> float:
    """nanops.nanmedian of a 1-D column: numpy's nanmedian of the non-NaN values."""
    x = x[~np.isnan(x)]
    if not x.size:  # no number at all: NaN, without numpy's "Mean of empty slice" in the user's log
        return np.nan
    return np.nanmedian(x)


def decode_tok_s(osl, decode_ms):
    """Decode tok/s per request from client stamps: (OSL - 1) tokens after the first (pandas
    Series or numpy arrays)."""
    return (osl - 1) / (decode_ms / 1000.0)


def client_decode_tok_s(df: pd.DataFrame) -> pd.Series:
    return decode_tok_s(df["osl"].astype("float64"), df["decode_ms"])


def tok_s_rel_unc(df: pd.DataFrame) -> dict:
    """Within-trial relative 1-sigma of every TOK_S_FIGURES figure (bootstrap over requests). Each
    column is converted once and each (statistic, column) bootstrapped once: two figures share one."""
    columns, done, out = {}, {}, {}

    def values(name):
        if name not in columns:
            series = client_decode_tok_s(df) if name == "client_decode_tok_s" else df[name]
            columns[name] = series.to_numpy(dtype="float64", na_value=np.nan)
        return columns[name]

    for figure, (statistic, source) in TOK_S_FIGURES.items():
        if (statistic, source) not in done:
            if statistic == "ratio":
                num, den = source
                done[statistic, source] = intervals.bootstrap_ratio_rel_sigma(values(num), values(den))
            else:
                done[statistic, source] = intervals.bootstrap_rel_sigma(values(source), statistic)
        out[f"{figure}_rel_unc"] = done[statistic, source]
    return out


def parse_tables(cell_json: str | Path, meta: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """One cell's requests (one row each) and its cell row, in memory (no file written)."""
    cell_json = Path(cell_json)
    meta = meta if meta is not None else load_cell_json(cell_json)
    aiperf_dir = cell_json.parent / "aiperf"
    cell = Cell.from_row(meta["cell"])
    ident = cell.row()
    df = parse_requests(aiperf_dir)
    # the identity columns first, in one step (one insert each cost ~1.7 ms a cell)
    df = pd.concat([pd.DataFrame({k: [v] * len(df) for k, v in ident.items()}, index=df.index), df], axis=1)
    row = {**ident, **provenance_columns(meta), **parse_aggregate(aiperf_dir),
           **request_derived(df, cell.ctx, cell.gen), **load_columns(df),
           **server_metrics.summarise(cell_json.parent, int(df["start_ns"].min()), int(df["end_ns"].max())),
           **goodput_columns(df, slo_of(meta)),
           **tok_s_rel_unc(df)}
    return df, row
