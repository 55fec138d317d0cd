"""Energy-specific views: energy per request vs generation length, prefill-resolution map,
power heatmaps, tok/s vs power scatter."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap

from . import style
from .common import METRICS, Context


def energy_vs_gen(ctx: Context, ctx_len: int):
    """Fig 16, computed: total J per request vs gen, one panel per mode, model colours, backend line styles."""
    col = METRICS["e_total"][0]
    s = ctx.cell(ctx_len)
    n = len(ctx.modes)
    fig, axes = plt.subplots(1, n, figsize=(max(8, 5 * n), 5.5), sharey=True, squeeze=False)
    rows = []
    for ax, mode in zip(axes[0], ctx.modes):
        for model in ctx.models:
            for backend in ctx.backends:
                d = s[(s["mode"] == mode) & (s["model"] == model) & (s["backend"] == backend)].set_index("gen")
                d = d.reindex(ctx.gens)
                v = d[col] if col in d else pd.Series(np.nan, index=ctx.gens)
                for g, val in v.items():
                    rows.append({"mode": mode, "model": model, "backend": backend, "ctx": ctx_len, "gen": g, "value": val})
                if v.notna().any():
                    st = style.backend_line(backend, ctx.backends)
                    ax.plot(ctx.gens, v.to_numpy(dtype=float), color=ctx.model_colour[model], label=
                            model if len(ctx.backends) == 1 else f"{model} ({style.backend_label(backend)})", **st)
        ax.set_title(mode, fontsize=10)
        ax.set_xlabel("generation length (tokens)")
        ax.set_xticks(ctx.gens)
    axes[0, 0].set_ylabel(METRICS["e_total"][1])
    axes[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(ctx.title(f"energy per request vs generation length (ctx {ctx_len}; measured, not derived)"))
    fig.tight_layout()
    return fig, pd.DataFrame(rows)


def prefill_resolved_map(ctx: Context):
    """Which cells' prefill energy is resolved: 1 = resolved, 0 = measured but not resolved, NaN = no energy."""
    s = ctx.summary
    rows_idx = [(m, b, mo) for b in ctx.backends for m in ctx.modes for mo in ctx.models]
    cols_idx = [(c, g) for g in ctx.gens for c in ctx.ctxs]
    grid = np.full((len(rows_idx), len(cols_idx)), np.nan)
    recs = []
    key = s.set_index(["mode", "backend", "model", "ctx", "gen"])
    for i, (m, b, mo) in enumerate(rows_idx):
        for j, (c, g) in enumerate(cols_idx):
            k = (m, b, mo, c, g)
            if k not in key.index:
                state = "missing cell"
            else:
                measured = "e_prefill_j" in key and pd.notna(key.at[k, "e_prefill_j"]) or (
                    "energy_method" in key and key.at[k, "energy_method"] not in (None, "none"))
                res = key.at[k, "prefill_resolved"] if "prefill_resolved" in key else False
                res = bool(res) if pd.notna(res) else False
                grid[i, j] = 1.0 if res else (0.0 if measured else -1.0)
                state = "resolved" if res else ("unresolved" if measured else "no energy")
            recs.append({"mode": m, "backend": b, "model": mo, "ctx": c, "gen": g, "prefill": state})
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(cols_idx) + 4), max(3, 0.22 * len(rows_idx) + 2)))
    cmap = ListedColormap(["#bdbdbd", "#ef5350", "#66bb6a"])
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-1.5, vmax=1.5, aspect="auto")
    ax.set_xticks(range(len(cols_idx)), [f"{c}/{g}" for c, g in cols_idx], rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows_idx)), [f"{style.series_name(m, b, ctx.backends)} {mo}" for m, b, mo in rows_idx],
                  fontsize=6 if len(rows_idx) > 30 else 8)
    ax.set_xlabel("prompt / gen")
    ax.grid(False)
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color="#66bb6a", label="prefill resolved"), Patch(color="#ef5350", label="measured, not resolved"),
                       Patch(color="#bdbdbd", label="no energy measured"), Patch(color="white", label="cell missing")],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_title(ctx.title("which cells' prefill energy is resolved (enough sensor samples in the prefill window)"))
    return fig, pd.DataFrame(recs)


def power_heatmap(ctx: Context, key: str, cmap: str):
    """EP_*: models x mode-series heatmap of a power column at the canonical cell."""
    col, label, _ = METRICS[key]
    c = ctx.cell(*ctx.canonical).set_index(["model", "mode", "backend"])
    series = ctx.series()
    grid = np.array([[float(c.at[(m, mo, b), col]) if (m, mo, b) in c.index and col in c else np.nan
                      for mo, b, _ in series] for m in ctx.models])
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(series) + 3), max(3, 0.6 * len(ctx.models) + 2)))
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(series)), [t[2] for t in series], rotation=45, ha="right")
    ax.set_yticks(range(len(ctx.models)), ctx.models)
    ax.grid(False)
    fig.colorbar(im, ax=ax, label=label)
    ax.set_title(ctx.title(f"{label}, canonical cell ctx {ctx.canonical[0]}, gen {ctx.canonical[1]}"))
    data = pd.DataFrame(grid, index=ctx.models, columns=[t[2] for t in series]).reset_index(names="model")
    return fig, data


def tok_s_vs_power(ctx: Context):
    """CHARTS_OLD 10: every cell, x = whole-window median power, y = tok/s; colour = model, marker = mode."""
    s = ctx.summary
    pcol, tcol = METRICS["power"][0], METRICS["tok_s"][0]
    fig, ax = plt.subplots(figsize=(11, 7))
    for model in ctx.models:
        for mode, backend, name in ctx.series():
            d = s[(s["model"] == model) & (s["mode"] == mode) & (s["backend"] == backend)]
            if pcol in d and d[pcol].notna().any():
                st = ctx.sstyle(mode, backend)
                ax.scatter(d[pcol], d[tcol], color=ctx.model_colour[model], marker=st["marker"], alpha=0.7, s=25)
    for model in ctx.models:
        d = s[s["model"] == model]
        if pcol in d and d[pcol].notna().any():
            ax.annotate(model, (d[pcol].mean(), d[tcol].mean()), fontsize=8, weight="bold")
    ax.set_xlabel(METRICS["power"][1])
    ax.set_ylabel(METRICS["tok_s"][1])
    ax.set_title(ctx.title("tok/s vs power, every cell (colour = model, marker = mode-series)"))
    data = s[["mode", "backend", "model", "ctx", "gen", tcol] + ([pcol] if pcol in s else [])]
    return fig, data
