"""Parse and split every capture of one (device, mode, backend) pair; write the pair's trial rows
and request rows (the aggregate pools them)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import JoulebenchError
from ..metrics.aggregate import seed_columns, with_identity
from ..metrics.rowio import frame_of, read_arrow, write_table
from . import cache
from .cell import analyse_cell_reporting
from .workers import POOL_MIN_CELLS, pool, pool_running

if TYPE_CHECKING:
    import pandas as pd


def analyse_cells(jobs: list[tuple[str, str]], max_rel_ci: float, workers: int = 1) -> dict[str, int]:
    """jobs: (raw cell.json, its folder under results/cells). Cells whose tables are current are
    kept; the others are analysed, in the worker pool when there are enough of them (workers.py).
    Every cell is tried, so one bad capture keeps the others' results; then the failures are raised
    together."""
    stale = [(cj, out) for cj, out in jobs if not is_current(cj, out, max_rel_ci)]
    pooled = workers > 1 and len(stale) > 1 and (len(stale) >= POOL_MIN_CELLS or pool_running(workers))
    if pooled:
        futures = [pool(workers).submit(analyse_cell_reporting, cj, out, max_rel_ci) for cj, out in stale]
        results = [f.result() for f in futures]
    else:
        results = [analyse_cell_reporting(cj, out, max_rel_ci) for cj, out in stale]
    failed = [err for outcome, err, _ in results if outcome == "failed"]
    if failed:
        raise JoulebenchError(f"{len(failed)} of {len(jobs)} cells could not be analysed:\n" + "\n".join(failed))
    analysed = sum(1 for r, _, _ in results if r == "analysed")
    return {"analysed": analysed, "cached": len(jobs) - analysed, "cpu_s": sum(cpu for _, _, cpu in results),
            "where": f"{workers} worker processes" if pooled else "the job's own process"}


def is_current(cell_json: str, out_dir: str, max_rel_ci: float) -> bool:
    return cache.is_current(Path(out_dir), cache.key(Path(cell_json).parent, cache.settings(max_rel_ci)))


def pair_tables(out_dirs: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The analysed cells' trial rows (the seed's own figures added) and request rows."""
    trials = with_identity(frame_of([read_arrow(Path(d) / cache.TRIAL_ROW) for d in out_dirs]))
    requests = with_identity(frame_of([read_arrow(Path(d) / cache.REQUEST_ROWS) for d in out_dirs]))
    return (seed_columns(trials) if not trials.empty else trials), requests


def analyse_pair(jobs: list[tuple[str, str]], trials_out: str, requests_out: str, *, max_rel_ci: float,
                 workers: int = 1, log=None) -> None:
    counts = analyse_cells(jobs, max_rel_ci, workers)
    trials, requests = pair_tables([out for _, out in jobs])
    write_table(trials, trials_out)
    write_table(requests, requests_out)
    if log is not None:
        print(f"{len(jobs)} cells: {counts['analysed']} analysed, {counts['cached']} unchanged since their "
              f"last analysis (key: {cache.KEY_FILE} beside each cell's tables); {counts['cpu_s']:.2f} CPU s "
              f"in {counts['where']}", file=log)
