"""The seed's fixed look: palettes, line styles and markers per mode-series, model colours.

A "mode-series" is one (mode, backend) pair. The first backend in order is the reference backend
and its series is labelled by the mode alone ("15W"); other backends are labelled "15W-ollama",
as in the seed. Names the seed did not know get colours from a stable fallback palette.
"""
from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt

DPI = 120
# PNG's zlib level 3 instead of Pillow's 6: the same pixels, ~0.5 CPU s less over the default sweep's
# figures for files ~19 % larger
PNG = {"pil_kwargs": {"compress_level": 3}}

REF_MODE_COLOURS = {
    "7W": "#2196F3", "15W": "#4CAF50", "25W": "#FF9800", "MAXN": "#F44336",
    "7W-ollama": "#7986CB", "15W-ollama": "#009688", "25W-ollama": "#8D6E63", "MAXN-ollama": "#E91E63",
}
REF_MODE_LINES = {"7W": (":", "^"), "15W": ("-", "o"), "25W": ("--", "s"), "MAXN": ("-.", "D")}
OTHER_BACKEND_MARKERS = ["v", "P", "h", "X", "*", "<", ">", "p"]
FALLBACK_LINES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ("-", "v"), ("--", "P")]
BACKEND_LABELS = {"llamacpp": "llama.cpp", "ollama": "Ollama"}
OTHER_BACKEND_ALPHA = 0.65


def backend_label(backend: str) -> str:
    return BACKEND_LABELS.get(backend, backend)


def series_name(mode: str, backend: str, backends: list[str]) -> str:
    return mode if not backends or backend == backends[0] else f"{mode}-{backend}"


def _fallback_colour(i: int) -> str:
    return matplotlib.colors.to_hex(plt.get_cmap("tab20")(i % 20))


def series_style(mode: str, backend: str, modes: list[str], backends: list[str]) -> dict:
    """Matplotlib kwargs (color, linestyle, marker, alpha) of one mode-series."""
    name = series_name(mode, backend, backends)
    mi = modes.index(mode) if mode in modes else 0
    bi = backends.index(backend) if backend in backends else 0
    colour = REF_MODE_COLOURS.get(name) or _fallback_colour(mi * 2 + bi)
    if bi == 0:
        ls, marker = REF_MODE_LINES.get(mode) or FALLBACK_LINES[mi % len(FALLBACK_LINES)]
        alpha = 1.0
    else:
        ls, marker, alpha = "--", OTHER_BACKEND_MARKERS[mi % len(OTHER_BACKEND_MARKERS)], OTHER_BACKEND_ALPHA
    return {"color": colour, "linestyle": ls, "marker": marker, "alpha": alpha}


def pair_colours(n: int) -> list[str]:
    """n distinct colours for mode pairs (viridis steps: ordered, readable in grey)."""
    cmap = plt.get_cmap("viridis")
    return [matplotlib.colors.to_hex(cmap(i / max(n - 1, 1) * 0.9)) for i in range(n)]


def model_colours(models: list[str]) -> dict[str, str]:
    cmap = plt.get_cmap("tab10" if len(models) <= 10 else "tab20")
    n = 10 if len(models) <= 10 else 20
    return {m: matplotlib.colors.to_hex(cmap(i % n)) for i, m in enumerate(models)}


def backend_line(backend: str, backends: list[str]) -> dict:
    """vs-mode charts: solid + o for the reference backend, dashed + s at alpha .65 for others."""
    if not backends or backend == backends[0]:
        return {"linestyle": "-", "marker": "o", "alpha": 1.0}
    return {"linestyle": "--", "marker": "s", "alpha": OTHER_BACKEND_ALPHA}


# seaborn 0.13's set_theme(style="darkgrid") without seaborn: importing it costs ~1.6 CPU s per
# render (it imports scipy.stats) for a theme that is only these rcParams and its colour codes
# ("k" is (.1, .1, .1): error bars). `image.cmap` is left out (seaborn's `rocket` exists only once
# seaborn is imported; every image here names its cmap). tests/test_plots_render.py checks this
# against seaborn's own.
SEABORN_DEEP = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3",
                "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"]
DARKGRID = {
    "axes.axisbelow": True, "axes.edgecolor": "white", "axes.facecolor": "#EAEAF2", "axes.grid": True,
    "axes.labelcolor": ".15", "axes.labelsize": 12.0, "axes.linewidth": 1.25, "axes.titlesize": 12.0,
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
    "font.size": 12.0, "grid.color": "white", "grid.linewidth": 1.0,
    "legend.fontsize": 11.0, "legend.title_fontsize": 12.0, "lines.solid_capstyle": "round",
    "patch.edgecolor": "w", "patch.force_edgecolor": True, "text.color": ".15",
    "xtick.bottom": False, "xtick.color": ".15", "xtick.labelsize": 11.0, "xtick.major.size": 6.0,
    "xtick.major.width": 1.25, "xtick.minor.size": 4.0, "xtick.minor.width": 1.0,
    "ytick.color": ".15", "ytick.labelsize": 11.0, "ytick.left": False, "ytick.major.size": 6.0,
    "ytick.major.width": 1.25, "ytick.minor.size": 4.0, "ytick.minor.width": 1.0,
}
COLOUR_CODES = dict(zip("bgrmyck", ["#4C72B0", "#55A868", "#C44E52", "#8172B3", "#CCB974", "#64B5CD",
                                    (0.1, 0.1, 0.1)]))


# Titles at a fixed height: matplotlib otherwise lifts a title above x tick labels drawn on top, and
# works that out from every axis' tick label boxes at each draw (~0.8 CPU s of the default sweep's
# figures). No figure here puts ticks on top, so the PNGs are pixel-identical.
FIXED_TITLE = {"axes.titley": 1.0}


def apply_theme() -> None:
    plt.rcParams.update({**DARKGRID, **FIXED_TITLE, "axes.prop_cycle": matplotlib.cycler(color=SEABORN_DEEP)})
    for code, colour in COLOUR_CODES.items():
        matplotlib.colors.colorConverter.colors[code] = matplotlib.colors.to_rgb(colour)


def figure_legend(fig, axes, **kw) -> None:
    """One legend right of the figure from every panel's handles, so it survives a panel with no data."""
    handles = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="upper left", bbox_to_anchor=(1.0, 0.95),
                   fontsize=kw.pop("fontsize", 7), **kw)
