"""Ratios: between power modes (the seed's speedup charts) and between backends (Appendix C, ratio tables)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import style
from .common import ResultsView, rows_by

# chart name -> (metric key, direction). "num/den": higher mode on top; "den/num": time metrics, so that
# > 1 still means "the higher mode is faster".
MODE_RATIO_CHARTS = {
    "12_speedup_ratios_comparison": ("tok_s", "num/den"),
    "13_ttft_speedup_ratios": ("ttft", "den/num"),
    "14_decode_time_speedup_ratios": ("decode_time", "den/num"),
    "18_prefill_tput_speedup_ratios": ("prefill_tput", "num/den"),
}


def mode_pairs(modes: list[str]) -> list[tuple[str, str]]:
    """Every (num, den) with num after den in mode order (power order), grouped by den as the seed."""
    pairs = [(modes[j], modes[i]) for i in range(len(modes)) for j in range(i + 1, len(modes))]
    return sorted(pairs, key=lambda p: (-modes.index(p[1]), modes.index(p[0])))


RATIO_DEFINITIONS = {
    "canonical": "ratio at the canonical cell",
    "median_cells": "median over every (ctx, gen) cell of the per-cell ratio",
}


def mode_ratio_data(view: ResultsView, column: str, direction: str, ctx_len: int, gen: int,
                    how: str = "canonical") -> pd.DataFrame:
    """Ratio between every pair of modes per backend and model: at the canonical cell (`how` =
    'canonical'), or the median over all cells of the per-cell ratio ('median_cells', the blog's prose
    for latency speed-ups)."""
    s = view.summary
    if how == "canonical":
        s = view.cell(ctx_len, gen)
    cells = s.drop_duplicates(["model", "mode", "backend", "ctx", "gen"])
    if column in cells:
        wide = cells.assign(v=pd.to_numeric(cells[column], errors="coerce")).pivot_table(
            index=["backend", "model", "ctx", "gen"], columns="mode", values="v", aggfunc="first", dropna=False)
    else:
        wide = pd.DataFrame()
    rows = []
    for num, den in mode_pairs(view.modes):
        for backend in view.backends:
            for model in view.models:
                if num in wide and den in wide and (backend, model) in wide.index.droplevel(["ctx", "gen"]):
                    g = wide.loc[(backend, model)]
                    a, b = g[num], g[den]
                else:
                    a = b = pd.Series(dtype=float)
                r = (a / b) if direction == "num/den" else (b / a)
                r = r[np.isfinite(r)]
                rows.append({"pair": f"{num}/{den}", "backend": backend, "model": model, "definition": how,
                             "num": float(a.median()) if a.notna().any() else np.nan,
                             "den": float(b.median()) if b.notna().any() else np.nan,
                             "cells": len(r), "ratio": float(r.median()) if len(r) else np.nan})
    return pd.DataFrame(rows)


def build_mode_ratios(view: ResultsView, key: str, direction: str, ctx_len: int, gen: int, how: str = "canonical"):
    """One panel per backend; x = model, one bar per mode pair (colour + legend), dotted line at 1."""
    column, label, _ = view.metrics[key]
    data = mode_ratio_data(view, column, direction, ctx_len, gen, how)
    pairs = list(dict.fromkeys(data["pair"]))
    nb, nm, npair = len(view.backends), len(view.models), len(pairs)
    colours = style.pair_colours(len(pairs))
    fig, axes = plt.subplots(nb, 1, figsize=(max(10, 1.7 * nm + 3), 4.2 * nb + 0.8), sharey=True, squeeze=False)
    x = np.arange(nm)
    width = 0.84 / max(npair, 1)
    rows = rows_by(data, ["backend", "pair"], "model", view.models)
    for ax, backend in zip(axes[:, 0], view.backends):
        for k, pair in enumerate(pairs):
            d = rows(backend, pair)
            ax.bar(x - 0.42 + (k + 0.5) * width, d["ratio"], width, color=colours[k], label=pair)
        ax.axhline(1.0, color="black", linestyle=":", linewidth=1)
        ax.set_xticks(x, view.models, rotation=20 if nm > 4 else 0, ha="right" if nm > 4 else "center")
        ax.set_ylabel(f"ratio ({direction})")
        ax.set_title(style.backend_label(backend), fontsize=10)
    axes[0, 0].legend(title="mode pair (num/den)", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    better = "> 1 = higher mode faster" if direction == "den/num" else "> 1 = higher mode higher"
    fig.suptitle(view.title(f"{label}: ratio between power modes ({direction}; {better})\n"
                            f"{RATIO_DEFINITIONS[how]}" + (f" (ctx {ctx_len}, gen {gen})" if how == "canonical" else "")))
    fig.tight_layout()
    return fig, data


def backend_ratio_data(view: ResultsView, column: str, other: str, ctx_len: int, gen: int) -> pd.DataFrame:
    """reference backend / `other` per model x mode at one cell."""
    s = view.cell(ctx_len, gen).set_index(["model", "mode", "backend"])[column] if column in view.summary else pd.Series(dtype=float)
    rows = []
    for model in view.models:
        for mode in view.modes:
            a = s.get((model, mode, view.ref_backend), np.nan)
            b = s.get((model, mode, other), np.nan)
            r = a / b
            rows.append({"model": model, "mode": mode, "metric": column, "ref": a, "other": b,
                         "ratio": r if np.isfinite(r) else np.nan})
    return pd.DataFrame(rows)


def build_backend_ratio_chart(view: ResultsView, keys: list[str], other: str, ctx_len: int, gen: int):
    fig, axes = plt.subplots(len(keys), 1, figsize=(13, 4.8 * len(keys)), sharex=True, squeeze=False)
    frames = []
    x = np.arange(len(view.modes))
    for i, (ax, key) in enumerate(zip(axes[:, 0], keys)):
        column, label, _ = view.metrics[key]
        d = backend_ratio_data(view, column, other, ctx_len, gen)
        for model in view.models:
            dm = d[d["model"] == model].set_index("mode").reindex(view.modes)
            if dm["ratio"].notna().any():
                ax.plot(x, dm["ratio"], marker="o", color=view.model_colour[model], label=model)
        ax.axhline(1.0, color="black", linestyle=":", linewidth=1)
        ax.set_ylabel(f"{label}\n{style.backend_label(view.ref_backend)} ÷ {style.backend_label(other)}", fontsize=9)
        if not d["ratio"].notna().any():
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center")
        if i == 0:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        frames.append(d)
    axes[-1, 0].set_xticks(x, view.modes)
    axes[-1, 0].set_xlabel("power mode")
    axes[0, 0].set_title(view.title(f"backend ratio {style.backend_label(view.ref_backend)} ÷ "
                                   f"{style.backend_label(other)} (ctx {ctx_len}, gen {gen})"))
    return fig, pd.concat(frames, ignore_index=True)


RATIO_TABLE_METRICS = [("Tok/s ratio", "tok_s"), ("Tok/J ratio", "tok_j"), ("TTFT ratio", "ttft"),
                       ("ITL ratio", "itl"),
                       ("Power ratio (whole-window median)", "power")]


def fmt_ratio(v) -> str:
    return f"{v:.2f}×" if np.isfinite(v) else "--"


def backend_ratio_tables(view: ResultsView, other: str, ctx_len: int, gen: int) -> tuple[pd.DataFrame, str]:
    """The seed's ratio_tables.md: per mode, Model | Tok/s | Tok/J | TTFT | ITL | Power ratio (ref ÷ other)."""
    frames = []
    for title, key in RATIO_TABLE_METRICS:
        column = view.metrics[key][0]
        d = backend_ratio_data(view, column, other, ctx_len, gen)[["model", "mode", "ratio"]].rename(columns={"ratio": title})
        frames.append(d.set_index(["mode", "model"]))
    wide = pd.concat(frames, axis=1).reset_index()
    md = [f"# Backend ratios: {style.backend_label(view.ref_backend)} ÷ {style.backend_label(other)} "
          f"(ctx {ctx_len}, gen {gen}; '--' = not measured)", ""]
    if view.label:
        md.insert(1, f"**{view.label}**")
    for mode in view.modes:
        t = wide[wide["mode"] == mode].drop(columns="mode").rename(columns={"model": "Model"})
        for c in t.columns[1:]:
            t[c] = t[c].map(fmt_ratio)
        md += [f"## {mode}", "", t.to_markdown(index=False), ""]
    return wide, "\n".join(md)
