"""Accept a block's cells: every request checked against its cell's target lengths, each cell's
record written last into its staging, and the staging promoted (write-once)."""
from __future__ import annotations

import json
import time

from .. import config as C
from ..errors import CaptureError
from ..paths import cell_suffix
from . import adaptive, writeonce
from .block import Block
from .block_files import cell_files_from_block
from .record import cell_record
from .steps import BlockRun, Timings
from .validate import problems


def checked_records(cfg: dict, block: Block, run: BlockRun, t0_ns: int) -> dict[C.Cell, dict]:
    """Each cell's record; CaptureError naming the cell if any of its requests is off target.
    A split block's files are first split into the cells' stagings (the block's own folder kept)."""
    sweep = cfg["sweep"]
    if block.split:
        block_dir = block.work.parent / f"block-{t0_ns}"
        for i, c in enumerate(block.cells):
            cell_files_from_block(block.work, block.stagings[c], i, run.prompts.line_cell)
        writeonce.promote(block.work, block_dir)
    records = {}
    for i, c in enumerate(block.cells):
        sub = run.requests[run.requests["_cell"] == i]
        expected = max(len(sub), sweep["precision"]["min_requests"]) if adaptive.is_auto(sweep) \
            else sweep["requests"]
        bad = problems(sub, c.ctx, c.gen, expected)
        if bad:
            hint = ""
            isl_off = sum(": ISL " in b for b in bad)
            if isl_off and isl_off == len(sub):
                hint = (f"\n  every prompt's length as the server counts it differs from {c.ctx}: is "
                        f"models.{c.model}.tokenizer ({cfg['models'][c.model]['tokenizer']}) "
                        "the model's own tokenizer?")
            raise CaptureError(f"cell {cell_suffix(c)} rejected:\n  " + "\n  ".join(bad[:20]) + hint)
        records[c] = cell_record(cfg, c, run, len(sub))
        if block.split:
            records[c]["block"] = {"id": f"block-{t0_ns}", "dir": str(block_dir), "cells": len(block.cells),
                                   "position": i}
    return records


def promote_all(block: Block, records: dict[C.Cell, dict], run: BlockRun, timings: Timings, t0_ns: int) -> None:
    """Stamp each record with the run's times and step durations, write it, promote its cell."""
    for c in block.cells:
        record = records[c]
        record["timestamps"] = {
            "capture_start_ns": t0_ns,
            "capture_end_ns": time.time_ns(),
            "capture_start_iso": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t0_ns / 1e9)),
            **run.stamps,
        }
        record["step_seconds"] = {**timings.seconds, "cells_in_run": len(block.cells)}
        (block.stagings[c] / writeonce.MARKER).write_text(json.dumps(record, indent=1, default=str))
        writeonce.promote(block.stagings[c], block.homes[c])
