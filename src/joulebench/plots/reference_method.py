"""The headline comparison: the seed's published decode tok/J method (`seed_decode_tok_per_j`: median
decode-window power x p50 decode time) against joulebench's (`decode_tok_per_j`: energy integrated per
request, ratio of sums), per cell, with joulebench's 95 % interval."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import style
from .common import ResultsView

IDENTITY = ["mode", "backend", "model", "ctx", "gen"]


def method_comparison(view: ResultsView) -> pd.DataFrame:
    """One row per cell: both tok/J, joulebench's interval, the difference (seed - joulebench) in % of
    joulebench with its interval, and whether the seed's value falls inside joulebench's interval."""
    s = view.summary
    get = lambda c: pd.to_numeric(s[c], errors="coerce") if c in s else pd.Series(np.nan, index=s.index)  # noqa: E731
    ref, jb = get("seed_decode_tok_per_j"), get("decode_tok_per_j")
    lo, hi = get("decode_tok_per_j_lo"), get("decode_tok_per_j_hi")
    d = s[IDENTITY].copy()
    d["seed_decode_tok_per_j"], d["decode_tok_per_j"] = ref, jb
    d["decode_tok_per_j_lo"], d["decode_tok_per_j_hi"] = lo, hi
    d["difference_pct"] = 100 * (ref / jb - 1)
    # seed / x - 1 falls as x rises: joulebench's upper bound gives the difference's lower bound
    d["difference_pct_lo"] = 100 * (ref / hi - 1)
    d["difference_pct_hi"] = 100 * (ref / lo - 1)
    d["seed_inside_interval"] = ((ref >= lo) & (ref <= hi)).where(ref.notna() & lo.notna() & hi.notna())
    d["rail"] = view.energy_rail
    d["seed_rail"] = view.ref_rail
    order = {m: i for i, m in enumerate(view.models)}
    d = d.assign(_m=d["model"].map(order), _b=d["backend"].map({b: i for i, b in enumerate(view.backends)}),
                 _o=d["mode"].map({m: i for i, m in enumerate(view.modes)}))
    return d.sort_values(["_m", "_b", "_o", "ctx", "gen"]).drop(columns=["_m", "_b", "_o"]).reset_index(drop=True)


def build_method_comparison(view: ResultsView):
    d = method_comparison(view)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(16, 6.5), gridspec_kw={"width_ratios": [1, 1.4]})
    markers = ["o", "s", "^", "D", "v", "P"]
    for bi, backend in enumerate(view.backends):
        for model in view.models:
            g = d[(d["model"] == model) & (d["backend"] == backend)]
            g = g[g["seed_decode_tok_per_j"].notna() & g["decode_tok_per_j"].notna()]
            if g.empty:
                continue
            xerr = np.vstack([np.clip(g["decode_tok_per_j"] - g["decode_tok_per_j_lo"], 0, None),
                              np.clip(g["decode_tok_per_j_hi"] - g["decode_tok_per_j"], 0, None)])
            ax1.errorbar(g["decode_tok_per_j"], g["seed_decode_tok_per_j"], xerr=np.nan_to_num(xerr), fmt=markers[bi % 6],
                         color=view.model_colour[model], markersize=4, alpha=0.75, elinewidth=0.6, capsize=0,
                         label=f"{model} ({style.backend_label(backend)})" if len(view.backends) > 1 else model)
    both = d[["seed_decode_tok_per_j", "decode_tok_per_j"]].to_numpy(dtype=float)
    top = np.nanmax(both) * 1.05 if np.isfinite(both).any() else 1.0
    ax1.plot([0, top], [0, top], color="black", linestyle=":", linewidth=1, label="seed = joulebench")
    ax1.set_xlim(0, top)
    ax1.set_ylim(0, top)
    ax1.set_xlabel(view.rail_label("decode_tok_per_j", "decode tok/J, joulebench (95 % interval)"))
    ax1.set_ylabel(view.rail_label("seed_decode_tok_per_j", "decode tok/J, seed method"))
    ax1.set_title("every cell", fontsize=10)
    # right: the difference per cell, cells grouped by model (one column of points per model x backend)
    n_b = max(len(view.backends), 1)
    for mi, model in enumerate(view.models):
        for bi, backend in enumerate(view.backends):
            g = d[(d["model"] == model) & (d["backend"] == backend) & d["difference_pct"].notna()]
            if g.empty:
                continue
            x = mi + (bi - (n_b - 1) / 2) * 0.35 + np.linspace(-0.12, 0.12, len(g))
            yerr = np.vstack([np.clip(g["difference_pct"] - g["difference_pct_lo"], 0, None),
                              np.clip(g["difference_pct_hi"] - g["difference_pct"], 0, None)])
            ax2.errorbar(x, g["difference_pct"], yerr=np.nan_to_num(yerr), fmt=markers[bi % 6], color=view.model_colour[model],
                         markersize=3.5, alpha=0.75, elinewidth=0.6, capsize=0)
    ax2.axhline(0, color="black", linestyle=":", linewidth=1)
    ax2.set_xticks(range(len(view.models)), view.models, rotation=20 if len(view.models) > 4 else 0,
                   ha="right" if len(view.models) > 4 else "center")
    ax2.set_ylabel("seed method - joulebench (% of joulebench)")
    marker_note = ", ".join(f"{markers[i % 6]} = {style.backend_label(b)}" for i, b in enumerate(view.backends))
    ax2.set_title(f"difference per cell (bars: from joulebench's 95 % interval; {marker_note})", fontsize=10)
    h, lab = ax1.get_legend_handles_labels()
    if h:
        fig.legend(h, lab, loc="lower center", ncol=min(6, len(h)), fontsize=7, bbox_to_anchor=(0.5, -0.02))
    inside = d["seed_inside_interval"].dropna()
    summary = (f"{int(inside.sum())} of {len(inside)} cells' seed value inside joulebench's interval; "
               f"median difference {np.nanmedian(d['difference_pct']):+.1f} %") if len(inside) else "no cell has both"
    fig.suptitle(view.title(f"decode tok/J: seed method vs joulebench, every cell ({summary})"))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig, d
