"""Snakemake entry point: raw aiperf exports of one cell -> requests.parquet + cell.parquet."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from joulebench.scripting import run_logged  # noqa: E402


def main(sm):
    from joulebench.metrics.cell_table import parse_cell

    parse_cell(sm.input.cell, sm.output.requests, sm.output.cell)


run_logged(snakemake, main)  # noqa: F821
