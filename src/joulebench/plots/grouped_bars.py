"""Grouped bars: x = models, one bar per mode-series, value labels on the bars (rotated 90°).

A missing cell is an absent bar, not a zero-height one."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .common import METRICS, Context
from .uncertainty import yerr


def cell_data(ctx: Context, column: str, ctx_len: int, gen: int) -> pd.DataFrame:
    s = ctx.cell(ctx_len, gen).set_index(["model", "mode", "backend"])
    rows = []
    for model in ctx.models:
        for mode, backend, name in ctx.series():
            key = (model, mode, backend)
            get = lambda c: float(s.at[key, c]) if key in s.index and c in s and pd.notna(s.at[key, c]) else np.nan  # noqa: E731
            rows.append({"model": model, "series": name, "mode": mode, "backend": backend, "ctx": ctx_len,
                         "gen": gen, "value": get(column), "lo": get(f"{column}_lo"), "hi": get(f"{column}_hi")})
    return pd.DataFrame(rows)


def bar_label(v: float) -> str:
    """Three significant figures, never scientific notation for bar-sized numbers (1520, not 1.52e+03)."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def draw_grouped(ctx: Context, ax, data: pd.DataFrame, ylabel: str, hatch_other: bool = False,
                 labels: bool = True):
    series = [t for t in ctx.series() if data.loc[data["series"] == t[2], "value"].notna().any()]
    n = max(len(series), 1)
    width = min(0.8 / n, 0.35)
    x = np.arange(len(ctx.models))
    for i, (mode, backend, name) in enumerate(series):
        d = data[data["series"] == name].set_index("model").reindex(ctx.models)
        st = ctx.sstyle(mode, backend)
        lo = d["lo"] if "lo" in d else np.nan
        hi = d["hi"] if "hi" in d else np.nan
        err = yerr(d["value"], lo, hi)
        has_err = np.isfinite(err).any()
        bars = ax.bar(x + (i - (n - 1) / 2) * width, d["value"], width, label=name, color=st["color"],
                      alpha=st["alpha"] if st["alpha"] < 1 else 0.95,
                      hatch="//" if hatch_other and backend != ctx.ref_backend else None,
                      yerr=err if has_err else None, capsize=2, error_kw={"elinewidth": 0.8})
        if labels:
            tops = np.fmax(d["value"].to_numpy(dtype=float), np.asarray(hi, dtype=float) * np.ones(len(d)))
            for b, v, t in zip(bars, d["value"], tops):
                if np.isfinite(v):
                    ax.text(b.get_x() + b.get_width() / 2, t, bar_label(v), rotation=90,
                            ha="center", va="bottom", fontsize=6)
    ax.set_xticks(x, ctx.models, rotation=20 if len(ctx.models) > 4 else 0, ha="right" if len(ctx.models) > 4 else "center")
    ax.set_xlim(-0.6, len(ctx.models) - 0.4)
    ax.set_ylabel(ylabel)
    top = np.nanmax(np.r_[data["value"].to_numpy(dtype=float), data.get("hi", data["value"]).to_numpy(dtype=float)]) \
        if data["value"].notna().any() else 1.0
    ax.set_ylim(0, top * 1.25)
    return series


def _figsize(ctx):
    return (max(8, 2.6 * len(ctx.models) + 2), 6.5)


def build_cell_bars(ctx: Context, key: str, ctx_len: int, gen: int, hatch_other: bool = False, title=None):
    column, label, _ = METRICS[key]
    data = cell_data(ctx, column, ctx_len, gen)
    fig, ax = plt.subplots(figsize=_figsize(ctx))
    draw_grouped(ctx, ax, data, label, hatch_other=hatch_other)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(ctx.title(title or f"{label} at the canonical cell (ctx {ctx_len}, gen {gen})"))
    return fig, data


def build_data_bars(ctx: Context, data: pd.DataFrame, ylabel: str, title: str, hline: float | None = None,
                    hatch_other: bool = False):
    fig, ax = plt.subplots(figsize=_figsize(ctx))
    draw_grouped(ctx, ax, data, ylabel, hatch_other=hatch_other)
    if hline is not None:
        ax.axhline(hline, color="black", linestyle=":", linewidth=1)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(ctx.title(title))
    return fig, data


def build_canonical_comparison(ctx: Context, ctx_len: int, gen: int):
    """Blog Fig 2: tok/s (left) and tok/J (right) at the canonical cell."""
    fig, axes = plt.subplots(1, 2, figsize=(2 * max(7, 1.3 * len(ctx.models) + 2), 6.5))
    frames = []
    for ax, key in zip(axes, ("tok_s", "tok_j")):
        column, label, _ = METRICS[key]
        d = cell_data(ctx, column, ctx_len, gen).assign(metric=column)
        draw_grouped(ctx, ax, d, label)
        if not d["value"].notna().any():
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center")
        ax.set_title(label, fontsize=10)
        frames.append(d)
    if axes[1].get_legend_handles_labels()[0] or axes[0].get_legend_handles_labels()[0]:
        axes[1].legend(*axes[0].get_legend_handles_labels(), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(ctx.title(f"canonical cell ctx {ctx_len}, gen {gen}: throughput and efficiency"))
    fig.tight_layout()
    return fig, pd.concat(frames, ignore_index=True)


def best_over_cells(ctx: Context, column: str) -> pd.DataFrame:
    """Per model x mode-series: max of `column` over every (ctx, gen) cell, with where it was reached."""
    rows = []
    s = ctx.summary
    for model in ctx.models:
        for mode, backend, name in ctx.series():
            d = s[(s["model"] == model) & (s["mode"] == mode) & (s["backend"] == backend)]
            v = pd.to_numeric(d[column], errors="coerce") if column in d else pd.Series(dtype=float)
            if v.notna().any():
                i = v.idxmax()
                rows.append({"model": model, "series": name, "mode": mode, "backend": backend, "value": v[i],
                             "lo": d.at[i, f"{column}_lo"] if f"{column}_lo" in d else np.nan,
                             "hi": d.at[i, f"{column}_hi"] if f"{column}_hi" in d else np.nan,
                             "ctx": d.at[i, "ctx"], "gen": d.at[i, "gen"]})
            else:
                rows.append({"model": model, "series": name, "mode": mode, "backend": backend, "value": np.nan,
                             "lo": np.nan, "hi": np.nan, "ctx": np.nan, "gen": np.nan})
    return pd.DataFrame(rows)


def speedup_vs_reference(ctx: Context, ref_mode: str) -> pd.DataFrame:
    """Chart 6: median tok/s over all cells of each series / that of the reference mode (reference backend)."""
    column = METRICS["tok_s"][0]
    s = ctx.summary
    med = s.groupby(["model", "mode", "backend"])[column].median()
    rows = []
    for model in ctx.models:
        ref = med.get((model, ref_mode, ctx.ref_backend), np.nan)
        for mode, backend, name in ctx.series():
            if mode == ref_mode and backend == ctx.ref_backend:
                continue
            v = med.get((model, mode, backend), np.nan)
            rows.append({"model": model, "series": name, "mode": mode, "backend": backend,
                         "value": v / ref if ref and np.isfinite(ref) else np.nan, "lo": np.nan, "hi": np.nan})
    return pd.DataFrame(rows)
