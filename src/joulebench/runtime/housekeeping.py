"""What a run does once at its start and at its end, about processes and locks left running.

Servers and aiperf outlive the job that started them (a server is reused by the next cell's job),
so a killed run leaves them, and Snakemake's own locks, behind. Every clean-up here stops only what
provably belongs to no live run: a process whose owning snakemake run is gone, and only while no
capture holds the device lock (a capture's server and aiperf are never touched while it runs).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .clients import reap_orphan_clients
from .devicelock import DeviceLock, read_holder
from .forced import note_forced
from .owner import claim_ownership, is_snakemake_main, left_behind
from .processes import cmdline
from .rundir import clients_dir, devices_with_state, on_device, servers_dir


def _say(msg: str) -> None:
    print(f"joulebench: {msg}", file=sys.stderr)


def at_start(root: Path, cleanup: bool = True) -> None:
    """Once per run, at parse time, in the main snakemake process only (not in the jobs it spawns,
    which inherit the owner). It has to run before Snakemake takes its directory lock: a kill -9
    leaves that lock behind, and Snakemake would stop with "Directory cannot be locked" before
    any rule, onstart handler or job of ours could clear it."""
    if not claim_ownership():
        return
    if not cleanup:
        return
    if clear_stale_locks(root):
        _say("removed Snakemake locks left by a killed run (no other run in this directory)")
    adopted = adopt_legacy_captures(root)
    if adopted:
        _say(f"gave {len(adopted)} accepted captures from before accepted.json existed their second name "
             "(kept from now on if Snakemake takes them for incomplete)")
    stop_leftovers(root, why="left by a killed run")
    for device in devices_with_state(root):
        with on_device(device):
            stop_leftovers(root, why=f"left by a killed run on device {device}")


def before_jobs(dag_settings) -> None:
    """onstart (the DAG is built, no job has started): tell the jobs which captures this run was
    asked to re-measure. Snakemake only knows its command line's settings after parsing."""
    note_forced(dag_settings)


def stop_leftovers(root: Path, why: str, this_run_too: bool = False, unowned_too: bool = False) -> list[str]:
    """Stop the recorded aiperf and servers of runs that are gone (see owner.left_behind), unless
    a capture is running: its processes are in use. Returns what was stopped."""
    from ..backends.process import stop_orphans  # servers live in backends/

    def which(owner):
        return left_behind(owner, this_run_too=this_run_too, unowned_too=unowned_too)

    lock = DeviceLock(root)
    if not lock.idle():
        holder = read_holder(lock.path)
        _say(f"a capture is running ({holder.describe() if holder else lock.path}): "
             "its server and aiperf are left alone")
        return []
    try:
        reaped = reap_orphan_clients(clients_dir(root), which)
        if reaped:
            _say(f"stopped aiperf {why} {reaped}")
        stopped = stop_orphans(servers_dir(root), which)
        if stopped:
            _say(f"stopped servers {why} {stopped}")
    finally:
        lock.release_idle()
    return [*map(str, reaped), *stopped]


def at_end(root: Path) -> None:
    """onsuccess / onerror: stop this run's servers and aiperf, and any a dead run left; a server
    another live run now uses (it took it over by reusing it) is its to stop. Fleet devices that
    share this file system and machine too (each under its own lock; a remote board's jobs stop
    nothing here)."""
    stop_leftovers(root, why="of this run", this_run_too=True)
    for device in devices_with_state(root):
        with on_device(device):
            stop_leftovers(root, why=f"of this run on device {device}", this_run_too=True)


def clear_stale_locks(root: Path) -> bool:
    """A kill -9 leaves Snakemake's locks behind and every later run stops at "Directory cannot be
    locked" until `snakemake --unlock`. Remove them only when no other snakemake run's main process
    runs in this directory (then they cannot belong to a live run)."""
    locks = Path(root) / ".snakemake" / "locks"
    if not locks.is_dir() or not any(locks.iterdir()):
        return False
    here, me = os.path.realpath(root), os.getpid()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == me:
            continue
        try:
            if os.readlink(d / "cwd") != here:
                continue
        except OSError:
            continue
        # another run here: its locks are real (a killed run's orphaned job is no run: the device
        # lock keeps the next capture from measuring alongside it)
        if is_snakemake_main(cmdline(int(d.name))):
            return False
    for f in locks.iterdir():
        f.unlink()
    return True


def adopt_legacy_captures(root: Path) -> list[Path]:
    """Captures accepted before KEEPER existed have only cell.json, which Snakemake deletes when it
    takes their job for incomplete (a main-pid-only kill -9 whose orphan went on to accept). Give
    each valid one its second name, once: it must run before Snakemake's DAG decides what to rerun,
    i.e. at parse time (at_start). Valid = an accepted record whose cell is the folder it lies in
    (promote() wrote cell.json last, so such a record means a complete capture)."""
    from ..capture.writeonce import KEEPER, MARKER
    from ..config import Cell
    from ..paths import RAW, cell_suffix

    raw = Path(root) / RAW
    adopted = []
    for marker in sorted(raw.glob(f"*/*/*/*/{MARKER}")):
        keeper = marker.with_name(KEEPER)
        if os.path.lexists(keeper):
            continue
        try:
            rec = json.loads(marker.read_text())
            cell = Cell.from_row(rec["cell"]) if rec.get("status") == "accepted" else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if cell is None or cell_suffix(cell) != marker.parent.relative_to(raw).as_posix():
            continue
        os.link(marker, keeper)
        adopted.append(marker.parent)
    return adopted


def no_rate_limit_when_local(workflow) -> bool:
    """Switch Snakemake's job-rate limiter off on a local run, once its scheduler exists (onstart).

    The limiter (--max-jobs-per-timespan, default 100/1s) paces submissions to a cluster. On a
    local run it only re-wakes the scheduler: every wake-up starts one more 1 s timer chain and
    re-reads the size of every waiting job's inputs (~300,000 stat calls in a seed-scale analysis,
    a third of its CPU), and the last timer holds Snakemake's exit for up to 1 s. A local run here
    starts a few jobs a second at most. A cluster executor (a fleet) keeps it. True when switched
    off; a Snakemake without the attribute is left as it is."""
    scheduler = getattr(workflow, "scheduler", None)
    if not getattr(workflow, "local_exec", False) or not hasattr(scheduler, "job_rate_limiter"):
        return False
    scheduler.job_rate_limiter = None
    return True
