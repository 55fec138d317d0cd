"""Ratios: between power modes (the seed's speedup charts) and between backends (Appendix C, ratio tables)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import style
from .common import METRICS, Context

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


def mode_ratio_data(ctx: Context, column: str, direction: str, ctx_len: int, gen: int) -> pd.DataFrame:
    s = ctx.cell(ctx_len, gen).set_index(["model", "mode", "backend"])[column] if column in ctx.summary else pd.Series(dtype=float)
    rows = []
    for num, den in mode_pairs(ctx.modes):
        for backend in ctx.backends:
            for model in ctx.models:
                a = s.get((model, num, backend), np.nan)
                b = s.get((model, den, backend), np.nan)
                r = a / b if direction == "num/den" else b / a
                rows.append({"pair": f"{num}/{den}", "backend": backend, "model": model,
                             "num": a, "den": b, "ratio": r if np.isfinite(r) else np.nan})
    return pd.DataFrame(rows)


def build_mode_ratios(ctx: Context, key: str, direction: str, ctx_len: int, gen: int):
    column, label, _ = METRICS[key]
    data = mode_ratio_data(ctx, column, direction, ctx_len, gen)
    pairs = list(dict.fromkeys(data["pair"]))
    nb, nm = len(ctx.backends), len(ctx.models)
    group_w = 0.84
    bar_w = group_w / (nb * nm)
    fig, ax = plt.subplots(figsize=(max(10, 2.4 * len(pairs) * nb + 3), 7))
    x = np.arange(len(pairs))
    for bi, backend in enumerate(ctx.backends):
        for mi, model in enumerate(ctx.models):
            d = data[(data["backend"] == backend) & (data["model"] == model)].set_index("pair").reindex(pairs)
            k = bi * nm + mi
            ax.bar(x - group_w / 2 + (k + 0.5) * bar_w, d["ratio"], bar_w, color=ctx.model_colour[model],
                   alpha=1.0 if bi == 0 else 0.55, hatch=None if bi == 0 else "//",
                   label=f"{model}" + (f" ({style.backend_label(backend)})" if nb > 1 else ""))
    ax.axhline(1.0, color="black", linestyle=":", linewidth=1)
    ax.set_xticks(x, pairs)
    ax.set_xlabel("mode pair (num/den)")
    ax.set_ylabel(f"ratio of {label} ({direction})")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 if nb * nm <= 12 else 2)
    ax.set_title(ctx.title(f"{label}: ratio between power modes ({direction}; > 1 = higher mode better), "
                           f"ctx {ctx_len}, gen {gen}"))
    return fig, data


def backend_ratio_data(ctx: Context, column: str, other: str, ctx_len: int, gen: int) -> pd.DataFrame:
    """reference backend / `other` per model x mode at one cell."""
    s = ctx.cell(ctx_len, gen).set_index(["model", "mode", "backend"])[column] if column in ctx.summary else pd.Series(dtype=float)
    rows = []
    for model in ctx.models:
        for mode in ctx.modes:
            a = s.get((model, mode, ctx.ref_backend), np.nan)
            b = s.get((model, mode, other), np.nan)
            r = a / b
            rows.append({"model": model, "mode": mode, "metric": column, "ref": a, "other": b,
                         "ratio": r if np.isfinite(r) else np.nan})
    return pd.DataFrame(rows)


def build_backend_ratio_chart(ctx: Context, keys: list[str], other: str, ctx_len: int, gen: int):
    fig, axes = plt.subplots(len(keys), 1, figsize=(13, 4.8 * len(keys)), sharex=True, squeeze=False)
    frames = []
    x = np.arange(len(ctx.modes))
    for i, (ax, key) in enumerate(zip(axes[:, 0], keys)):
        column, label, _ = METRICS[key]
        d = backend_ratio_data(ctx, column, other, ctx_len, gen)
        for model in ctx.models:
            dm = d[d["model"] == model].set_index("mode").reindex(ctx.modes)
            if dm["ratio"].notna().any():
                ax.plot(x, dm["ratio"], marker="o", color=ctx.model_colour[model], label=model)
        ax.axhline(1.0, color="black", linestyle=":", linewidth=1)
        ax.set_ylabel(f"{label}\n{style.backend_label(ctx.ref_backend)} ÷ {style.backend_label(other)}", fontsize=9)
        if not d["ratio"].notna().any():
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center")
        if i == 0:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        frames.append(d)
    axes[-1, 0].set_xticks(x, ctx.modes)
    axes[-1, 0].set_xlabel("power mode")
    axes[0, 0].set_title(ctx.title(f"backend ratio {style.backend_label(ctx.ref_backend)} ÷ "
                                   f"{style.backend_label(other)} (ctx {ctx_len}, gen {gen})"))
    return fig, pd.concat(frames, ignore_index=True)


RATIO_TABLE_METRICS = [("Tok/s ratio", "tok_s"), ("Tok/J ratio", "tok_j"), ("TTFT ratio", "ttft"),
                       ("ITL ratio", "itl"), ("Power ratio", "power")]


def fmt_ratio(v) -> str:
    return f"{v:.2f}×" if np.isfinite(v) else "--"


def backend_ratio_tables(ctx: Context, other: str, ctx_len: int, gen: int) -> tuple[pd.DataFrame, str]:
    """The seed's ratio_tables.md: per mode, Model | Tok/s | Tok/J | TTFT | ITL | Power ratio (ref ÷ other)."""
    frames = []
    for title, key in RATIO_TABLE_METRICS:
        column = METRICS[key][0]
        d = backend_ratio_data(ctx, column, other, ctx_len, gen)[["model", "mode", "ratio"]].rename(columns={"ratio": title})
        frames.append(d.set_index(["mode", "model"]))
    wide = pd.concat(frames, axis=1).reset_index()
    md = [f"# Backend ratios: {style.backend_label(ctx.ref_backend)} ÷ {style.backend_label(other)} "
          f"(ctx {ctx_len}, gen {gen}; '--' = not measured)", ""]
    if ctx.label:
        md.insert(1, f"**{ctx.label}**")
    for mode in ctx.modes:
        t = wide[wide["mode"] == mode].drop(columns="mode").rename(columns={"model": "Model"})
        for c in t.columns[1:]:
            t[c] = t[c].map(fmt_ratio)
        md += [f"## {mode}", "", t.to_markdown(index=False), ""]
    return wide, "\n".join(md)
