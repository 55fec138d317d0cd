"""The seed's tables, computed from the summary (CSV + Markdown). NaN = not measured (shown as blank/--)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .common import METRICS, Context

STATS = ["avg", "p50", "p90", "p99"]
FULL_BLOCKS = [("TTFT", "ttft_ms"), ("T2T", "ttst_ms"), ("ITL", "itl_ms")]
FULL_BLOCKS_2 = [("E2E tok/s", "e2e_output_tok_s"), ("RL", "latency_ms"), ("Prefill tok/s", "prefill_tok_s_per_user")]


def _get(df, col):
    return df[col] if col in df else pd.Series(np.nan, index=df.index)


def full_results(ctx: Context, mode: str, backend: str) -> pd.DataFrame:
    """§8.1 'Full Results': one row per cell, the seed's 33 columns, sorted model, gen, prompt."""
    s = ctx.summary[(ctx.summary["mode"] == mode) & (ctx.summary["backend"] == backend)].copy()
    s["_m"] = s["model"].map({m: i for i, m in enumerate(ctx.models)})
    s = s.sort_values(["_m", "gen", "ctx"])
    t = pd.DataFrame({"Model": s["model"], "Quant": _get(s, "quant"), "ISL": s["ctx"], "OSL": s["gen"],
                      "OSL mis%": _get(s, "osl_mismatch_pct")})
    for label, prefix in FULL_BLOCKS:
        for st in STATS:
            t[f"{label} {st}"] = _get(s, f"{prefix}_{st}")
    t["Tok/s (avg)"] = _get(s, "output_tok_s_per_user_avg")
    t["Req/s"] = _get(s, "request_throughput_rps")
    for label, prefix in FULL_BLOCKS_2:
        for st in STATS:
            t[f"{label} {st}"] = _get(s, f"{prefix}_{st}")
    t["Power (W)"] = _get(s, "power_w_seed_median")
    t["Tok/J"] = _get(s, "output_tok_s_per_user_avg") / t["Power (W)"]
    return t.reset_index(drop=True)


def best_tok_j_per_model(ctx: Context, column: str = "decode_tok_per_j") -> pd.DataFrame:
    """§8.1 'Best Output Tok/J per Model' (per backend), over all modes and cells."""
    rows = []
    s = ctx.summary
    for backend in ctx.backends:
        for model in ctx.models:
            d = s[(s["backend"] == backend) & (s["model"] == model)]
            v = pd.to_numeric(_get(d, column), errors="coerce")
            if v.notna().any():
                i = v.idxmax()
                rows.append({"Backend": backend, "Model": model, "Quant": d.at[i, "quant"] if "quant" in d else "",
                             "Best Tok/J": v[i], "Mode": d.at[i, "mode"], "ISL": d.at[i, "ctx"], "OSL": d.at[i, "gen"],
                             "Tok/s": d.at[i, METRICS["tok_s"][0]],
                             "Power (W)": _get(d, "p_decode_w")[i] if column == "decode_tok_per_j" else _get(d, "power_w_seed_median")[i]})
            else:
                rows.append({"Backend": backend, "Model": model, "Quant": d["quant"].iloc[0] if "quant" in d and len(d) else "",
                             "Best Tok/J": np.nan, "Mode": "", "ISL": np.nan, "OSL": np.nan, "Tok/s": np.nan, "Power (W)": np.nan})
    return pd.DataFrame(rows)


def thermal_summary(ctx: Context, tj_limit: float = 85.0) -> pd.DataFrame:
    """§8.1 'Thermal Summary' per backend x model x mode: avg power, mean CPU/GPU °C, peak TJ, throttled."""
    s = ctx.summary
    rows = []
    for backend in ctx.backends:
        for model in ctx.models:
            for mode in ctx.modes:
                d = s[(s["backend"] == backend) & (s["model"] == model) & (s["mode"] == mode)]
                if d.empty:
                    continue
                tj = pd.to_numeric(_get(d, "temp_tj_peak_c"), errors="coerce").max()
                thr = _get(d, "throttled")
                thr_any = bool(thr.fillna(False).astype(bool).any()) if thr.notna().any() else (
                    bool(tj > tj_limit) if np.isfinite(tj) else None)
                rows.append({"Backend": backend, "Model": model, "Mode": mode,
                             "Avg Power (W)": pd.to_numeric(_get(d, "power_w_seed_median"), errors="coerce").mean(),
                             "Avg CPU °C": pd.to_numeric(_get(d, "temp_cpu_mean_c"), errors="coerce").mean(),
                             "Avg GPU °C": pd.to_numeric(_get(d, "temp_gpu_mean_c"), errors="coerce").mean(),
                             "Peak TJ °C": tj, "Throttled": "" if thr_any is None else ("yes" if thr_any else "no")})
    return pd.DataFrame(rows)


