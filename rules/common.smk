import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate

# the importable package beside the workflow (also installed into the venv by the README)
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from joulebench import config as JC  # noqa: E402
from joulebench import paths as JP  # noqa: E402
from joulebench.errors import ConfigError  # noqa: E402
from joulebench.metrics.aggregate import aggregate_to  # noqa: E402
from joulebench.metrics.cell_table import parse_cell  # noqa: E402
from joulebench.scripting import in_log  # noqa: E402
from joulebench.split import split_cell_files  # noqa: E402
from joulebench.workflow import housekeeping_at_start, missing_cells_table  # noqa: E402

SCHEMA = Path(workflow.basedir) / "src" / "joulebench" / "data" / "config.schema.yaml"

# A bad key or value stops here, before anything touches the device.
validate(config, schema=str(SCHEMA))
try:
    JC.check_semantics(config, source="config")
except ConfigError as exc:
    raise WorkflowError(str(exc))

CELLS = JC.cells(config)
PAIRS = sorted({f"{c.mode}/{c.backend}" for c in CELLS})
RAW = JP.RAW
CELLDIR = JP.CELLS
CELL = JP.CELL_PATTERN


def _alternatives(values):
    # grouped: with one trial the only trial tag is "", and an empty constraint would mean ".+"
    return "(?:" + "|".join(re.escape(str(v)) for v in values) + ")"


_ALLOWED = JC.wildcard_values(config)


wildcard_constraints:
    mode=_alternatives(_ALLOWED["mode"]),
    backend=_alternatives(_ALLOWED["backend"]),
    model=_alternatives(_ALLOWED["model"]),
    ctx=_alternatives(_ALLOWED["ctx"]),
    gen=_alternatives(_ALLOWED["gen"]),
    trial=_alternatives(_ALLOWED["trial"]),


_ORDER = {c: i for i, c in enumerate(CELLS)}


def capture_priority(wildcards):
    cell = JC.Cell.from_wildcards(wildcards)
    return len(CELLS) - _ORDER.get(cell, len(CELLS))


def captured(cell):
    return JP.raw_dir(cell).joinpath("cell.json").exists()


def only_captured():
    """`snakemake figures` plots what exists; it captures nothing unless asked."""
    targets = set(workflow.dag_settings.targets or ())
    wants_all = not targets or "all" in targets
    return not wants_all and not config.get("figures", {}).get("capture_missing", False)


def cells_for(mode=None, backend=None, existing_only=False):
    out = [
        c
        for c in CELLS
        if (mode is None or c.mode == mode)
        and (backend is None or c.backend == backend)
    ]
    if existing_only:
        out = [c for c in out if captured(c)]
    return out


def cell_inputs(cells):
    """Per-cell analysis outputs that the aggregate rules read."""
    return {
        "cells": [JP.cell_file(CELLDIR, c, "cell.parquet") for c in cells],
        "energy": [JP.cell_file(CELLDIR, c, "energy.parquet") for c in cells],
        "requests": [
            JP.cell_file(CELLDIR, c, "requests_energy.parquet") for c in cells
        ],
    }


def stop_servers():
    from joulebench.backends.process import stop_all
    from joulebench.capture.cell import reap_orphan_clients

    reaped = reap_orphan_clients(Path("results/.run/clients"))
    if reaped:
        print(
            f"joulebench: stopped aiperf left running by a killed capture {reaped}",
            file=sys.stderr,
        )
    stopped = stop_all(Path("results/.run/servers"))
    if stopped:
        print(f"joulebench: stopped servers {stopped}", file=sys.stderr)


# The user asked for "a dry-run that shows the missing cells": a short table, not only the job list.
def _dry_run():
    # workflow.dryrun is only known after parsing, so look at the command line as well
    if workflow.dryrun:
        return True
    for arg in sys.argv[1:]:
        if arg in ("--dry-run", "--dryrun") or (
            arg.startswith("-") and not arg.startswith("--") and "n" in arg[1:]
        ):
            return True
    return False


if _dry_run():
    print(missing_cells_table(CELLS, captured), file=sys.stderr)


# Servers and aiperf outlive jobs (backends/process.py); a killed run leaves them and Snakemake's
# locks behind. Clean up what provably belongs to a dead run before anything starts.
housekeeping_at_start(Path("."), cleanup=not _dry_run())
