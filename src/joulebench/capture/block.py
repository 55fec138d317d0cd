"""Which cells one aiperf run measures, and where their files live until accepted.

A cell is a block of one. With `capture.unit: block` the run also measures the block's other cells
(same mode, backend, model and trial) that have no capture yet; those park complete in
results/.run/pending/ until their own Snakemake job adopts them, so each job still produces exactly
its own output. Nothing is deleted on failure: every staging folder moves to raw-incomplete/.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .. import config as C
from ..paths import INCOMPLETE, SUPERSEDED, cell_suffix, raw_dir
from ..runtime import rundir
from ..runtime.forced import is_forced
from . import adaptive, writeonce
from .log import say


@dataclass
class Block:
    """The cells of one run, the asked-for cell first."""

    cells: list[C.Cell]
    homes: dict[C.Cell, Path]  # where each cell's accepted files go
    stagings: dict[C.Cell, Path]  # each cell's private folder until promoted
    work: Path  # where the run writes: the asked-for cell's staging, or a block folder to split
    split: bool  # the run's files are split into per-cell folders (capture.unit: block)

    @property
    def asked(self) -> C.Cell:
        return self.cells[0]

    def describe(self) -> str:
        suffix = cell_suffix(self.asked)
        return f"block of {len(self.cells)} cells starting at {suffix}" if self.split else f"cell {suffix}"


def staging_dir(cell_home: Path, pid: int) -> Path:
    """A capture's private folder inside a cell's home until the cell is promoted (its pid in the name:
    `joulebench status` tells a live capture from one a kill left behind)."""
    return cell_home / f".staging-{pid}"


def block_work_dir(cell_home: Path, pid: int) -> Path:
    """Where a split block run writes, beside its cells' homes."""
    return cell_home.parent / f".block-staging-{pid}"


def splits_into_cells(cfg: dict, cell: C.Cell) -> bool:
    """True when one run measures the whole block (capture.unit: block)."""
    if adaptive.is_auto(cfg["sweep"]):
        return False  # a block's prompts are sent in order: one cell cannot stop early inside it
    if cell.concurrency > 1:
        # N in flight: a cell's first requests would share the batch with the previous cell's last
        # ones (other lengths), so each cell gets its own aiperf run (the server is still reused)
        return False
    return cfg["capture"]["unit"] == "block"


def pending_dir(root: Path, cell: C.Cell) -> Path:
    """A cell measured by another cell's block capture waits here, complete, until its job adopts it."""
    return rundir.pending_dir(root) / cell_suffix(cell)


def keep_or_supersede(cell_json: Path, suffix: str, root: Path) -> dict | None:
    """A complete capture already in the cell's folder (Snakemake deleted its cell.json to rerun the
    job): kept, unless this run was asked to measure it again; then it moves, whole, to
    raw-superseded/. Returns the kept record, or None to measure."""
    cell_dir = cell_json.parent
    record = writeonce.complete_record(cell_dir)
    if record is None:
        return None
    if not is_forced(cell_json):
        restored = writeonce.restore_marker(cell_dir)
        say(f"cell {suffix}: kept the accepted capture already there"
            + (" (its job finished after its run was killed; Snakemake took it for incomplete)" if restored else "")
            + f"; to measure it again: snakemake --cores 1 -f {cell_json}")
        return record
    where = writeonce.supersede(cell_dir, root / SUPERSEDED, suffix)
    say(f"cell {suffix}: measuring again as asked; the earlier capture is kept complete in {where}")
    return None


def adopt_pending(cfg: dict, cell: C.Cell, cell_dir: Path, root: Path) -> dict | None:
    """The cell's capture made by an earlier block run, promoted into its folder; None if none fits."""
    pend = pending_dir(root, cell)
    marker = pend / writeonce.MARKER
    if not marker.exists():
        return None
    record = json.loads(marker.read_text())
    if record.get("cell_settings_hash") != C.cell_settings_hash(cfg, cell):
        where = writeonce.stash_leftovers(pend.parent, root / INCOMPLETE, cell_suffix(cell), "stale-pending")
        say(f"cell {cell_suffix(cell)}: a pending capture with other settings was moved to {where}")
        return None
    os.chmod(marker, 0o644)  # promote() renames it; its content stays untouched
    writeonce.promote(pend, cell_dir)
    say(f"cell {cell_suffix(cell)}: accepted (measured in block {record.get('block', {}).get('id')})")
    return record


def _uncaptured_block_mates(cfg: dict, cell: C.Cell, root: Path) -> list[C.Cell]:
    """The block's other cells (same trial) that are neither captured nor pending, in capture order
    (config.cells: a trial's cells alternate direction between trials)."""
    return [c for c in C.cells(cfg) if c.block == cell.block and c != cell
            and not (raw_dir(c, root) / writeonce.MARKER).exists()
            and not (pending_dir(root, c) / writeonce.MARKER).exists()]


def open_block(cfg: dict, cell: C.Cell, cell_dir: Path, root: Path, split: bool) -> Block:
    """The run's cells with an empty private staging folder each (a leftover moved aside first)."""
    cells = [cell, *_uncaptured_block_mates(cfg, cell, root)] if split else [cell]
    homes = {c: cell_dir if c == cell else pending_dir(root, c) for c in cells}
    stagings = {}
    for c in cells:
        writeonce.stash_leftovers(homes[c], root / INCOMPLETE, cell_suffix(c), "interrupted")
        stagings[c] = staging_dir(homes[c], os.getpid())
        stagings[c].mkdir(parents=True, exist_ok=False)
    work = block_work_dir(cell_dir, os.getpid()) if split else stagings[cell]
    work.mkdir(parents=True, exist_ok=True)
    return Block(cells=cells, homes=homes, stagings=stagings, work=work, split=split)


def set_aside(block: Block, root: Path) -> list[Path]:
    """After a failure: every staging folder's files go to raw-incomplete/ (never deleted), the
    folder with aiperf's log first in the returned list. A failing move (full disk) is reported,
    not raised, so that the original error stays the one shown."""
    moves = [(st, cell_suffix(c), "failed") for c, st in block.stagings.items()]
    if block.split:
        moves.insert(0, (block.work, cell_suffix(block.asked), "failed-block"))
    kept = []
    for folder, where, why in moves:
        try:
            dest = writeonce.stash_leftovers(folder, root / INCOMPLETE, where, why)
        except OSError as exc:
            say(f"could not move {folder} to {root / INCOMPLETE} ({exc.strerror}): its files stay there")
            continue
        if dest:
            kept.append(dest)
        try:
            folder.rmdir()
        except OSError:
            pass
    return sorted(kept, key=lambda k: not (k / "aiperf.log").exists())
