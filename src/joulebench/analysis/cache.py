"""Is a cell's analysis current? A key of its raw files, the analysis code and the analysis settings.

The key is written after the cell's tables and removed before they are rewritten, so a job killed
half-way never leaves tables that look current.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

KEY_FILE = "analysis_key.json"
TRIAL_ROW = "trial.arrow"  # the cell's row: parsed figures and its energy split side by side
REQUEST_ROWS = "requests_energy.arrow"  # one row per request, with its prefill / decode energy
TABLES = (TRIAL_ROW, REQUEST_ROWS)


@functools.cache
def code_version() -> str:
    """A hash of the whole package's source: any code change re-analyses every cell (correct,
    and cheap next to a capture)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def raw_fingerprint(raw_dir: Path) -> list[list]:
    """Every raw file of the capture: relative path, size, mtime (raw captures are write-once, so a
    re-measure or an edit changes at least one)."""
    out = []
    for dirpath, _dirs, files in os.walk(raw_dir):
        for name in files:
            st = os.stat(os.path.join(dirpath, name))
            rel = os.path.relpath(os.path.join(dirpath, name), raw_dir)
            out.append([rel, st.st_size, st.st_mtime_ns])
    return sorted(out)


def settings(max_rel_ci: float) -> dict:
    """The analysis settings a cell's tables depend on (config: energy.max_rel_ci)."""
    return {"max_rel_ci": max_rel_ci}


def key(raw_dir: Path, settings: dict) -> dict:
    return {"code": code_version(), "settings": settings, "raw": raw_fingerprint(Path(raw_dir))}


def is_current(out_dir: Path, want: dict) -> bool:
    try:
        have = json.loads((Path(out_dir) / KEY_FILE).read_text())
    except (OSError, ValueError):
        return False
    return have == json.loads(json.dumps(want)) and all((Path(out_dir) / t).exists() for t in TABLES)


def invalidate(out_dir: Path) -> None:
    (Path(out_dir) / KEY_FILE).unlink(missing_ok=True)


def mark_current(out_dir: Path, want: dict) -> None:
    tmp = Path(out_dir) / f".{KEY_FILE}.tmp"
    tmp.write_text(json.dumps(want))
    os.replace(tmp, Path(out_dir) / KEY_FILE)
