"""The seed's tables, computed from the summary (CSV + Markdown). NaN = not measured (shown as blank/--)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import style
from .common import ResultsView

STATS = ["avg", "p50", "p90", "p99"]
FULL_BLOCKS = [("TTFT", "ttft_ms"), ("T2T", "ttst_ms"), ("ITL", "itl_ms")]
FULL_BLOCKS_2 = [("E2E tok/s", "e2e_output_tok_s"), ("RL", "latency_ms"), ("Prefill tok/s", "prefill_tok_s_per_user")]


def _get(df, col):
    return df[col] if col in df else pd.Series(np.nan, index=df.index)


def _median(df, col) -> float:
    """Median of a column's numbers; NaN where it has none (pandas would warn "Mean of empty slice"
    into the user's terminal on every sweep without a power sensor)."""
    x = pd.to_numeric(_get(df, col), errors="coerce")
    return float(x.median()) if x.notna().any() else np.nan


NOT_RECORDED = "not recorded"


def recorded_first(d: pd.DataFrame, col: str, scale: float = 1.0):
    """The first recorded value of `col` in `d` times `scale`, else "not recorded": a capture whose
    cell.json lacks the field (an older record, a server that does not report it) is a table cell
    that says so, not a crash on None."""
    v = pd.to_numeric(_get(d, col), errors="coerce").dropna()
    return float(v.iloc[0]) * scale if len(v) else NOT_RECORDED


def cell_active_s(d: pd.DataFrame) -> pd.Series:
    """Active (request) seconds a cell's energy covers: e_total_j / p_active_w."""
    return pd.to_numeric(_get(d, "e_total_j"), errors="coerce") / pd.to_numeric(_get(d, "p_active_w"), errors="coerce")


def cell_energy_on(d: pd.DataFrame, rail: str, energy_rail: str) -> pd.Series:
    """A cell's request energy on `rail`: its per-rail columns, else e_total_j when that is the energy
    rail (or no rail is named); another rail without its columns was not measured: NaN."""
    pre, dec = f"rail_{rail}_prefill_j", f"rail_{rail}_decode_j"
    if rail and pre in d and dec in d:
        return pd.to_numeric(d[pre], errors="coerce") + pd.to_numeric(d[dec], errors="coerce")
    if not rail or rail == energy_rail:
        return pd.to_numeric(_get(d, "e_total_j"), errors="coerce")
    return pd.Series(np.nan, index=d.index)


def window_mean_power(view: ResultsView) -> pd.DataFrame:
    """The seed's "Avg Power": the mean of every power sample in one model's benchmark window (all its
    cells of one mode and backend), on the seed's rail. From a summary: the cells' request energy on
    that rail ÷ their active seconds (a time-weighted mean, which is what the sample mean estimates).
    One row per backend x model x mode."""
    s = view.summary
    energy = cell_energy_on(s, view.ref_rail, view.energy_rail)
    t = cell_active_s(s)
    ok = energy.notna() & t.notna() & (t > 0)
    g = pd.DataFrame({"backend": s["backend"], "model": s["model"], "mode": s["mode"],
                      "e": energy.where(ok), "t": t.where(ok)}).groupby(["backend", "model", "mode"], sort=False)
    out = g[["e", "t"]].sum(min_count=1)
    out["window_mean_w"] = out["e"] / out["t"]
    out["cells"] = g["e"].count()
    return out.reset_index()


def _window_power_of(view: ResultsView, d: pd.DataFrame) -> pd.Series:
    w = window_mean_power(view).set_index(["backend", "model", "mode"])["window_mean_w"]
    keys = pd.MultiIndex.from_frame(d[["backend", "model", "mode"]])
    return pd.Series(w.reindex(keys).to_numpy(), index=d.index)


