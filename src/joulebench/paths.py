"""Where everything lives. Raw captures and parsed cells are sibling trees (see README)."""
from __future__ import annotations

import os
from pathlib import Path

from .config import Cell

RAW = "results/raw"
CELLS = "results/cells"
INCOMPLETE = "results/raw-incomplete"
SUPERSEDED = "results/raw-superseded"


def cell_suffix(cell: Cell) -> str:
    return f"{cell.mode}/{cell.backend}/{cell.model}/ctx{cell.ctx}_gen{cell.gen}"


def raw_dir(cell: Cell, root: str | os.PathLike = ".") -> Path:
    return Path(root) / RAW / cell_suffix(cell)


def cells_dir(cell: Cell, root: str | os.PathLike = ".") -> Path:
    return Path(root) / CELLS / cell_suffix(cell)


def cache_dir() -> Path:
    """Shared across checkouts: llama.cpp builds, assembled GGUFs, tokenizers."""
    base = os.environ.get("JOULEBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "joulebench"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path
