"""'vs mode' line charts: x = modes, one colour per model, solid = reference backend, dashed = others."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import style
from .common import METRICS, Context
from .uncertainty import yerr


def vs_mode_data(ctx: Context, column: str, ctx_len: int, gen: int) -> pd.DataFrame:
    """Long table model, backend, mode, value, lo, hi for one (ctx, gen); missing cells are NaN rows."""
    s = ctx.cell(ctx_len, gen).set_index(["model", "backend", "mode"])
    rows = []
    for model in ctx.models:
        for backend in ctx.backends:
            for mode in ctx.modes:
                key = (model, backend, mode)
                get = lambda c: float(s.at[key, c]) if key in s.index and c in s and pd.notna(s.at[key, c]) else np.nan  # noqa: E731
                rows.append({"model": model, "backend": backend, "mode": mode, "ctx": ctx_len, "gen": gen,
                             "value": get(column), "lo": get(f"{column}_lo"), "hi": get(f"{column}_hi")})
    return pd.DataFrame(rows)


def draw_vs_mode(ctx: Context, ax, data: pd.DataFrame, ylabel: str, legend: bool = True):
    x = np.arange(len(ctx.modes))
    for model in ctx.models:
        for backend in ctx.backends:
            d = data[(data["model"] == model) & (data["backend"] == backend)].set_index("mode").reindex(ctx.modes)
            if not d["value"].notna().any():
                continue
            st = style.backend_line(backend, ctx.backends)
            label = model if len(ctx.backends) == 1 else f"{model} ({style.backend_label(backend)})"
            ax.errorbar(x, d["value"], yerr=yerr(d["value"], d["lo"], d["hi"]), color=ctx.model_colour[model],
                        linestyle=st["linestyle"], marker=st["marker"], alpha=st["alpha"], capsize=3,
                        label=label, markersize=5, linewidth=1.6)
    ax.set_xticks(x, ctx.modes)
    ax.set_xlim(-0.4, len(ctx.modes) - 0.6)
    ax.set_xlabel("power mode")
    ax.set_ylabel(ylabel)
    if legend:
        ax.legend(fontsize=7, ncol=1 if len(ctx.models) * len(ctx.backends) <= 8 else 2,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0))


def build_vs_mode(ctx: Context, key: str, ctx_len: int, gen: int):
    column, label, _ = METRICS[key]
    data = vs_mode_data(ctx, column, ctx_len, gen)
    fig, ax = plt.subplots(figsize=(13, 7))
    draw_vs_mode(ctx, ax, data, label)
    ax.set_title(ctx.title(f"{label} vs power mode (ctx {ctx_len}, gen {gen}, p50 of the cell)"))
    return fig, data


def build_stacked(ctx: Context, keys: list[str], ctx_len: int, gen: int, ref_lines: dict | None = None):
    """Several vs-mode panels stacked with a shared x (the seed's appendix A/B/H charts)."""
    fig, axes = plt.subplots(len(keys), 1, figsize=(13, 5 * len(keys)), sharex=True, squeeze=False)
    frames = []
    for i, (ax, key) in enumerate(zip(axes[:, 0], keys)):
        column, label, _ = METRICS[key]
        data = vs_mode_data(ctx, column, ctx_len, gen).assign(metric=column)
        draw_vs_mode(ctx, ax, data, label, legend=i == 0)
        if ref_lines and key in ref_lines:
            ax.axhline(ref_lines[key], color="red", linestyle=":", linewidth=1.2)
        frames.append(data)
    axes[0, 0].set_title(ctx.title(f"{' / '.join(METRICS[k][1] for k in keys)} vs mode (ctx {ctx_len}, gen {gen})"))
    return fig, pd.concat(frames, ignore_index=True)