def full_results(view: ResultsView, mode: str, backend: str) -> pd.DataFrame:
    """§8.1 'Full Results': one row per cell, the seed's 33 columns (Power = the model window's mean W,
    Tok/J = Tok/s avg ÷ that, as the seed's bench scripts), then joulebench's own figures beside them."""
    s = view.summary[(view.summary["mode"] == mode) & (view.summary["backend"] == backend)].copy()
    s["_m"] = s["model"].map({m: i for i, m in enumerate(view.models)})
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
    t["Power (W)"] = _window_power_of(view, s)
    t["Tok/J"] = t["Tok/s (avg)"] / t["Power (W)"]
    # joulebench's figures for the same cell, under their own names
    t["Cell median power (W)"] = _get(s, "power_w_seed_median")
    t["Decode tok/J (joulebench)"] = _get(s, "decode_tok_per_j")
    return t.reset_index(drop=True)


def best_tok_j_per_model(view: ResultsView) -> pd.DataFrame:
    """§8.1 'Best Output Tok/J per Model' (per backend, over all modes and cells): the seed's Tok/J
    (Tok/s avg ÷ model-window mean W), and beside it the best decode tok/J, which is a different quantity."""
    rows = []
    s = view.summary
    for backend in view.backends:
        for model in view.models:
            d = s[(s["backend"] == backend) & (s["model"] == model)]
            if d.empty:
                continue
            power = _window_power_of(view, d)
            v = pd.to_numeric(_get(d, "output_tok_s_per_user_avg"), errors="coerce") / power
            jb = pd.to_numeric(_get(d, "decode_tok_per_j"), errors="coerce")
            row = {"Backend": backend, "Model": model, "Quant": _get(d, "quant").iloc[0]}
            if v.notna().any():
                i = v.idxmax()
                row.update({"Best Tok/J": v[i], "Mode": d.at[i, "mode"], "ISL": d.at[i, "ctx"], "OSL": d.at[i, "gen"],
                            "Tok/s": _get(d, "output_tok_s_per_user_avg")[i], "Power (W)": power[i]})
            else:
                row.update({"Best Tok/J": np.nan, "Mode": "", "ISL": np.nan, "OSL": np.nan, "Tok/s": np.nan,
                            "Power (W)": np.nan})
            if jb.notna().any():
                j = jb.idxmax()
                row.update({"Best decode tok/J (joulebench)": jb[j],
                            "at mode/ISL/OSL": f"{d.at[j, 'mode']}/{d.at[j, 'ctx']}/{d.at[j, 'gen']}",
                            "Decode power (W)": _get(d, "p_decode_w")[j]})
            else:
                row.update({"Best decode tok/J (joulebench)": np.nan, "at mode/ISL/OSL": "", "Decode power (W)": np.nan})
            rows.append(row)
    return pd.DataFrame(rows)


def median_power_per_model_mode(view: ResultsView) -> pd.DataFrame:
    """The seed's console table 'median power per model x mode': median of the cells' whole-window
    median power over every (ctx, gen) cell, one column per mode-series."""
    s = view.summary
    rows = []
    for model in view.models:
        row = {"Model": model}
        for mode, backend, name in view.series():
            d = s[(s["model"] == model) & (s["mode"] == mode) & (s["backend"] == backend)]
            row[name] = _median(d, "power_w_seed_median")
        rows.append(row)
    return pd.DataFrame(rows)


def thermal_summary(view: ResultsView, tj_limit: float = 85.0) -> pd.DataFrame:
    """§8.1 'Thermal Summary' per backend x model x mode over the model's whole window (all its cells):
    Avg Power = mean of the window's samples (seed definition, see window_mean_power), the median of
    the cells' window medians beside it, mean CPU/GPU °C, peak TJ, throttled."""
    s = view.summary
    window = window_mean_power(view).set_index(["backend", "model", "mode"])
    rows = []
    for backend in view.backends:
        for model in view.models:
            for mode in view.modes:
                d = s[(s["backend"] == backend) & (s["model"] == model) & (s["mode"] == mode)]
                if d.empty:
                    continue
                tj = pd.to_numeric(_get(d, "temp_tj_peak_c"), errors="coerce").max()
                thr = _get(d, "throttled")
                thr_any = bool(thr.fillna(False).astype(bool).any()) if thr.notna().any() else (
                    bool(tj > tj_limit) if np.isfinite(tj) else None)
                key = (backend, model, mode)
                rows.append({"Backend": backend, "Model": model, "Mode": mode,
                             "Avg Power (W)": window.at[key, "window_mean_w"] if key in window.index else np.nan,
                             "Median of cell medians (W)": _median(d, "power_w_seed_median"),
                             "Avg CPU °C": pd.to_numeric(_get(d, "temp_cpu_mean_c"), errors="coerce").mean(),
                             "Avg GPU °C": pd.to_numeric(_get(d, "temp_gpu_mean_c"), errors="coerce").mean(),
                             "Peak TJ °C": tj, "Throttled": "" if thr_any is None else ("yes" if thr_any else "no"),
                             "cells": len(d)})
    return pd.DataFrame(rows)


