"""Energy-specific views: energy per request vs generation length, prefill-resolution map,
power heatmaps, tok/s vs power scatter."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap

from . import style
from .style import figure_legend
from .common import ResultsView


def energy_vs_gen(view: ResultsView, ctx_len: int):
    """Fig 16, computed: total J per request vs gen, one panel per mode, model colours, backend line styles."""
    col = view.metrics["e_total"][0]
    s = view.cell(ctx_len)
    n = len(view.modes)
    fig, axes = plt.subplots(1, n, figsize=(max(8, 5 * n), 5.5), sharey=True, squeeze=False)
    rows = []
    for ax, mode in zip(axes[0], view.modes):
        for model in view.models:
            for backend in view.backends:
                d = s[(s["mode"] == mode) & (s["model"] == model) & (s["backend"] == backend)].set_index("gen")
                d = d.reindex(view.gens)
                v = d[col] if col in d else pd.Series(np.nan, index=view.gens)
                for g, val in v.items():
                    rows.append({"mode": mode, "model": model, "backend": backend, "ctx": ctx_len, "gen": g, "value": val})
                if v.notna().any():
                    st = style.backend_line(backend, view.backends)
                    ax.plot(view.gens, v.to_numpy(dtype=float), color=view.model_colour[model], label=
                            model if len(view.backends) == 1 else f"{model} ({style.backend_label(backend)})", **st)
        ax.set_title(mode, fontsize=10)
        ax.set_xlabel("generation length (tokens)")
        ax.set_xticks(view.gens)
    axes[0, 0].set_ylabel(view.metrics["e_total"][1])
    figure_legend(fig, axes.ravel())
    fig.suptitle(view.title(f"energy per request vs generation length (ctx {ctx_len}; measured, not derived)"))
    fig.tight_layout()
    return fig, pd.DataFrame(rows)


def prefill_resolved_map(view: ResultsView):
    """Which cells' prefill energy is resolved: 1 = resolved, 0 = measured but not resolved, NaN = no energy."""
    s = view.summary
    rows_idx = [(m, b, mo) for b in view.backends for m in view.modes for mo in view.models]
    cols_idx = [(c, g) for g in view.gens for c in view.ctxs]
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
    ax.set_yticks(range(len(rows_idx)), [f"{style.series_name(m, b, view.backends)} {mo}" for m, b, mo in rows_idx],
                  fontsize=6 if len(rows_idx) > 30 else 8)
    ax.set_xlabel("prompt / gen")
    ax.grid(False)
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color="#66bb6a", label="prefill resolved"), Patch(color="#ef5350", label="measured, not resolved"),
                       Patch(color="#bdbdbd", label="no energy measured"), Patch(color="white", label="cell missing")],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_title(view.title("which cells' prefill energy is resolved (enough sensor samples in the prefill window)"))
    return fig, pd.DataFrame(recs)


def power_heatmap(view: ResultsView, key: str, cmap: str):
    """EP_*: models x mode-series heatmap of a power column at the canonical cell."""
    col, label, _ = view.metrics[key]
    c = view.cell(*view.canonical).set_index(["model", "mode", "backend"])
    series = view.series()
    grid = np.array([[float(c.at[(m, mo, b), col]) if (m, mo, b) in c.index and col in c else np.nan
                      for mo, b, _ in series] for m in view.models])
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(series) + 3), max(3, 0.6 * len(view.models) + 2)))
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(series)), [t[2] for t in series], rotation=45, ha="right")
    ax.set_yticks(range(len(view.models)), view.models)
    ax.grid(False)
    fig.colorbar(im, ax=ax, label=label)
    ax.set_title(view.title(f"{label}, canonical cell ctx {view.canonical[0]}, gen {view.canonical[1]}"))
    data = pd.DataFrame(grid, index=view.models, columns=[t[2] for t in series]).reset_index(names="model")
    return fig, data


def tok_s_vs_power(view: ResultsView):
    """CHARTS_OLD 10: every cell, x = whole-window median power, y = tok/s; colour = model, marker = mode."""
    s = view.summary
    pcol, tcol = view.metrics["power"][0], view.metrics["tok_s"][0]
    fig, ax = plt.subplots(figsize=(11, 7))
    for model in view.models:
        for mode, backend, name in view.series():
            d = s[(s["model"] == model) & (s["mode"] == mode) & (s["backend"] == backend)]
            if pcol in d and d[pcol].notna().any():
                st = view.sstyle(mode, backend)
                ax.scatter(d[pcol], d[tcol], color=view.model_colour[model], marker=st["marker"], alpha=0.7, s=25)
    for model in view.models:
        d = s[s["model"] == model]
        if pcol in d and d[pcol].notna().any():
            ax.annotate(model, (d[pcol].mean(), d[tcol].mean()), fontsize=8, weight="bold")
    ax.set_xlabel(view.metrics["power"][1])
    ax.set_ylabel(view.metrics["tok_s"][1])
    ax.set_title(view.title("tok/s vs power, every cell (colour = model, marker = mode-series)"))
    data = s[["mode", "backend", "model", "ctx", "gen", tcol] + ([pcol] if pcol in s else [])]
    return fig, data
