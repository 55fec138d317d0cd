"""A pool of analysis processes shared by every pair job of one Snakemake run.

Analysis rules are `run:` jobs inside Snakemake's own (threaded) process, so the pool forks from a
clean server process (forkserver) with the analysis modules imported once, not per job.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# scipy.special: the t quantile of every interval (imported where used, so not by the two above)
PRELOAD = ["joulebench.analysis.cell", "joulebench.metrics.aggregate", "scipy.special"]
_pools: dict[int, ProcessPoolExecutor] = {}
_lock = threading.Lock()


# Fewer cells than this to analyse (one re-measured cell, a few new ones) run in the job's own
# process unless the run already has a pool: starting one (the forkserver importing pandas, scipy
# and the analysis modules, then the workers) takes ~1.5 s, ~30 cells' analysis.
POOL_MIN_CELLS = 16


def pool_running(workers: int) -> bool:
    with _lock:
        return workers in _pools


def pool(workers: int) -> ProcessPoolExecutor:
    with _lock:
        if workers not in _pools:
            _pools[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=_server_context())
        return _pools[workers]


def start_server_early(workers: int, cells) -> None:
    """Called while Snakemake parses a run, for the config's cells: where every cell is captured and
    at least POOL_MIN_CELLS of them were never analysed (no analysis key: a fresh tree, new
    captures), the server the pool's processes fork from imports the analysis modules (~1.2 CPU s)
    while Snakemake builds the DAG on the other core, instead of after it when the first pair job
    asks for the pool. Not where a capture may run (nothing beside a power measurement), nor for a
    re-measured cell or a plot (no pool wanted). Nothing waits for it; it stops with Snakemake."""
    from ..paths import CELLS, RAW, cell_file
    from .cache import KEY_FILE

    if workers <= 1 or not all(os.path.exists(cell_file(RAW, c, "cell.json")) for c in cells):
        return
    never_analysed = (c for c in cells if not os.path.exists(cell_file(CELLS, c, KEY_FILE)))
    if sum(1 for _ in itertools.islice(never_analysed, POOL_MIN_CELLS)) >= POOL_MIN_CELLS:
        with _lock:
            _server_context()


def _server_context():
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(PRELOAD)
        _start_forkserver_on_this_package()  # already running: nothing to do
    return ctx


def _start_forkserver_on_this_package() -> None:
    """Python 3.11's forkserver ignores the parent's sys.path (forkserver.main drops it): its
    workers would import joulebench from wherever the interpreter finds it (an installed copy,
    another checkout) instead of the package this run imported, and run other code than the
    analysis key names. So the server starts with this package's folder first on PYTHONPATH."""
    from multiprocessing import forkserver

    import joulebench

    root = str(Path(joulebench.__file__).resolve().parents[1])
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, before) if p)
    try:
        forkserver.ensure_running()
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def worker_count(cores) -> int:
    """Worker processes for `--cores` (under a cluster executor Snakemake's cores can be far more
    than this machine has, or unset): never more than this machine's CPUs."""
    return max(1, min(int(cores or 1), os.cpu_count() or 1))


def timed(fn, *args, **kwargs):
    """(fn's value, the CPU seconds it took in the process that ran it)."""
    cpu = time.process_time()
    value = fn(*args, **kwargs)
    return value, time.process_time() - cpu


def in_workers(workers: int, fn, *args, **kwargs):
    """(fn(*args, **kwargs), its CPU seconds), run in the run's pool where the analysis started one
    (else in this process, as with one worker): a `run:` job's pandas work then does not hold
    Snakemake's interpreter while other jobs run."""
    if workers <= 1 or not pool_running(workers):
        return timed(fn, *args, **kwargs)
    return pool(workers).submit(timed, fn, *args, **kwargs).result()
