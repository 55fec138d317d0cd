"""Snakemake entry point: telemetry + request windows -> per-request and per-cell energy."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from joulebench.scripting import run_logged  # noqa: E402


def main(sm):
    from joulebench.split import split_cell_files

    split_cell_files(sm.input.cell, sm.input.requests, sm.output.requests, sm.output.energy)


run_logged(snakemake, main)  # noqa: F821
