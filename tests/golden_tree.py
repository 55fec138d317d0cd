"""A raw tree re-analysed without a device, for the no-behaviour-change check (test_golden_summary.py).

The tree: a generated Jetson sweep (2 modes x 2 gens x 2 trials, INA3221-style telemetry, written
by benchmarks/analysis_scale.write_cell with a fixed seed) plus one cell made of the shared fixture
aiperf-0.13-llama-server (a real aiperf 0.13 export, no telemetry: energy NaN with its reason).
It is analysed in-process by the same functions the rules call (analysis.pair.analyse_pair,
metrics.aggregate.aggregate_pair), so the summary depends on the analysis code only.

Regenerate the golden file only when a change is MEANT to alter the summary (say so in the commit):
    git archive main src | tar -x -C /tmp/golden-main      # or the commit to compare against
    PYTHONPATH=/tmp/golden-main/src .venv/bin/python tests/golden_tree.py tests/data/golden-summary.parquet
"""
from __future__ import annotations

import inspect
import json
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFIG = {
    "platform": "jetson",
    "modes": {"15W": {"nvpmodel": 0}, "7W": {"nvpmodel": 3}},
    "backends": {"llamacpp": {"kind": "llamacpp"}},
    "models": {"m": {"quant": "Q4_K_M", "source": {"path": "m.gguf"}}},
    "sweep": {"prompt_tokens": [128], "gen_tokens": [32, 64], "requests": 20, "trials": 2},
}
MAX_REL_CI = 0.10  # energy.max_rel_ci of the analysis
FIXTURE_CELL = ("15W", "llamacpp", "fixture-llama-server", 127, 32)  # its 5 requests: ISL 127, OSL 32


def build_tree(wd: Path, fixture: Path) -> list:
    """Write the raw tree under wd (fixture: the shared aiperf-0.13-llama-server export); returns its cells."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from analysis_scale import MS, T0, write_cell

    from joulebench import config as C
    from joulebench.paths import raw_dir

    cells = C.cells(C.validate(CONFIG))
    rng = np.random.default_rng(13)
    for i, cell in enumerate(cells):
        d = raw_dir(cell, wd)
        write_cell(d, cell, rng, T0 + i * 40_000 * MS, 20, 20)
        meta = json.loads((d / "cell.json").read_text())
        meta["cell"]["trial"] = cell.trial
        (d / "cell.json").write_text(json.dumps(meta))
    fixture_cell = C.Cell(*FIXTURE_CELL)
    d = raw_dir(fixture_cell, wd)
    shutil.copytree(fixture, d / "aiperf")
    (d / "cell.json").write_text(json.dumps({
        "schema": 1, "status": "accepted", "cell": fixture_cell.row(),
        "backend": {"kind": "llamacpp"}, "model": {"name": fixture_cell.model, "quant": "Q4_K_M"},
        "platform": {"platform": "jetson", "state_before": {"device_name": "FIXTURE"}},
        "telemetry": {"source": "none", "reason": "no power sensor"}, "versions": {"aiperf": "0.13.0"}}))
    return [*cells, fixture_cell]


def analyse(wd: Path, cells: list, out_dir: Path) -> Path:
    """parse + split -> aggregate, as the rules do; returns summary.parquet's path."""
    from joulebench.paths import raw_dir

    summary = out_dir / "summary.parquet"
    try:
        from joulebench.analysis.pair import analyse_pair
        from joulebench.metrics.aggregate import aggregate_pair
    except ImportError:  # code from before the pair jobs (regenerating at an older commit)
        return _analyse_per_cell(wd, cells, out_dir)
    jobs = [(str(raw_dir(cell, wd) / "cell.json"), str(out_dir / f"cell{i}")) for i, cell in enumerate(cells)]
    analyse_pair(jobs, out_dir / "trial_rows.parquet", out_dir / "request_rows.parquet", max_rel_ci=MAX_REL_CI)
    aggregate_pair(out_dir / "trial_rows.parquet", out_dir / "request_rows.parquet", summary,
                   out_dir / "requests.parquet", out_dir / "trials.parquet", max_rel_ci=MAX_REL_CI)
    return summary


def _analyse_per_cell(wd: Path, cells: list, out_dir: Path) -> Path:
    from joulebench.metrics.aggregate import aggregate_to
    from joulebench.metrics.cell_table import parse_cell
    from joulebench.paths import raw_dir
    from joulebench.split import split_cell_files

    # the split reads energy.max_rel_ci too (since the cal branch); older code at the compared commit does not
    gate = {"max_rel_ci": MAX_REL_CI} if "max_rel_ci" in inspect.signature(split_cell_files).parameters else {}
    cell_rows, energy_rows, requests = [], [], []
    for i, cell in enumerate(cells):
        cj, work = raw_dir(cell, wd) / "cell.json", out_dir / f"cell{i}"
        parse_cell(cj, work / "requests.parquet", work / "cell.parquet")
        split_cell_files(cj, work / "requests.parquet", work / "requests_energy.parquet", work / "energy.parquet",
                         **gate)
        cell_rows.append(work / "cell.parquet")
        energy_rows.append(work / "energy.parquet")
        requests.append(work / "requests_energy.parquet")
    summary = out_dir / "summary.parquet"
    aggregate_to(cell_rows, energy_rows, requests, summary, out_dir / "requests.parquet",
                 out_dir / "trials.parquet", max_rel_ci=MAX_REL_CI)
    return summary


def summary_of_tree(tmp: Path, fixture: Path) -> Path:
    cells = build_tree(tmp / "tree", fixture)
    return analyse(tmp / "tree", cells, tmp / "analysis")


if __name__ == "__main__":
    import tempfile

    import joulebench  # first: the code on PYTHONPATH (conftest below puts this checkout's src on sys.path)
    from conftest import FIXTURES

    out = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(summary_of_tree(Path(tmp), FIXTURES / "aiperf-0.13-llama-server"), out)
    print(f"wrote {out} with the analysis code at {Path(joulebench.__file__).parent}")
