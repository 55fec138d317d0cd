"""Blog Tables 2-4 (hardware, software stack, models) from the summary's provenance columns and the
config, and the Appendix I metric definitions (joulebench's and the seed's, side by side)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from . import style
from .common import ResultsView


def _values(view: ResultsView, column: str, df: pd.DataFrame | None = None) -> str:
    df = view.summary if df is None else df
    if column not in df:
        return "not recorded"
    vals = sorted({str(v) for v in df[column].dropna().unique() if str(v) not in ("", "None", "nan")})
    return ", ".join(vals) if vals else "not recorded"


def hardware(view: ResultsView) -> pd.DataFrame:
    """Blog Table 2: what the cells ran on, as recorded by each capture and the config's device profile."""
    s = view.summary
    prof = view.cfg.get("device_profile") or {}
    tj = pd.to_numeric(s["temp_tj_peak_c"], errors="coerce").max() if "temp_tj_peak_c" in s else np.nan
    rows = [("Platform", _values(view, "platform")), ("Device", _values(view, "device")),
            ("Device profile (config)", prof.get("name", "not set")),
            ("Peak memory bandwidth (config)", f"{prof['peak_mem_bandwidth_gbs']:g} GB/s"
             if prof.get("peak_mem_bandwidth_gbs") else "not set"),
            ("Host", _values(view, "host")),
            ("Power modes", ", ".join(view.modes)),
            ("Peak junction temperature (measured)", f"{tj:.1f} °C" if np.isfinite(tj) else "not measured")]
    return pd.DataFrame(rows, columns=["Component", "Detail"])


def software(view: ResultsView) -> pd.DataFrame:
    """Blog Table 3: versions from provenance, server settings and telemetry from the config."""
    s = view.summary
    rows = []
    for backend in view.backends:
        d = s[s["backend"] == backend]
        bcfg = (view.cfg.get("backends") or {}).get(backend) or {}
        settings = ", ".join(f"{k} {bcfg[k]}" for k in ("ctx_size", "n_gpu_layers", "extra_args") if bcfg.get(k) not in (None, []))
        detail = f"version {_values(view, 'backend_version', d)}"
        if backend == "llamacpp" or _values(view, "llama_cpp_commit", d) != "not recorded":
            detail += f"; commit {_values(view, 'llama_cpp_commit', d)}"
        rows.append((style.backend_label(backend), detail + (f"; {settings}" if settings else "")))
    tel = view.cfg.get("telemetry") or {}
    src = _values(view, "telemetry_source")
    interval = tel.get("tegrastats_interval_ms") if src == "tegrastats" else tel.get("interval_ms")
    rows += [("Load generator", f"aiperf {_values(view, 'aiperf_version')}"),
             ("joulebench", _values(view, "joulebench_version")),
             ("Power telemetry", src
              + (f" at {interval} ms" if interval else "")
              + f"; energy rail {view.energy_rail or 'not recorded'}; seed-method rail {view.ref_rail or 'not recorded'}"),
             ("Energy method", _values(view, "energy_method"))]
    return pd.DataFrame(rows, columns=["Layer", "Version / detail"])


def models(view: ResultsView) -> pd.DataFrame:
    """Blog Table 4: per model its quantisation, GGUF size, parameters, tokenizer and source."""
    s = view.summary
    mcfg = view.cfg.get("models") or {}
    rows = []
    for model in view.models:
        d = s[s["model"] == model]
        size = pd.to_numeric(d["model_size_bytes"], errors="coerce").dropna() if "model_size_bytes" in d else pd.Series([], dtype=float)
        params = pd.to_numeric(d["params_m"], errors="coerce").dropna() if "params_m" in d else pd.Series([], dtype=float)
        cfg = mcfg.get(model) or {}
        src = cfg.get("source")
        rows.append({"Model": model, "Quant": _values(view, "quant", d),
                     "GGUF size (MB)": size.iloc[0] / 1e6 if len(size) else np.nan,
                     "Params (M)": params.iloc[0] if len(params) else cfg.get("params_m", np.nan),
                     "Tokenizer": cfg.get("tokenizer", "gguf" if cfg else "not in config"),
                     "Source": json.dumps(src) if src else _values(view, "model_source", d),
                     "sha256": _values(view, "model_sha256", d)[:12]})
    return pd.DataFrame(rows)