def fastest_per_mode(view: ResultsView) -> pd.DataFrame:
    """Blog Table 1: per mode and backend, the fastest model at the canonical cell, its tok/s and tok/J
    (the seed's decode tok/J), joulebench's decode tok/J beside it."""
    c = view.cell(*view.canonical)
    rows = []
    for mode in view.modes:
        for backend in view.backends:
            d = c[(c["mode"] == mode) & (c["backend"] == backend)]
            v = pd.to_numeric(_get(d, view.col("tok_s")), errors="coerce")
            if v.notna().any():
                i = v.idxmax()
                rows.append({"Mode": mode, "Backend": backend, "Fastest model": d.at[i, "model"], "Tok/s": v[i],
                             "Tok/J": _get(d, view.col("seed_decode_tok_j"))[i],
                             "Decode tok/J (joulebench)": _get(d, view.col("decode_tok_j"))[i]})
    return pd.DataFrame(rows)


def power_modes(view: ResultsView) -> pd.DataFrame:
    """Blog Table 5: per mode, what was in force and the measured power range."""
    s = view.summary
    rows = []
    for mode in view.modes:
        d = s[s["mode"] == mode]
        p = pd.to_numeric(_get(d, "p_active_w"), errors="coerce")
        rows.append({"Mode": mode, "In force": str(d["mode_in_force"].iloc[0]) if "mode_in_force" in d else "",
                     "GPU clock mean (MHz)": pd.to_numeric(_get(d, "gpu_clock_mhz_mean"), errors="coerce").mean(),
                     "Active power min (W)": p.min(), "Active power max (W)": p.max()})
    return pd.DataFrame(rows)


def peak_modes(values: pd.Series, decimals: int = 2) -> str:
    """The mode(s) with the largest value, ties at the printed precision joined as the blog does ("15W/25W")."""
    v = pd.to_numeric(values, errors="coerce").round(decimals)
    if not v.notna().any():
        return ""
    return "/".join(str(m) for m in v.index[v == v.max()])


def canonical_per_backend(view: ResultsView, backend: str) -> pd.DataFrame:
    """Blog Tables 9/10: canonical tok/s and tok/J per model x mode (tok/J = the seed's decode tok/J),
    the peak tok/J mode with its tok/s and tok/J, and joulebench's decode tok/J beside them."""
    c = view.cell(*view.canonical)
    c = c[c["backend"] == backend]
    ts_col, ref_col, jb_col = view.col("tok_s"), view.col("seed_decode_tok_j"), view.col("decode_tok_j")
    rows = []
    for model in view.models:
        d = c[c["model"] == model].drop_duplicates("mode").set_index("mode").reindex(view.modes)
        ts, tj, jb = (pd.to_numeric(_get(d, k), errors="coerce") for k in (ts_col, ref_col, jb_col))
        row = {"Model": model}
        for mode in view.modes:
            row[f"{mode} tok/s"] = ts[mode]
            row[f"{mode} tok/J"] = tj[mode]
        peak = peak_modes(tj)
        first = peak.split("/")[0] if peak else None
        row.update({"Peak": peak, "tok/s at peak": ts[first] if first else np.nan,
                    "tok/J at peak": tj[first] if first else np.nan})
        for mode in view.modes:
            row[f"{mode} decode tok/J (joulebench)"] = jb[mode]
        row["Peak (joulebench)"] = peak_modes(jb)
        rows.append(row)
    return pd.DataFrame(rows)


