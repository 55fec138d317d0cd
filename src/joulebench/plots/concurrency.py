"""Figures of the concurrency axis (the sweet-spot question: how many users within the SLO, at
what energy per token), all at the canonical (ctx, gen) cell:
- tok/J vs concurrency per model, one line per mode-series (decode tok/J, equal-share split; the
  steady-state tok/J dotted beside it);
- system output tok/s vs per-user tok/s, one point per (mode-series, concurrency), coloured by
  decode tok/J, Pareto front dashed (both higher is better: what batching trades);
- the largest concurrency whose share of requests within the SLO is >= GOOD_FRACTION, per model
  and mode-series, labelled with the energy per good token there.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .common import ResultsView, long_table, rows_by
from .pareto import draw_front, pareto_front
from .uncertainty import yerr

GOOD_FRACTION = 0.9  # "within the SLO": at least this share of the cell's requests met it


def two_concurrencies(view: ResultsView) -> str | None:
    n = len(view.concurrencies)
    return None if n >= 2 else f"needs at least two concurrency levels (the summary has concurrency " \
                               f"{view.concurrencies[0] if n else 1} only)"


def _panels(view: ResultsView, height: float = 4.2):
    n = len(view.models)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, height * nrows + 1.2), squeeze=False)
    for j in range(n, nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    return fig, [axes[i // ncols, i % ncols] for i in range(n)]


def _legend(fig, handles):
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=min(8, len(handles)),
                   fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.06, 1, 1))


def tok_j_vs_concurrency(view: ResultsView, ctx: int, gen: int):
    col, label, _ = view.metrics["decode_tok_j"]
    data = long_table(view, col, ctx, gen, along="concurrency")
    steady = long_table(view, view.col("steady_tok_j"), ctx, gen, along="concurrency")
    data["steady_value"], data["steady_lo"], data["steady_hi"] = steady["value"], steady["lo"], steady["hi"]
    xs = view.concurrencies
    fig, axes = _panels(view)
    handles = {}
    rows = rows_by(data, ["model", "series"], "concurrency", xs)
    for ax, model in zip(axes, view.models):
        for mode, backend, name in view.series():
            d = rows(model, name)
            st = view.sstyle(mode, backend)
            if d["value"].notna().any():
                handles[name] = ax.errorbar(xs, d["value"], yerr=yerr(d["value"], d["lo"], d["hi"]), capsize=2,
                                            markersize=4, linewidth=1.4, label=name, **st)
            if d["steady_value"].notna().any():
                ax.plot(xs, d["steady_value"], color=st["color"], linestyle=":", marker="x", linewidth=1, alpha=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_title(model, fontsize=10)
        ax.set_xlabel("concurrency (requests in flight)")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
    _legend(fig, handles)
    fig.suptitle(view.title(f"{label} vs concurrency (ctx {ctx}, gen {gen}); dotted x = steady-state tok/J"))
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return fig, data


def load_points(view: ResultsView, ctx: int, gen: int) -> pd.DataFrame:
    """One row per (model, mode, backend, concurrency) at the cell: per-user and system tok/s, tok/J,
    goodput share, energy per good token, and whether it is on its model's Pareto front."""
    s = view.summary_all
    s = s[(s["ctx"] == ctx) & (s["gen"] == gen)]
    num = lambda key: pd.to_numeric(s[view.col(key)], errors="coerce") if view.col(key) in s \
        else pd.Series(np.nan, index=s.index)  # noqa: E731
    d = pd.DataFrame({"model": s["model"], "mode": s["mode"], "backend": s["backend"],
                      "concurrency": pd.to_numeric(s["concurrency"]) if "concurrency" in s else view.base_concurrency,
                      "user_tok_s": num("tok_s"), "system_tok_s": num("system_tok_s"), "tok_j": num("decode_tok_j"),
                      "goodput_fraction": num("goodput_fraction"), "j_per_good_token": num("e_good_token")})
    d["on_front"] = False
    for _, g in d.groupby("model"):
        d.loc[g.index, "on_front"] = pareto_front(g, "user_tok_s", "system_tok_s")
    return d.sort_values(["model", "mode", "backend", "concurrency"]).reset_index(drop=True)


