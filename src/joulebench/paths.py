"""Where everything lives. Raw captures and parsed cells are sibling trees (see README).

A cell's directory is `CELL_PATTERN` under each tree. Trial 1 has no tag, so a sweep with one
trial has exactly the paths it had before trials existed; trial k >= 2 is the sibling
`ctx{ctx}_gen{gen}_t{k}` (docs/raw-format.md). The tag is a wildcard of its own whose values are
listed in full (wildcard_constraints), so `gen=64` never swallows `_t2`.
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
FIGURES = "results/figures"
CELL_PATTERN = "{mode}/{backend}/{model}/ctx{ctx}_gen{gen}{trial}"
_TRIAL_TAG = re.compile(r"_t([0-9]+)")


def trial_tag(trial: int) -> str:
    return "" if int(trial) == 1 else f"_t{int(trial)}"


def trial_from_tag(tag: str) -> int:
    if not tag:
        return 1
    m = _TRIAL_TAG.fullmatch(tag)
    if not m or int(m.group(1)) < 2:
        raise ValueError(f"not a trial tag: {tag!r} (expected '' or '_t2', '_t3', ...)")
    return int(m.group(1))


def cell_suffix(cell: Cell) -> str:
    return CELL_PATTERN.format(mode=cell.mode, backend=cell.backend, model=cell.model, ctx=cell.ctx,
                               gen=cell.gen, trial=trial_tag(cell.trial))


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
