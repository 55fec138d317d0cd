"""Snakemake entry point: per-cell Parquet -> summary (one row per cell) + requests tables."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from joulebench.scripting import run_logged  # noqa: E402


def main(sm):
    from joulebench.metrics.aggregate import aggregate_to

    if sm.rule == "aggregate_pair":
        from pathlib import Path

        out = Path(sm.output[0])
        aggregate_to(sm.input.cells, sm.input.energy, sm.input.requests,
                     out / "summary.parquet", out / "requests.parquet", csv=True)
    else:
        aggregate_to(sm.input.cells, sm.input.energy, sm.input.requests,
                     sm.output.summary, sm.output.requests, csv=True)


run_logged(snakemake, main)  # noqa: F821
