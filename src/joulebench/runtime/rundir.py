"""Every path of a run's bookkeeping (results/.run/), relative to the workflow directory.

A capture on a fleet device (devices:) keeps its own bookkeeping under results/.run/devices/NAME/
(its servers, aiperf records, pending cells), so two devices sharing one file system (or one
machine) never take each other's server for a leftover. The capture process says which device it
is through DEVICE_ENV (capture/cell.py sets it; the device lock reads it too).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from ..paths import RUN_STATE

RUN_DIR = Path(RUN_STATE)
DEVICE_ENV = "JOULEBENCH_DEVICE"


def current_device() -> str | None:
    return os.environ.get(DEVICE_ENV) or None


@contextmanager
def on_device(name: str | None):
    """Run state and device lock of `name` inside the block (None: this machine's own)."""
    before = os.environ.get(DEVICE_ENV)
    if name is None:
        os.environ.pop(DEVICE_ENV, None)
    else:
        os.environ[DEVICE_ENV] = name
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(DEVICE_ENV, None)
        else:
            os.environ[DEVICE_ENV] = before


def devices_with_state(root: str | os.PathLike = ".") -> list[str]:
    """Fleet devices that left bookkeeping under this results tree."""
    base = Path(root) / RUN_DIR / "devices"
    return sorted(d.name for d in base.iterdir() if d.is_dir()) if base.is_dir() else []


def run_dir(root: str | os.PathLike = ".") -> Path:
    device = current_device()
    return Path(root) / RUN_DIR / "devices" / device if device else Path(root) / RUN_DIR


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
