"""Figures and tables. `render_all` is what `snakemake figures` runs.

Every chart and table of the seed report (reference/seed-figures.md §9), computed from
summary.parquet / requests.parquet, plus what the seed could not show (Pareto front and
recommended modes, uncertainty bars, prefill-resolution map, decode bandwidth utilisation).
`figures/index.md` lists everything written, how it is computed and why anything was not drawn.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)


def render_all(summary_path, requests_path, out_dir, cfg: dict | None = None) -> list[Path]:
    summary = pd.read_parquet(summary_path)
    requests = pd.read_parquet(requests_path) if requests_path and Path(requests_path).exists() else None
    ctx = render_frames(summary, requests, out_dir, cfg or {})
    return [Path(out_dir) / f for e in ctx.entries for f in e.files]


def render_frames(summary: pd.DataFrame, requests: pd.DataFrame | None, out_dir, cfg: dict, n_boot: int = 500):
    """Render everything from in-memory frames; returns the Context (its `entries` = the index)."""
    import matplotlib

    matplotlib.use("Agg")
    from .catalogue import render_catalogue
    from .common import Context, provenance
    from .style import apply_theme

    apply_theme()
    ctx = Context(summary, requests, Path(out_dir), cfg, n_boot=n_boot)
    if summary.empty:
        ctx.placeholder("no_results", "summary.parquet holds no cells", "nothing was measured")
    else:
        render_catalogue(ctx)
    ctx.write_index(provenance(ctx) if not summary.empty else {})
    return ctx
