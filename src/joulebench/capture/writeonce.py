"""Raw captures are write-once: staged in a private folder, promoted file by file with the
completion marker (cell.json) last, made read-only. Nothing captured is ever deleted: leftovers
of an interrupted capture are moved aside to results/raw-incomplete/."""
from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

MARKER = "cell.json"


def stash_leftovers(cell_dir: Path, incomplete_root: Path, suffix: str, why: str) -> Path | None:
    """Move anything in cell_dir (a capture that never wrote its marker) aside. Returns where."""
    cell_dir = Path(cell_dir)
    if not cell_dir.exists():
        return None
    entries = [p for p in cell_dir.iterdir() if p.name != MARKER]
    if not entries:
        return None
    dest = Path(incomplete_root) / suffix / f"{time.strftime('%Y%m%dT%H%M%S')}-{why}-{os.getpid()}"
    dest.mkdir(parents=True, exist_ok=True)
    for p in entries:
        shutil.move(str(p), str(dest / p.name))
    return dest


def make_read_only(path: Path) -> None:
    for root, dirs, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            mode = os.stat(p).st_mode
            os.chmod(p, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def promote(staging: Path, cell_dir: Path) -> None:
    """Move staged entries into cell_dir; the marker goes last, with an atomic rename."""
    staging, cell_dir = Path(staging), Path(cell_dir)
    cell_dir.mkdir(parents=True, exist_ok=True)
    make_read_only(staging)
    for p in sorted(staging.iterdir()):
        if p.name == MARKER:
            continue
        target = cell_dir / p.name
        if target.exists():
            raise FileExistsError(f"{target}: raw captures are write-once; refusing to overwrite")
        os.replace(p, target)
    marker = staging / MARKER
    if marker.exists():
        os.replace(marker, cell_dir / MARKER)
    staging.rmdir()
