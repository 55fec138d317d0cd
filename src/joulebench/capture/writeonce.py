"""Raw captures are write-once: staged in a private folder, promoted file by file with the
completion marker (cell.json) last, made read-only. Nothing captured is ever deleted: leftovers
of an interrupted capture are moved aside to results/raw-incomplete/, and a capture measured
again on request is moved whole to results/raw-superseded/.

cell.json is Snakemake's output, and Snakemake deletes it before a job that it reruns (forced, or
believed incomplete after its run was killed while the capture went on to finish). So the record
also has a second name, KEEPER (a hard link, same bytes), which Snakemake does not know: a capture
whose KEEPER exists is complete, with or without its cell.json."""
from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path

MARKER = "cell.json"
KEEPER = "accepted.json"


def _stamp(why: str) -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{why}-{os.getpid()}"


def stash_leftovers(cell_dir: Path, incomplete_root: Path, suffix: str, why: str) -> Path | None:
    """Move anything in cell_dir (a capture that never wrote its marker) aside. Returns where."""
    cell_dir = Path(cell_dir)
    if not cell_dir.exists() or (cell_dir / KEEPER).exists():
        return None  # nothing there, or a complete capture (never "leftovers")
    entries = [p for p in cell_dir.iterdir() if p.name != MARKER]
    if not entries:
        return None
    dest = Path(incomplete_root) / suffix / _stamp(why)
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
    """Move staged entries into cell_dir; then the KEEPER, then the marker, each an atomic rename
    (so a KEEPER in cell_dir means every other file is there)."""
    staging, cell_dir = Path(staging), Path(cell_dir)
    cell_dir.mkdir(parents=True, exist_ok=True)
    marker = staging / MARKER
    if marker.exists() and not (staging / KEEPER).exists():
        os.link(marker, staging / KEEPER)
    make_read_only(staging)
    last = (KEEPER, MARKER)
    for p in [*sorted(p for p in staging.iterdir() if p.name not in last), *(staging / n for n in last)]:
        if not os.path.lexists(p):
            continue
        target = cell_dir / p.name
        if p.name != MARKER and target.exists():
            raise FileExistsError(f"{target}: raw captures are write-once; refusing to overwrite")
        os.replace(p, target)
    staging.rmdir()


def complete_record(cell_dir: Path) -> dict | None:
    """The accepted record of a complete capture in cell_dir (cell.json, or its KEEPER when
    Snakemake deleted cell.json); None when there is none."""
    for name in (MARKER, KEEPER):
        try:
            rec = json.loads((Path(cell_dir) / name).read_text())
        except (OSError, ValueError):
            continue
        if name == MARKER and not (Path(cell_dir) / KEEPER).exists():
            return None  # a capture from before KEEPER existed: not known to be complete here
        if isinstance(rec, dict) and rec.get("status") == "accepted":
            return rec
    return None


def restore_marker(cell_dir: Path) -> bool:
    """Give a complete capture its cell.json back (a link to KEEPER). True if it was missing."""
    marker = Path(cell_dir) / MARKER
    if marker.exists():
        return False
    os.link(Path(cell_dir) / KEEPER, marker)
    return True


def supersede(cell_dir: Path, superseded_root: Path, suffix: str) -> Path:
    """Move a complete capture, whole and in one rename, to superseded_root/suffix/<date>-..., with
    its cell.json. Returns where. Other leftovers (a staging folder) must be moved aside first."""
    cell_dir = Path(cell_dir)
    restore_marker(cell_dir)
    dest = Path(superseded_root) / suffix / _stamp("superseded")
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.rename(cell_dir, dest)
    cell_dir.mkdir()
    return dest
