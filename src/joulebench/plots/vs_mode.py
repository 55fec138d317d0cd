"""'vs mode' line charts: x = modes, one colour per model, solid = reference backend, dashed = others."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import style
from .common import ResultsView, long_table, rows_by
from .uncertainty import yerr


def vs_mode_data(view: ResultsView, column: str, ctx_len: int, gen: int) -> pd.DataFrame:
    """Long table (model, mode-series, value, lo, hi) for one (ctx, gen); missing cells are NaN rows."""
    return long_table(view, column, ctx_len, gen)


def draw_vs_mode(view: ResultsView, ax, data: pd.DataFrame, ylabel: str, legend: bool = True):
    x = np.arange(len(view.modes))
    rows = rows_by(data, ["model", "backend"], "mode", view.modes)
    for model in view.models:
        for backend in view.backends:
            d = rows(model, backend)
            if not d["value"].notna().any():
                continue
            st = style.backend_line(backend, view.backends)
            label = model if len(view.backends) == 1 else f"{model} ({style.backend_label(backend)})"
            ax.errorbar(x, d["value"], yerr=yerr(d["value"], d["lo"], d["hi"]), color=view.model_colour[model],
                        linestyle=st["linestyle"], marker=st["marker"], alpha=st["alpha"], capsize=3,
                        label=label, markersize=5, linewidth=1.6)
    ax.set_xticks(x, view.modes)
    ax.set_xlim(-0.4, len(view.modes) - 0.6)
    ax.set_xlabel("power mode")
    ax.set_ylabel(ylabel)
    if legend and ax.get_legend_handles_labels()[0]:  # nothing drawn: the chart becomes a placeholder
        ax.legend(fontsize=7, ncol=1 if len(view.models) * len(view.backends) <= 8 else 2,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0))


def build_vs_mode(view: ResultsView, key: str, ctx_len: int, gen: int):
    column, label, _ = view.metrics[key]
    data = vs_mode_data(view, column, ctx_len, gen)
    fig, ax = plt.subplots(figsize=(13, 7))
    draw_vs_mode(view, ax, data, label)
    per_cell = ", p50 of the cell" if column.endswith("_p50") else ""
    ax.set_title(view.title(f"{label} vs power mode (ctx {ctx_len}, gen {gen}{per_cell})"))
    return fig, data


def build_stacked(view: ResultsView, keys: list[str], ctx_len: int, gen: int, ref_lines: dict | None = None):
    """Several vs-mode panels stacked with a shared x (the seed's appendix A/H charts)."""
    frames = [vs_mode_data(view, view.metrics[k][0], ctx_len, gen).assign(metric=view.metrics[k][0]) for k in keys]
    lines = {i: (ref_lines or {})[k] for i, k in enumerate(keys) if k in (ref_lines or {})}  # metric key -> panel
    return draw_stacked(view, frames, [view.metrics[k][1] for k in keys], lines,
                        f"{' / '.join(view.metrics[k][1] for k in keys)} vs mode (ctx {ctx_len}, gen {gen})")


def draw_stacked(view: ResultsView, frames: list[pd.DataFrame], labels: list[str], ref_lines: dict, title: str):
    """Panels of vs-mode lines sharing x; one figure legend built from every panel (a panel without
    data cannot take the legend with it). `ref_lines`: panel index -> y of a red dotted line."""
    fig, axes = plt.subplots(len(frames), 1, figsize=(13, 5 * len(frames)), sharex=True, squeeze=False)
    for i, (ax, data, label) in enumerate(zip(axes[:, 0], frames, labels)):
        draw_vs_mode(view, ax, data, label, legend=False)
        if i in ref_lines and data["value"].notna().any():
            ax.axhline(ref_lines[i], color="red", linestyle=":", linewidth=1.2)
        if not data["value"].notna().any():
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center")
        if i < len(frames) - 1:
            ax.set_xlabel("")
    style.figure_legend(fig, axes[:, 0], ncol=1 if len(view.models) * len(view.backends) <= 16 else 2)
    axes[0, 0].set_title(view.title(title))
    fig.tight_layout()
    return fig, pd.concat(frames, ignore_index=True)


def build_thermal_lines(view: ResultsView, tj_line: float = 95.0):
    """Appendix B.1: per model and backend, over the model's whole window (all its cells of a mode):
    power (median of the cells' window medians) on top, peak TJ (max over the cells) below."""
    from .tables import thermal_summary

    t = thermal_summary(view)
    power_label = view.rail_label("power_w_seed_median", "power, model window (W)")
    frames = []
    for column, metric in (("Median of cell medians (W)", "window_power_w"), ("Peak TJ °C", "window_tj_peak_c")):
        d = (t.rename(columns={"Model": "model", "Backend": "backend", "Mode": "mode"})
             [["model", "backend", "mode", column]].rename(columns={column: "value"}) if not t.empty
             else pd.DataFrame(columns=["model", "backend", "mode", "value"]))
        frames.append(d.assign(lo=np.nan, hi=np.nan, metric=metric, cells=t["cells"] if not t.empty else None))
    fig, data = draw_stacked(view, frames, [power_label, "peak TJ, model window (°C)"], {1: tj_line},
                             f"model window (all cells of each mode): power = median of the cells' window medians, "
                             f"peak TJ = max over the cells; red dotted = {tj_line:g} °C")
    if frames[1]["value"].notna().any():
        lo, hi = fig.axes[1].get_ylim()
        fig.axes[1].set_ylim(min(lo, 40), max(hi, 100))
    return fig, data
