"""Helpers the Snakemake rules call at DAG time."""
from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path


def missing_cells_table(cells, is_captured, limit: int = 40) -> str:
    """A short table of what a run would capture: per (mode, backend, model), missing/total."""
    total = Counter((c.mode, c.backend, c.model) for c in cells)
    missing = [c for c in cells if not is_captured(c)]
    miss = Counter((c.mode, c.backend, c.model) for c in missing)
    lines = [f"joulebench: {len(missing)} of {len(cells)} cells not captured yet"]
    if not missing:
        return lines[0]
    w_mode = max(4, *(len(k[0]) for k in total))
    w_back = max(7, *(len(k[1]) for k in total))
    w_model = max(5, *(len(k[2]) for k in total))
    lines.append(f"  {'mode':<{w_mode}}  {'backend':<{w_back}}  {'model':<{w_model}}  missing  cells (ctx x gen[#trial])")
    shown = 0
    for key in total:
        if not miss.get(key):
            continue
        if shown >= limit:
            lines.append(f"  ... and {len([k for k in miss if miss[k]]) - shown} more groups")
            break
        these = [c for c in missing if (c.mode, c.backend, c.model) == key]
        cells_txt = " ".join(f"{c.ctx}x{c.gen}" + (f"#{c.trial}" if c.trial > 1 else "") for c in these[:8]) + (
            " ..." if len(these) > 8 else "")
        lines.append(
            f"  {key[0]:<{w_mode}}  {key[1]:<{w_back}}  {key[2]:<{w_model}}  {miss[key]:>3}/{total[key]:<3}  {cells_txt}"
        )
        shown += 1
    return "\n".join(lines)


OWNER_ENV = "JOULEBENCH_OWNER_PID"


def clear_stale_locks(root: Path) -> bool:
    """A kill -9 leaves Snakemake's locks behind and every later run stops at "Directory cannot be
    locked" until `snakemake --unlock`. Remove them only when no other process with "snakemake" in
    its command line runs in this directory (then they cannot belong to a live run)."""
    locks = root / ".snakemake" / "locks"
    if not locks.is_dir() or not any(locks.iterdir()):
        return False
    here, me = os.path.realpath(root), os.getpid()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == me:
            continue
        try:
            if os.readlink(d / "cwd") != here:
                continue
            if b"snakemake" in (d / "cmdline").read_bytes():
                return False  # another run here: its locks are real
        except OSError:
            continue
    for f in locks.iterdir():
        f.unlink()
    return True


def housekeeping_at_start(root: Path, cleanup: bool = True) -> None:
    """Once per run (not in the jobs it spawns): mark this run as the owner of the servers and
    aiperf processes it starts, and clean up what a killed run provably left behind."""
    if OWNER_ENV in os.environ:
        return
    os.environ[OWNER_ENV] = str(os.getpid())
    if not cleanup:
        return
    from .backends.process import stop_orphans
    from .capture.cell import reap_orphan_clients

    if clear_stale_locks(root):
        print("joulebench: removed Snakemake locks left by a killed run (no other run in this directory)",
              file=sys.stderr)
    reaped = reap_orphan_clients(root / "results/.run/clients", owner_gone_only=True)
    if reaped:
        print(f"joulebench: stopped aiperf left running by a killed run {reaped}", file=sys.stderr)
    orphans = stop_orphans(root / "results/.run/servers")
    if orphans:
        print(f"joulebench: stopped servers left by a killed run {orphans}", file=sys.stderr)