def system_vs_user_pareto(view: ResultsView, ctx: int, gen: int):
    d = load_points(view, ctx, gen)
    tok_j = d["tok_j"].to_numpy(dtype=float)
    norm = plt.Normalize(np.nanmin(tok_j), np.nanmax(tok_j)) if np.isfinite(tok_j).any() else None
    fig, axes = _panels(view, 4.6)
    handles, sc = {}, None
    for ax, model in zip(axes, view.models):
        g = d[d["model"] == model]
        for (mode, backend, name) in view.series():
            r = g[(g["mode"] == mode) & (g["backend"] == backend)]
            r = r[np.isfinite(r["user_tok_s"]) & np.isfinite(r["system_tok_s"])]
            if r.empty:
                continue
            marker = view.sstyle(mode, backend)["marker"]
            has = np.isfinite(r["tok_j"].to_numpy(dtype=float))
            if has.any():
                sc = ax.scatter(r["user_tok_s"][has], r["system_tok_s"][has], c=r["tok_j"][has], cmap="viridis",
                                norm=norm, marker=marker, s=60, edgecolor=np.where(r["on_front"][has], "black", "none"),
                                zorder=3)
            if (~has).any():  # tok/J not measured: hollow grey, never a colour it did not earn
                ax.scatter(r["user_tok_s"][~has], r["system_tok_s"][~has], facecolor="none", edgecolor="grey",
                           marker=marker, s=60, zorder=3)
            handles[name] = ax.scatter([], [], color="grey", marker=marker, label=name)
            for _, p in r.iterrows():
                ax.annotate(f"N={int(p['concurrency'])}", (p["user_tok_s"], p["system_tok_s"]), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")
        draw_front(ax, g, "user_tok_s", "system_tok_s")
        ax.set_title(model, fontsize=10)
        ax.set_xlabel(view.metrics["tok_s"][1])
        ax.set_ylabel(view.metrics["system_tok_s"][1])
    title = view.title(f"system vs per-user tok/s (ctx {ctx}, gen {gen})\ncolour = decode tok/J, "
                       "grey hollow = tok/J not measured, dashed = Pareto front")
    # room for every line of the title (a synthetic-data label adds one) above the panel titles
    fig.subplots_adjust(bottom=0.17, top=0.95 - 0.055 * (title.count("\n") + 1), wspace=0.3, right=0.86)
    if sc is not None:  # its own axes right of the panels, so no panel is squeezed under it
        fig.colorbar(sc, cax=fig.add_axes((0.89, 0.2, 0.015, 0.6)), label=view.metrics["decode_tok_j"][1])
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=min(8, len(handles)),
                   fontsize=8)
    fig.suptitle(title)
    return fig, d.assign(value=d["system_tok_s"])


def max_within_slo(view: ResultsView, ctx: int, gen: int) -> pd.DataFrame:
    """Per model x mode-series: the largest concurrency with goodput_fraction >= GOOD_FRACTION (NaN
    where none met it or the SLO was not judged) and what that level costs."""
    d = load_points(view, ctx, gen)
    rows = []
    for model in view.models:
        for mode, backend, name in view.series():
            g = d[(d["model"] == model) & (d["mode"] == mode) & (d["backend"] == backend)]
            judged = g[np.isfinite(g["goodput_fraction"])]
            ok = judged[judged["goodput_fraction"] >= GOOD_FRACTION]
            row = {"model": model, "mode": mode, "backend": backend, "series": name, "value": np.nan,
                   "goodput_fraction": np.nan, "mj_per_good_token": np.nan, "decode_tok_per_j": np.nan,
                   "system_tok_s": np.nan,
                   "status": "not measured" if g.empty else "slo not judged" if judged.empty else
                   f"no level with >= {GOOD_FRACTION:.0%} within the slo" if ok.empty else "ok"}
            if not ok.empty:
                best = ok.loc[ok["concurrency"].idxmax()]
                row.update(value=float(best["concurrency"]), goodput_fraction=best["goodput_fraction"],
                           mj_per_good_token=1000 * best["j_per_good_token"], decode_tok_per_j=best["tok_j"],
                           system_tok_s=best["system_tok_s"])
            rows.append(row)
    return pd.DataFrame(rows)


def max_within_slo_chart(view: ResultsView, ctx: int, gen: int):
    data = max_within_slo(view, ctx, gen)
    series = [t for t in view.series() if data.loc[data["series"] == t[2], "value"].notna().any()]
    n = max(len(series), 1)
    width = min(0.8 / n, 0.35)
    x = np.arange(len(view.models))
    fig, ax = plt.subplots(figsize=(max(8, 2.6 * len(view.models) + 2), 6))
    for i, (mode, backend, name) in enumerate(series):
        d = data[data["series"] == name].set_index("model").reindex(view.models)
        bars = ax.bar(x + (i - (n - 1) / 2) * width, d["value"], width, label=name,
                      color=view.sstyle(mode, backend)["color"])
        for b, v, mj in zip(bars, d["value"], d["mj_per_good_token"]):
            if np.isfinite(v):
                text = f"{mj:.3g} mJ/good tok" if np.isfinite(mj) else "J/good tok not measured"
                ax.text(b.get_x() + b.get_width() / 2, v, text, rotation=90, ha="center", va="bottom", fontsize=6)
    ax.set_xticks(x, view.models)
    ax.set_ylabel(f"max concurrency with >= {GOOD_FRACTION:.0%} of requests within the SLO")
    top = np.nanmax(data["value"].to_numpy(dtype=float)) if data["value"].notna().any() else 1.0
    ax.set_ylim(0, top * 1.6)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(view.title(f"largest concurrency within the SLO, its energy per good token (ctx {ctx}, gen {gen})"))
    return fig, data