def fastest_per_mode(ctx: Context) -> pd.DataFrame:
    """Blog Table 1: per mode and backend, the fastest model at the canonical cell + its tok/s and tok/J."""
    c = ctx.cell(*ctx.canonical)
    col, tj = METRICS["tok_s"][0], METRICS["tok_j"][0]
    rows = []
    for mode in ctx.modes:
        for backend in ctx.backends:
            d = c[(c["mode"] == mode) & (c["backend"] == backend)]
            v = pd.to_numeric(_get(d, col), errors="coerce")
            if v.notna().any():
                i = v.idxmax()
                rows.append({"Mode": mode, "Backend": backend, "Fastest model": d.at[i, "model"], "Tok/s": v[i],
                             "Tok/J": _get(d, tj)[i]})
    return pd.DataFrame(rows)


def power_modes(ctx: Context) -> pd.DataFrame:
    """Blog Table 5: per mode, what was in force and the measured power range."""
    s = ctx.summary
    rows = []
    for mode in ctx.modes:
        d = s[s["mode"] == mode]
        p = pd.to_numeric(_get(d, "p_active_w"), errors="coerce")
        rows.append({"Mode": mode, "In force": str(d["mode_in_force"].iloc[0]) if "mode_in_force" in d else "",
                     "GPU clock mean (MHz)": pd.to_numeric(_get(d, "gpu_clock_mhz_mean"), errors="coerce").mean(),
                     "Active power min (W)": p.min(), "Active power max (W)": p.max()})
    return pd.DataFrame(rows)


def canonical_per_backend(ctx: Context, backend: str) -> pd.DataFrame:
    """Blog Tables 9/10: canonical tok/s and tok/J per model x mode, with the peak mode for each."""
    c = ctx.cell(*ctx.canonical)
    c = c[c["backend"] == backend]
    rows = []
    for model in ctx.models:
        d = c[c["model"] == model].set_index("mode")
        row = {"Model": model}
        for mode in ctx.modes:
            row[f"{mode} tok/s"] = d.at[mode, METRICS["tok_s"][0]] if mode in d.index else np.nan
            row[f"{mode} tok/J"] = d.at[mode, METRICS["tok_j"][0]] if mode in d.index and METRICS["tok_j"][0] in d else np.nan
        ts = pd.Series({m: row[f"{m} tok/s"] for m in ctx.modes}, dtype=float)
        tj = pd.Series({m: row[f"{m} tok/J"] for m in ctx.modes}, dtype=float)
        row["peak tok/s mode"] = ts.idxmax() if ts.notna().any() else ""
        row["peak tok/J mode"] = tj.idxmax() if tj.notna().any() else ""
        rows.append(row)
    return pd.DataFrame(rows)


def backend_ratio_by_mode(ctx: Context, key: str, other: str, invert: bool = False) -> pd.DataFrame:
    """Blog Tables 6-8: ratio per model x mode at the canonical cell (Table 8 power is other ÷ ref)."""
    c = ctx.cell(*ctx.canonical).set_index(["model", "mode", "backend"])
    col = METRICS[key][0]
    rows = []
    for model in ctx.models:
        row = {"Model": model}
        for mode in ctx.modes:
            a = c[col].get((model, mode, ctx.ref_backend), np.nan) if col in c else np.nan
            b = c[col].get((model, mode, other), np.nan) if col in c else np.nan
            r = (b / a) if invert else (a / b)
            row[mode] = r if np.isfinite(r) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def best_total_tok_j(ctx: Context) -> pd.DataFrame:
    """Blog §3.5: best total tok/J per model (params, GGUF MB, value, where)."""
    s = ctx.summary
    rows = []
    for model in ctx.models:
        d = s[s["model"] == model]
        v = pd.to_numeric(_get(d, "total_tok_per_j"), errors="coerce")
        base = {"Model": model, "Params (M)": _get(d, "params_m").iloc[0] if len(d) else np.nan,
                "GGUF MB": _get(d, "model_size_bytes").iloc[0] / 1e6 if len(d) else np.nan}
        if v.notna().any():
            i = v.idxmax()
            base.update({"Best total tok/J": v[i], "Backend": d.at[i, "backend"], "Mode": d.at[i, "mode"],
                         "ctx": d.at[i, "ctx"], "gen": d.at[i, "gen"]})
        else:
            base.update({"Best total tok/J": np.nan, "Backend": "", "Mode": "", "ctx": np.nan, "gen": np.nan})
        rows.append(base)
    return pd.DataFrame(rows)


def head_to_head(ctx: Context, mode: str, other: str) -> pd.DataFrame:
    """Blog §4.1: one mode, both backends side by side at the canonical cell with ratios."""
    c = ctx.cell(*ctx.canonical)
    c = c[c["mode"] == mode].set_index(["model", "backend"])
    rows = []
    for model in ctx.models:
        row = {"Model": model}
        for key in ("tok_s", "tok_j"):
            col = METRICS[key][0]
            a = c[col].get((model, ctx.ref_backend), np.nan) if col in c else np.nan
            b = c[col].get((model, other), np.nan) if col in c else np.nan
            row[f"{key} {ctx.ref_backend}"] = a
            row[f"{key} {other}"] = b
            row[f"{key} ratio"] = a / b if np.isfinite(a / b) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
