"""Snakemake entry point: capture one cell (see joulebench.capture.cell)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from joulebench.scripting import run_logged  # noqa: E402


def main(sm):
    from pathlib import Path

    from joulebench.capture.cell import capture
    from joulebench.config import Cell

    cell = Cell.from_wildcards(sm.wildcards)
    config_path = Path(sm.params.configfile).resolve()
    capture(sm.config, cell, Path(sm.output.cell), config_path)


run_logged(snakemake, main)  # noqa: F821