# Appendix I: symbol -> (summary column, joulebench's definition, the seed's definition)
DEFINITIONS = [
    ("ISL / OSL", "isl_p50 / osl_p50", "input / output tokens per request (aiperf), OSL forced to gen and checked",
     "aiperf input/output sequence length (avg); OSL not controlled"),
    ("TTFT", "ttft_ms_p50", "p50 over the cell's requests of time to first token (ms)", "same (aiperf p50)"),
    ("ITL", "itl_ms_p50", "p50 inter-token latency (ms)", "same"),
    ("RL", "latency_ms_p50", "p50 request latency (ms)", "same"),
    ("tok/s", "output_tok_s_per_user_p50", "p50 output tok/s per user", "aiperf output tok/s per user (avg; p50 in charts)"),
    ("prefill tput", "prefill_tok_s_per_user_p50", "p50 prefill tok/s per user", "aiperf prefill throughput (avg)"),
    ("decode time", "decode_time_ms", "RL p50 - TTFT p50 (ms)", "same"),
    ("prefill / decode window", "-", "[start, start + TTFT] / [start + TTFT, end] of each request",
     "[start, ack] / (ack, end]: ack is the HTTP header, not the first token"),
    ("decode power", "p_decode_w", "decode J / decode s (energy integrated per request window)",
     "median of samples in any decode window (seed_p_decode_w)"),
    ("whole-window power", "power_w_seed_median", "median of the samples between the cell's first start and last end",
     "same ('avg power')"),
    ("prefill / decode J", "e_prefill_j / e_decode_j", "power integrated over each request's phase window, summed",
     "median phase power x p50 phase time"),
    ("output (decode) tok/J", "decode_tok_per_j", "sum OSL / sum decode J (ratio of sums)",
     "OSL p50 / (median decode W x p50 decode s) = seed_decode_tok_per_j"),
    ("prefill tok/J", "prefill_tok_per_j", "sum ISL / sum prefill J", "ISL p50 / (median prefill W x TTFT p50)"),
    ("total tok/J", "total_tok_per_j", "sum (ISL + OSL) / sum request J", "(ISL + OSL) / (prefill J + decode J)"),
    ("mJ per output token", "mj_per_output_token", "1000 x decode J / OSL", "1000 / decode tok/J"),
    ("Tok/J (report.md)", "seed_tok_per_j", "tok/s avg / whole-window median W (seed method, labelled)",
     "tok/s avg / model-window mean W"),
    ("interval", "*_lo / *_hi", "95 %: bootstrap of the median over requests; energy value x (1 ± 1.96 rel_unc); "
     "*_ci95_* over trials where present", "none"),
    ("peak TJ", "temp_tj_peak_c", "max junction temperature over the cell", "max over the model window"),
    ("prefill / decode J under overlap", "e_prefill_j / e_decode_j", "concurrency > 1: each sample's energy in "
     "equal shares among the requests in flight, counted in each one's phase", "not benchmarked (concurrency 1)"),
    ("steady-state tok/J", "steady_tok_per_j", "output tokens / energy from the N-th first token to the "
     "(total - N)-th completion (all N slots busy)", "none"),
    ("J per good token", "energy_per_good_token_j", "all covered requests' energy / output tokens of the requests "
     "within the SLO (TTFT, ITL)", "none"),
]


def definitions(view: ResultsView) -> pd.DataFrame:
    """Appendix I: every metric, its column, how joulebench computes it, how the seed did; rails named."""
    rows = []
    for symbol, column, ours, theirs in DEFINITIONS:
        rail = view.rail_of(column)
        ref_rail = view.ref_rail if "median" in theirs or "seed_" in theirs else ""
        rows.append({"Symbol": symbol, "Column": column, "joulebench": ours + (f" [{rail}]" if rail else ""),
                     "Seed": theirs + (f" [{ref_rail}]" if ref_rail else "")})
    return pd.DataFrame(rows)
