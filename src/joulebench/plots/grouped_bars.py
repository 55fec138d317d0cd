"""Grouped bars: x = models, one bar per mode-series, value labels on the bars (rotated 90°).

A missing cell is an absent bar, not a zero-height one."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .common import ResultsView, long_table
from .uncertainty import yerr


def cell_data(view: ResultsView, column: str, ctx_len: int, gen: int) -> pd.DataFrame:
    return long_table(view, column, ctx_len, gen)


def bar_label(v: float) -> str:
    """Three significant figures, never scientific notation for bar-sized numbers (1520, not 1.52e+03)."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def draw_grouped(view: ResultsView, ax, data: pd.DataFrame, ylabel: str, hatch_other: bool = False,
                 labels: bool = True):
    series = [t for t in view.series() if data.loc[data["series"] == t[2], "value"].notna().any()]
    n = max(len(series), 1)
    width = min(0.8 / n, 0.35)
    x = np.arange(len(view.models))
    for i, (mode, backend, name) in enumerate(series):
        d = data[data["series"] == name].set_index("model").reindex(view.models)
        st = view.sstyle(mode, backend)
        lo = d["lo"] if "lo" in d else np.nan
        hi = d["hi"] if "hi" in d else np.nan
        err = yerr(d["value"], lo, hi)
        has_err = np.isfinite(err).any()
        bars = ax.bar(x + (i - (n - 1) / 2) * width, d["value"], width, label=name, color=st["color"],
                      alpha=st["alpha"] if st["alpha"] < 1 else 0.95,
                      hatch="//" if hatch_other and backend != view.ref_backend else None,
                      yerr=err if has_err else None, capsize=2, error_kw={"elinewidth": 0.8})
        if labels:
            tops = np.fmax(d["value"].to_numpy(dtype=float), np.asarray(hi, dtype=float) * np.ones(len(d)))
            for b, v, t in zip(bars, d["value"], tops):
                if np.isfinite(v):
                    ax.text(b.get_x() + b.get_width() / 2, t, bar_label(v), rotation=90,
                            ha="center", va="bottom", fontsize=6)
    ax.set_xticks(x, view.models, rotation=20 if len(view.models) > 4 else 0, ha="right" if len(view.models) > 4 else "center")
    ax.set_xlim(-0.6, len(view.models) - 0.4)
    ax.set_ylabel(ylabel)
    top = np.nanmax(np.r_[data["value"].to_numpy(dtype=float), data.get("hi", data["value"]).to_numpy(dtype=float)])\
        if data["value"].notna().any() else 1.0
    ax.set_ylim(0, top * 1.25)
    return series


def _figsize(view):
    return (max(8, 2.6 * len(view.models) + 2), 6.5)


def build_cell_bars(view: ResultsView, key: str, ctx_len: int, gen: int, hatch_other: bool = False, title=None):
    column, label, _ = view.metrics[key]
    data = cell_data(view, column, ctx_len, gen)
    fig, ax = plt.subplots(figsize=_figsize(view))
    draw_grouped(view, ax, data, label, hatch_other=hatch_other)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(view.title(title or f"{label} at the canonical cell (ctx {ctx_len}, gen {gen})"))
    return fig, data


def build_data_bars(view: ResultsView, data: pd.DataFrame, ylabel: str, title: str, hline: float | None = None,
                    hatch_other: bool = False):
    fig, ax = plt.subplots(figsize=_figsize(view))
    draw_grouped(view, ax, data, ylabel, hatch_other=hatch_other)
    if hline is not None:
        ax.axhline(hline, color="black", linestyle=":", linewidth=1)
        ax.set_ylim(0, max(ax.get_ylim()[1], hline * 1.08))  # the reference line stays in view
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(view.title(title))
    return fig, data


def build_canonical_comparison(view: ResultsView, ctx_len: int, gen: int):
    """Blog Fig 2: tok/s (left) and tok/J (right) at the canonical cell."""
    fig, axes = plt.subplots(1, 2, figsize=(2 * max(7, 1.3 * len(view.models) + 2), 6.5))
    frames = []
    for ax, key in zip(axes, ("tok_s", "tok_j")):
        column, label, _ = view.metrics[key]
        d = cell_data(view, column, ctx_len, gen).assign(metric=column)
        draw_grouped(view, ax, d, label)
        if not d["value"].notna().any():
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center")
        ax.set_title(label, fontsize=10)
        frames.append(d)
    if axes[1].get_legend_handles_labels()[0] or axes[0].get_legend_handles_labels()[0]:
        axes[1].legend(*axes[0].get_legend_handles_labels(), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(view.title(f"canonical cell ctx {ctx_len}, gen {gen}: throughput and efficiency"))
    fig.tight_layout()
    return fig, pd.concat(frames, ignore_index=True)


def best_over_cells(view: ResultsView, column: str) -> pd.DataFrame:
    """Per model x mode-series: max of `column` over every (ctx, gen) cell, with where it was reached."""
    rows = []
    s = view.summary
    for model in view.models:
        for mode, backend, name in view.series():
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


def speedup_vs_reference(view: ResultsView, ref_mode: str) -> pd.DataFrame:
    """Chart 6: median tok/s over all cells of each series / that of the reference mode (reference backend)."""
    column = view.metrics["tok_s"][0]
    s = view.summary
    med = s.groupby(["model", "mode", "backend"])[column].median()
    rows = []
    for model in view.models:
        ref = med.get((model, ref_mode, view.ref_backend), np.nan)
        for mode, backend, name in view.series():
            if mode == ref_mode and backend == view.ref_backend:
                continue
            v = med.get((model, mode, backend), np.nan)
            rows.append({"model": model, "series": name, "mode": mode, "backend": backend,
                         "value": v / ref if ref and np.isfinite(ref) else np.nan, "lo": np.nan, "hi": np.nan})
    return pd.DataFrame(rows)
