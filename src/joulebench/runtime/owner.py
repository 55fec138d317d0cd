"""The snakemake run that owns the servers and aiperf processes its jobs leave running.

The main snakemake process sets OWNER_ENV to its pid once (rules/common.smk, through
runtime.housekeeping); its jobs inherit it and record it with every process they start. A
process whose owner is gone was left by a killed run and may be stopped; one whose owner still
runs belongs to a live run and is left alone."""
from __future__ import annotations

import os

from .processes import cmdline, pid_alive, start_ticks

OWNER_ENV = "JOULEBENCH_OWNER_PID"


def current_owner() -> int | None:
    try:
        return int(os.environ[OWNER_ENV])
    except (KeyError, ValueError):
        return None


def claim_ownership() -> bool:
    """Make this process the run's owner unless it inherited one. True in the main process only."""
    if OWNER_ENV in os.environ:
        return False
    os.environ[OWNER_ENV] = str(os.getpid())
    return True


def owner_alive(pid: int | None, ticks: int | None = None) -> bool:
    """True while the run with this pid goes on: this very process, or a live snakemake (started
    at `ticks`, when known, so that a reused pid does not count)."""
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    if not pid_alive(pid) or not is_snakemake_main(cmdline(pid)):
        return False
    return ticks is None or start_ticks(pid) == ticks


def is_snakemake_main(argv: list[str]) -> bool:
    """A snakemake run's main process (`snakemake ...`, `python -m snakemake ...`, `python
    .../snakemake/__main__.py`), not one of its jobs (a script under .snakemake/scripts/)."""
    if not argv:
        return False
    if os.path.basename(argv[0]) == "snakemake":
        return True
    if not os.path.basename(argv[0]).startswith("python") or len(argv) < 2:
        return False
    if argv[1] == "-m":
        return argv[2:3] == ["snakemake"]
    script = argv[1]
    return os.path.basename(script) == "snakemake" or (
        os.path.basename(script) == "__main__.py" and os.path.basename(os.path.dirname(script)) == "snakemake")


def left_behind(owner: int | None, this_run_too: bool = False, unowned_too: bool = False) -> bool:
    """May a process recorded with this owner be stopped? Yes when its run is gone; at a run's
    end also when it is this run's; `unowned_too`: also one started outside snakemake."""
    if owner is None:
        return unowned_too
    if this_run_too and owner == current_owner():
        return True
    return not owner_alive(owner)
