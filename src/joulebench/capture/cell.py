"""Capture one cell (a block of one, or with capture.unit: block the cell's whole block): the
careful sequence under the machine's device lock, every step's duration recorded.

orphaned aiperf stopped -> an accepted capture kept (or superseded on request) -> a pending one
adopted -> block opened (block.py) -> the named steps (steps.py: mode, model, server, cool-down,
prompts, idle baseline, load, collect) -> requests checked, records written, cells promoted
(accept.py). A failure moves every staging folder to raw-incomplete/ and names it.
"""
from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from .. import config as C
from ..errors import CaptureError
from ..paths import INCOMPLETE, cell_suffix
from ..runtime import rundir
from ..runtime.clients import disk_error, reap_orphan_clients
from ..runtime.devicelock import DeviceLock
from ..runtime.processes import Terminated, sigterm_raises
from . import block as blocks
from . import writeonce
from .log import say

DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # reported in one line, naming the path


def capture(cfg: dict, cell: C.Cell, cell_json: Path, config_path: Path, root: Path = Path(".")) -> dict:
    """Capture one cell (or its block) holding the machine's device lock throughout. A fleet
    cell is captured with its device's own config, run state and lock (this process is its job)."""
    if cell.device is not None:
        cfg = C.device_config(cfg, cell.device)
        os.environ[rundir.DEVICE_ENV] = cell.device
    lock = DeviceLock(root).acquire(say=say)
    try:
        with sigterm_raises():
            return _capture(cfg, cell, Path(cell_json), config_path, Path(root))
    except Terminated as exc:
        raise CaptureError(f"{cell_suffix(cell)}: {exc}") from None
    except OSError as exc:
        if exc.errno in DISK_ERRNOS:
            raise disk_error(exc, exc.filename or cell_json.parent) from None
        raise
    finally:
        lock.release()


def _capture(cfg: dict, cell: C.Cell, cell_json: Path, config_path: Path, root: Path) -> dict:
    t0_ns, t0 = time.time_ns(), time.monotonic()
    cell_dir = cell_json.parent
    suffix = cell_suffix(cell)
    # under the device lock no capture runs: any recorded aiperf is a killed capture's
    orphans = reap_orphan_clients(rundir.clients_dir(root))
    if orphans:
        say(f"stopped aiperf left running by a killed capture (pids {orphans})")
    kept = blocks.keep_or_supersede(cell_json, suffix, root)
    if kept is not None:
        return kept
    stashed = writeonce.stash_leftovers(cell_dir, root / INCOMPLETE, suffix, "interrupted")
    if stashed:
        say(f"{suffix}: moved an interrupted capture's files to {stashed}")
    split = blocks.splits_into_cells(cfg, cell)
    if split:
        adopted = blocks.adopt_pending(cfg, cell, cell_dir, root)
        if adopted:
            return adopted
    # imported only to measure: a job that keeps or adopts its cell does without pandas & co (~0.5 s)
    from .accept import checked_records, promote_all
    from .steps import Timings, measure

    block = blocks.open_block(cfg, cell, cell_dir, root, split)
    sweep = cfg["sweep"]
    cap = sweep.get("warmup_output_tokens")
    say(f"{block.describe()}: {sweep['requests']} requests per cell (+{sweep['warmup_requests']} warm-up"
        + (f", at most {cap} tokens generated" if cap else "") + ")")
    timings = Timings()
    try:
        run = measure(cfg, block, Path(config_path), root, timings)
        records = checked_records(cfg, block, run, t0_ns)
    except BaseException as exc:
        shown = _failure(exc, block, suffix, root)
        if shown is None:
            raise
        raise shown from None
    timings.seconds["total"] = round(time.monotonic() - t0, 3)
    promote_all(block, records, run, timings, t0_ns)
    say(f"cell {suffix}: accepted in {timings.seconds['total']:.1f}s"
        + (f" ({len(block.cells) - 1} more cells of the block measured and pending)" if len(block.cells) > 1 else ""))
    return records[cell]


def _failure(exc: BaseException, block: blocks.Block, suffix: str, root: Path) -> CaptureError | None:
    """Set the attempt's files aside; the error to show instead of exc (naming where they are), or
    None to re-raise exc as it is."""
    kept = blocks.set_aside(block, root)
    if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
        exc = disk_error(exc, exc.filename or block.work.parent)
    if isinstance(exc, (CaptureError, Terminated)) and kept:
        logs = [n for n in ("aiperf.log", "server.log") if (kept[0] / n).exists()]
        return CaptureError(f"{suffix}: {exc}\n  the attempt's files are kept in {kept[0]}"
                            + (f" (see its {' and '.join(logs)})" if logs else ""))
    return None
