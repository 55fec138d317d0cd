"""Snakemake entry point: every figure and table from summary.parquet / requests.parquet."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from joulebench.scripting import run_logged  # noqa: E402


def main(sm):
    from joulebench.analysis.workers import worker_count
    from joulebench.plots import render_all
    from joulebench.plots.reuse import CACHE

    render_all(sm.input.summary, sm.input.requests, sm.output[0], sm.config, keep_in=CACHE,
               workers=worker_count(sm.threads))


run_logged(snakemake, main)  # noqa: F821
