"""Which captures this run was asked to re-measure (--forcerun capture, --forcerun/-f on a
cell.json, --forceall).

Snakemake deletes a job's output before running it both when the user forces the job and when it
believes the output incomplete (e.g. its run was killed while an orphaned capture job went on to
accept the cell). Only the first is a request to measure again; the capture job cannot tell them
apart, so the main process writes down the forced ones here at parse time and its jobs inherit it.
"""
from __future__ import annotations

import json
import os

FORCED_ENV = "JOULEBENCH_FORCED_CAPTURES"
ALL = "*"


def note_forced(dag_settings, rule: str = "capture", marker: str = "cell.json") -> None:
    """Put the forced captures of this run in the environment its jobs inherit."""
    if dag_settings is None:
        return
    if dag_settings.forceall or rule in dag_settings.forcerun:
        forced = ALL
    else:
        named = set(dag_settings.forcerun)
        if dag_settings.forcetargets:
            named |= set(dag_settings.targets)
        forced = sorted(_norm(f) for f in named if os.path.basename(f) == marker)
    os.environ[FORCED_ENV] = json.dumps(forced)


def is_forced(cell_json: str | os.PathLike) -> bool:
    try:
        forced = json.loads(os.environ.get(FORCED_ENV, "[]"))
    except ValueError:
        return False
    return forced == ALL or _norm(cell_json) in forced


def _norm(path: str | os.PathLike) -> str:
    return os.path.realpath(path)