# blog Tables 6-8: (metric key of the seed's definition, joulebench's quantity beside it or None,
# True = other ÷ reference as the blog's Table 8)
RATIO_TABLES = {
    "table6_tok_s_ratio_by_mode": ("tok_s", None, False),
    "table7_tok_j_ratio_by_mode": ("seed_decode_tok_j", "decode_tok_j", False),
    "table8_power_ratio_by_mode": ("seed_p_decode", "p_decode", True),
}


def backend_ratio_by_mode(view: ResultsView, key: str, other: str, invert: bool = False,
                          beside: str | None = None) -> pd.DataFrame:
    """Blog Tables 6-8: ratio per model x mode at the canonical cell, reference ÷ other (other ÷
    reference with invert, as the blog's Table 8). Column names say which backend is divided by which;
    `beside` adds the same ratio of joulebench's quantity under its own name."""
    c = view.cell(*view.canonical).drop_duplicates(["model", "mode", "backend"]).set_index(["model", "mode", "backend"])
    ref, oth = style.backend_label(view.ref_backend), style.backend_label(other)
    direction = f"{oth} ÷ {ref}" if invert else f"{ref} ÷ {oth}"
    rows = []
    for model in view.models:
        row = {"Model": model}
        for k, suffix in ((key, ""), (beside, f" {view.col(beside)} (joulebench)" if beside else "")):
            if k is None:
                continue
            col = view.col(k)
            for mode in view.modes:
                a = c[col].get((model, mode, view.ref_backend), np.nan) if col in c else np.nan
                b = c[col].get((model, mode, other), np.nan) if col in c else np.nan
                r = (b / a) if invert else (a / b)
                row[f"{mode} ({direction}){suffix}"] = r if np.isfinite(r) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def best_total_tok_j(view: ResultsView) -> pd.DataFrame:
    """Blog §3.5: best total tok/J per model on the reference backend over every mode and cell, the
    seed's definition (seed_total_tok_per_j); joulebench's total tok/J and where it peaks beside it."""
    s = view.summary[view.summary["backend"] == view.ref_backend]
    rows = []
    for model in view.models:
        d = s[s["model"] == model]
        base = {"Model": model, "Params (M)": recorded_first(d, "params_m"),
                "GGUF MB": recorded_first(d, "model_size_bytes", scale=1e-6)}
        for label, col in (("Best total tok/J", "seed_total_tok_per_j"),
                           ("Best total tok/J (joulebench)", "total_tok_per_j")):
            v = pd.to_numeric(_get(d, col), errors="coerce")
            where = f"At mode / ctx / gen{' (joulebench)' if 'joulebench' in label else ''}"
            if v.notna().any():
                i = v.idxmax()
                base.update({label: v[i], where: f"{d.at[i, 'mode']} / {d.at[i, 'ctx']} / {d.at[i, 'gen']}"})
            else:
                base.update({label: np.nan, where: ""})
        rows.append(base)
    return pd.DataFrame(rows)


def head_to_head(view: ResultsView, mode: str, other: str) -> pd.DataFrame:
    """Blog §4.1: one mode, both backends side by side at the canonical cell with ratios
    (tok/J: the seed's decode tok/J, joulebench's beside it)."""
    c = view.cell(*view.canonical)
    c = c[c["mode"] == mode].drop_duplicates(["model", "backend"]).set_index(["model", "backend"])
    ref, oth = style.backend_label(view.ref_backend), style.backend_label(other)
    rows = []
    for model in view.models:
        row = {"Model": model}
        for key, name in (("tok_s", "tok/s"), ("seed_decode_tok_j", "tok/J"), ("decode_tok_j", "decode tok/J (joulebench)")):
            col = view.col(key)
            a = c[col].get((model, view.ref_backend), np.nan) if col in c else np.nan
            b = c[col].get((model, other), np.nan) if col in c else np.nan
            row[f"{ref} {name}"] = a
            row[f"{oth} {name}"] = b
            row[f"{name} ratio ({ref} ÷ {oth})"] = a / b if np.isfinite(a / b) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
