"""Figures and tables. `render_all` is what `snakemake figures` runs."""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def render_all(summary_path, requests_path, out_dir, cfg: dict | None = None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from .basic import render_basic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = pd.read_parquet(summary_path)
    requests = pd.read_parquet(requests_path)
    return render_basic(summary, requests, out, cfg or {})
