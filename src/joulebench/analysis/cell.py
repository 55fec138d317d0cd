"""One capture, parsed and split in memory, written as two tables: its trial row and its requests."""
from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from ..errors import JoulebenchError
from ..metrics.cell_table import load_cell_json, parse_tables
from ..metrics.rowio import frame_table, row_table, write_arrow
from ..split import split_tables
from . import cache


def trial_row(cell_row: dict, energy_row: dict) -> dict:
    """The parsed figures with the energy split beside them (one identity, checked equal)."""
    shared = [k for k in energy_row if k in cell_row]
    differ = {k: (cell_row[k], energy_row[k]) for k in shared if str(cell_row[k]) != str(energy_row[k])}
    if differ:
        raise ValueError(f"the energy row's identity differs from the parsed row's: {differ}")
    return {**cell_row, **{k: v for k, v in energy_row.items() if k not in cell_row}}


def _replace(write, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def analyse_cell(cell_json: str, out_dir: str, max_rel_ci: float) -> str:
    """Parse + split one capture into out_dir unless its tables are current. Returns "cached" or
    "analysed"; raises JoulebenchError (file and line named) on bad raw data."""
    cell_json, out = Path(cell_json), Path(out_dir)
    want = cache.key(cell_json.parent, cache.settings(max_rel_ci))
    if cache.is_current(out, want):
        return "cached"
    out.mkdir(parents=True, exist_ok=True)
    cache.invalidate(out)
    meta = load_cell_json(cell_json)
    requests, cell_row = parse_tables(cell_json, meta)
    requests, energy_row = split_tables(cell_json, meta, requests, max_rel_ci)
    row = row_table(trial_row(cell_row, energy_row))
    _replace(lambda p: write_arrow(row, p), out / cache.TRIAL_ROW)
    _replace(lambda p: write_arrow(frame_table(requests), p), out / cache.REQUEST_ROWS)
    cache.mark_current(out, want)
    return "analysed"


def analyse_cell_reporting(cell_json: str, out_dir: str, max_rel_ci: float) -> tuple[str, str | None, float]:
    """For a worker process: (outcome, error text, CPU seconds spent). A failure comes back as text
    naming file and line (with the traceback of an unexpected error, which an exception raised
    across the process boundary would lose), so the pair job can try every cell first."""
    cpu = time.process_time()
    try:
        outcome, error = analyse_cell(cell_json, out_dir, max_rel_ci), None
    except JoulebenchError as exc:
        outcome, error = "failed", str(exc)
    except Exception:  # noqa: BLE001  a bug: keep the traceback for the rule's log
        outcome, error = "failed", f"{cell_json}: unexpected error\n{traceback.format_exc()}"
    return outcome, error, time.process_time() - cpu
