"""Where everything lives. Raw captures and parsed cells are sibling trees (see README).

A cell's directory is `CELL_PATTERN` under each tree. Trial 1 and concurrency 1 have no tag, so
a sweep with one trial at concurrency 1 has exactly the paths it had before either axis existed;
trial k >= 2 is the sibling `ctx{ctx}_gen{gen}_t{k}`, concurrency N >= 2 `ctx{ctx}_gen{gen}_c{N}`
(`_c{N}_t{k}` for both; docs/raw-format.md). Each tag is a wildcard of its own whose values are
listed in full (wildcard_constraints), so `gen=64` never swallows `_t2` or `_c2`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from .config import Cell

RAW = "results/raw"
CELLS = "results/cells"
INCOMPLETE = "results/raw-incomplete"
SUPERSEDED = "results/raw-superseded"
CELL_PATTERN = "{mode}/{backend}/{model}/ctx{ctx}_gen{gen}{concurrency}{trial}"


def _tag(letter: str, value: int) -> str:
    return "" if int(value) == 1 else f"_{letter}{int(value)}"


def _from_tag(letter: str, what: str, tag: str) -> int:
    if not tag:
        return 1
    m = re.fullmatch(rf"_{letter}([0-9]+)", tag)
    if not m or int(m.group(1)) < 2:
        raise ValueError(f"not a {what} tag: {tag!r} (expected '' or '_{letter}2', '_{letter}3', ...)")
    return int(m.group(1))


def trial_tag(trial: int) -> str:
    return _tag("t", trial)


def trial_from_tag(tag: str) -> int:
    return _from_tag("t", "trial", tag)


def concurrency_tag(concurrency: int) -> str:
    return _tag("c", concurrency)


def concurrency_from_tag(tag: str) -> int:
    return _from_tag("c", "concurrency", tag)


def cell_suffix(cell: Cell) -> str:
    return CELL_PATTERN.format(mode=cell.mode, backend=cell.backend, model=cell.model, ctx=cell.ctx,
                               gen=cell.gen, concurrency=concurrency_tag(cell.concurrency),
                               trial=trial_tag(cell.trial))


def cell_file(tree: str, cell: Cell, name: str) -> str:
    """`tree/<cell>/name` as a relative path string (Snakemake inputs)."""
    return f"{tree}/{cell_suffix(cell)}/{name}"


def raw_dir(cell: Cell, root: str | os.PathLike = ".") -> Path:
    return Path(root) / RAW / cell_suffix(cell)


def cache_dir() -> Path:
    """Shared across checkouts: llama.cpp builds, assembled GGUFs, tokenizers."""
    base = os.environ.get("JOULEBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "joulebench"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path
