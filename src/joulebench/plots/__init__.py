"""Figures and tables. `render_all` is what `snakemake figures` runs.

Every chart and table of the seed report (reference/seed-figures.md §9), computed from
summary.parquet / requests.parquet, plus what the seed could not show (Pareto front and
recommended modes, uncertainty bars, prefill-resolution map, decode bandwidth utilisation).
`figures/index.md` lists everything written, how it is computed and why anything was not drawn.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)


def render_all(summary_path, requests_path, out_dir, cfg: dict | None = None, keep_in: Path | None = None,
               workers: int = 1) -> list[Path]:
    """Every figure and table into out_dir. With keep_in (a folder of the run state), a set drawn
    from the same summary, requests, config and code is copied from there instead (reuse.py).
    workers: processes the charts are spread over (the plot job's threads)."""
    cfg = cfg or {}
    if keep_in is not None:
        from . import reuse

        key = reuse.inputs_key(summary_path, requests_path, cfg)
        kept = reuse.restore(key, Path(out_dir), Path(keep_in))
        if kept is not None:
            print(f"joulebench: figures unchanged (same summary, requests, config and code): copied from {keep_in}",
                  file=sys.stderr)
            return kept
    summary = pd.read_parquet(summary_path)
    requests = pd.read_parquet(requests_path) if requests_path and Path(requests_path).exists() else None
    kept = reuse.KeptFigures(Path(keep_in)) if keep_in is not None else None
    view = render_frames(summary, requests, out_dir, cfg, kept=kept, workers=workers)
    if kept is not None:
        reuse.keep(key, Path(out_dir), Path(keep_in), kept.drawn)
        if kept.copied:
            print(f"joulebench: {len(kept.drawn) - len(kept.copied)} charts drawn, {len(kept.copied)} unchanged "
                  f"since the last run (copied from {keep_in})", file=sys.stderr)
    return [Path(out_dir) / f for e in view.entries for f in e.files]


def render_frames(summary: pd.DataFrame, requests: pd.DataFrame | None, out_dir, cfg: dict, n_boot: int = 500,
                  kept=None, workers: int = 1):
    """Render everything from in-memory frames; returns the ResultsView (its `entries` = the index).
    kept: a reuse.KeptFigures, to copy the PNG of a chart that is the same as last time's."""
    import matplotlib

    matplotlib.use("Agg")
    from .catalogue import render_catalogue
    from .common import ResultsView, provenance
    from .fleet import fold_config, fold_devices
    from .style import apply_theme

    apply_theme()
    view = ResultsView(fold_devices(summary), fold_devices(requests), Path(out_dir), fold_config(cfg),
                       n_boot=n_boot, kept=kept)
    if summary.empty:
        view.placeholder("no_results", "summary.parquet holds no cells", "nothing was measured")
    else:
        render_catalogue(view, workers)
    missing = missing_cells(summary, cfg)
    if missing is not None and not missing.empty:  # nothing missing: no table
        view.table(missing, "missing_cells", "configured cells with no capture (not plotted: gaps)",
                  "config cells minus summary.parquet cells; `snakemake figures` never captures them")
        print(f"joulebench: {len(missing)} configured cells are not captured yet; see missing_cells.md",
              file=sys.stderr)
    view.write_index(provenance(view) if not summary.empty else {})
    return view


def missing_cells(summary: pd.DataFrame, cfg: dict) -> pd.DataFrame | None:
    """The configured cells the figures could not include (None without a sweep config)."""
    if not cfg or "sweep" not in cfg or "modes" not in cfg:
        return None
    from ..config import Cell, cells, load_schema

    key = list(Cell.KEY)
    have = set()
    if not summary.empty:
        conc = summary["concurrency"] if "concurrency" in summary else pd.Series(1, index=summary.index)
        device = summary[Cell.DEVICE] if Cell.DEVICE in summary else [None] * len(summary)
        have = set(zip(summary["mode"], summary["backend"], summary["model"], summary["ctx"].astype(int),
                       summary["gen"].astype(int), conc.astype(int), device))
    # the sweep's defaults (trials, concurrency) live in the schema only; the figures may get a partial config
    props = load_schema()["properties"]["sweep"]["properties"]
    sweep = {**{k: v["default"] for k, v in props.items() if "default" in v}, **cfg["sweep"]}
    wanted = [c for c in cells({**cfg, "sweep": sweep}) if c.trial == 1 and (*c.key, c.device) not in have]
    if cfg.get("devices"):
        key = [Cell.DEVICE, *key]
    return pd.DataFrame([{k: v for k, v in c.row().items() if k in key} for c in wanted], columns=key)
