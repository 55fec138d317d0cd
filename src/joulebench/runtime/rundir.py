"""Every path of a run's bookkeeping (results/.run/), relative to the workflow directory."""
from __future__ import annotations

import os
from pathlib import Path

from ..paths import RUN_STATE

RUN_DIR = Path(RUN_STATE)


def run_dir(root: str | os.PathLike = ".") -> Path:
    return Path(root) / RUN_DIR


def servers_dir(root: str | os.PathLike = ".") -> Path:
    """One state file per long-lived server (backends/process.py), plus its log."""
    return run_dir(root) / "servers"


def clients_dir(root: str | os.PathLike = ".") -> Path:
    """One pid record per running aiperf (runtime/clients.py)."""
    return run_dir(root) / "clients"


def pending_dir(root: str | os.PathLike = ".") -> Path:
    """Cells a block capture measured beyond the one its job asked for, complete, until adopted."""
    return run_dir(root) / "pending"


def platform_dir(root: str | os.PathLike = ".") -> Path:
    """Per-platform state that outlives one job (platforms/_state.py)."""
    return run_dir(root) / "platform"


def last_block_file(root: str | os.PathLike = ".") -> Path:
    """The (mode, backend, model) captured last: a new one triggers memory hygiene."""
    return run_dir(root) / "last_block.json"
