"""Beyond the seed: per model, the Pareto front of tok/s vs tok/J over (mode, backend) at the
canonical cell, and the recommended mode for 'fastest', 'most efficient' and 'balanced'."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .common import ResultsView


def pareto_front(points: pd.DataFrame, x: str = "tok_s", y: str = "tok_j") -> pd.Series:
    """True for points no other point beats on both x and y (both higher-is-better); NaN -> False."""
    v = points[[x, y]].to_numpy(dtype=float)
    ok = np.isfinite(v).all(axis=1)
    front = np.zeros(len(v), dtype=bool)
    for i in np.flatnonzero(ok):
        others = v[ok]
        dominated = ((others[:, 0] >= v[i, 0]) & (others[:, 1] >= v[i, 1]) &
                     ((others[:, 0] > v[i, 0]) | (others[:, 1] > v[i, 1]))).any()
        front[i] = not dominated
    return pd.Series(front, index=points.index)


def draw_front(ax, points: pd.DataFrame, x: str, y: str) -> None:
    """The points flagged `on_front`, joined by a dashed black line in x order."""
    f = points[points["on_front"]].sort_values(x)
    if not f.empty:
        ax.plot(f[x], f[y], color="black", linewidth=1, linestyle="--", zorder=2)


def pareto_data(view: ResultsView) -> pd.DataFrame:
    c = view.cell(*view.canonical)
    d = pd.DataFrame({"model": c["model"], "mode": c["mode"], "backend": c["backend"],
                      "tok_s": pd.to_numeric(c[view.metrics["tok_s"][0]], errors="coerce"),
                      "tok_j": pd.to_numeric(c.get(view.metrics["tok_j"][0], np.nan), errors="coerce")})
    d["on_front"] = False
    for model, g in d.groupby("model"):
        d.loc[g.index, "on_front"] = pareto_front(g)
    return d.reset_index(drop=True)


def recommend(view: ResultsView, d: pd.DataFrame) -> pd.DataFrame:
    """fastest = max tok/s; most efficient = max tok/J; balanced = the Pareto point with the largest
    geometric mean of tok/s and tok/J, each divided by the model's best (1.0 = best at both)."""
    rows = []
    for model in view.models:
        g = d[d["model"] == model]
        row = {"model": model}
        for use, col in (("fastest", "tok_s"), ("most efficient", "tok_j")):
            if g[col].notna().any():
                i = g[col].idxmax()
                row[use] = f"{g.at[i, 'mode']}/{g.at[i, 'backend']}"
                row[f"{use} tok/s"], row[f"{use} tok/J"] = g.at[i, "tok_s"], g.at[i, "tok_j"]
            else:
                row[use] = "not measured"
                row[f"{use} tok/s"] = row[f"{use} tok/J"] = np.nan
        f = g[g["on_front"]]
        if not f.empty:
            score = np.sqrt(f["tok_s"] / g["tok_s"].max() * f["tok_j"] / g["tok_j"].max())
            i = score.idxmax()
            row["balanced"] = f"{g.at[i, 'mode']}/{g.at[i, 'backend']}"
            row["balanced tok/s"], row["balanced tok/J"] = g.at[i, "tok_s"], g.at[i, "tok_j"]
            row["balanced score"] = score[i]
        else:
            row["balanced"] = "not measured (needs tok/J)"
            row["balanced tok/s"] = row["balanced tok/J"] = row["balanced score"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def build_pareto(view: ResultsView):
    d = pareto_data(view)
    n = len(view.models)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 4.2 * nrows + 1), squeeze=False)
    handles = {}
    for k, model in enumerate(view.models):
        ax = axes[k // ncols, k % ncols]
        g = d[d["model"] == model]
        for _, r in g.iterrows():
            if not (np.isfinite(r["tok_s"]) and np.isfinite(r["tok_j"])):
                continue
            st = view.sstyle(r["mode"], r["backend"])
            name = [t[2] for t in view.series() if t[0] == r["mode"] and t[1] == r["backend"]][0]
            h = ax.scatter(r["tok_s"], r["tok_j"], color=st["color"], marker=st["marker"], s=60,
                           edgecolor="black" if r["on_front"] else "none", zorder=3, label=name)
            handles[name] = h
        draw_front(ax, g, "tok_s", "tok_j")
        ax.set_title(model, fontsize=10)
        ax.set_xlabel(view.metrics["tok_s"][1])
        ax.set_ylabel(view.metrics["tok_j"][1])
    for j in range(n, nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=min(8, len(handles)), fontsize=8)
    fig.suptitle(view.title(f"Pareto front of tok/s vs tok/J per model (ctx {view.canonical[0]}, "
                           f"gen {view.canonical[1]}; dashed = front, outlined = on front)"))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig, d
