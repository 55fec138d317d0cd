"""Faceted line charts: one panel per model (up to 4 columns), x = prompt or generation length,
one line per mode-series, shared y from 0 to 1.15 x max, shared legend at the bottom."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .common import ResultsView, long_table, rows_by
from .uncertainty import yerr


def facet_data(view: ResultsView, column: str, along: str, fixed: int) -> pd.DataFrame:
    other = "gen" if along == "ctx" else "ctx"
    return long_table(view, column, along=along, **{"prompt" if other == "ctx" else "gen": fixed})


def build_facet(view: ResultsView, key: str, along: str, fixed: int):
    column, label, _ = view.metrics[key]
    data = facet_data(view, column, along, fixed)
    n = len(view.models)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 4.2 * nrows + 1.2), sharey=True, squeeze=False)
    xs = view.ctxs if along == "ctx" else view.gens
    handles = {}
    rows = rows_by(data, ["model", "series"], along, xs)
    for i, model in enumerate(view.models):
        ax = axes[i // ncols, i % ncols]
        for mode, backend, name in view.series():
            d = rows(model, name)
            if not d["value"].notna().any():
                continue
            st = view.sstyle(mode, backend)
            h = ax.errorbar(range(len(xs)), d["value"], yerr=yerr(d["value"], d["lo"], d["hi"]), capsize=2,
                            markersize=4, linewidth=1.4, label=name, **st)
            handles[name] = h
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        ax.set_title(model, fontsize=10)
        ax.set_xlabel("prompt length (tokens)" if along == "ctx" else "generation length (tokens)")
        if i % ncols == 0:
            ax.set_ylabel(label)
    for j in range(n, nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    top = np.nanmax(np.r_[data["value"].to_numpy(dtype=float), data["hi"].to_numpy(dtype=float)])\
        if data["value"].notna().any() else 1.0
    axes[0, 0].set_ylim(0, 1.15 * top)
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=min(8, len(handles)),
                   fontsize=8, bbox_to_anchor=(0.5, 0.0))
    other = "gen" if along == "ctx" else "ctx"
    fig.suptitle(view.title(f"{label} vs {'prompt' if along == 'ctx' else 'generation'} length ({other} {fixed})"))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig, data
