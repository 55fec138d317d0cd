import os
import re
import sys
from pathlib import Path

# the importable package beside the workflow (also installed into the venv by the README)
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from joulebench import config as JC  # noqa: E402
from joulebench import paths as JP  # noqa: E402
from joulebench.errors import ConfigError  # noqa: E402
from joulebench.metrics.combine import (  # noqa: E402
    built_for,
    combine_pairs,
    stray_note,
    stray_pairs,
    write_built_for,
)
from joulebench.models.sources import model_file_problems  # noqa: E402
from joulebench.scripting import in_log  # noqa: E402
from joulebench.analysis.workers import start_server_early, worker_count  # noqa: E402
from joulebench.runtime import housekeeping  # noqa: E402
from snakemake.settings.enums import Quietness  # noqa: E402
from joulebench.workflow import (  # noqa: E402
    asks_for_report,
    full_job_list,
    names_plot_target,
    measured_with_other_settings,
    missing_cells_table,
    other_settings_note,
    report_precondition,
)

# --configfile replaces the default instead of being merged into it. Snakemake's own YAML error
# names neither file nor line, so the project's reader goes first (a --configfile is read by
# Snakemake before any workflow code runs: `joulebench check-config FILE` names its line).
if not workflow.overwrite_configfiles:
    try:
        JC.read_yaml("config.yaml")
    except ConfigError as exc:
        raise WorkflowError(str(exc))

    configfile: "config.yaml"


# A bad key or value stops here, before anything touches the device: one line per key, naming
# the config file (the project's validator, not Snakemake's raw JSON-Schema dump).
CONFIG_FILE = (workflow.configfiles or ["config.yaml"])[-1]
try:
    config.update(JC.validate(config, source=CONFIG_FILE))
except ConfigError as exc:
    raise WorkflowError(str(exc))

CELLS = JC.cells(config)
# "{device}{mode}/{backend}" (PAIR_DIR under results/): "mode/backend" without devices
PAIRS = sorted(
    {JP.pair_dir(c.device, c.mode, c.backend)[len(JP.RESULTS) + 1 :] for c in CELLS}
)
RAW = JP.RAW
CELLDIR = JP.CELLS
CELL = JP.CELL_PATTERN


def _alternatives(values):
    # grouped: with one trial the only trial tag is "", and an empty constraint would mean ".+"
    return "(?:" + "|".join(re.escape(str(v)) for v in values) + ")"


_ALLOWED = JC.wildcard_values(config)


wildcard_constraints:
    device=_alternatives(_ALLOWED["device"]),
    mode=_alternatives(_ALLOWED["mode"]),
    backend=_alternatives(_ALLOWED["backend"]),
    model=_alternatives(_ALLOWED["model"]),
    ctx=_alternatives(_ALLOWED["ctx"]),
    gen=_alternatives(_ALLOWED["gen"]),
    concurrency=_alternatives(_ALLOWED["concurrency"]),
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


def cells_for(mode=None, backend=None, existing_only=False, device=None):
    out = [
        c
        for c in CELLS
        if (mode is None or c.mode == mode)
        and (backend is None or c.backend == backend)
        and (device is None or c.device == device)
    ]
    if existing_only:
        out = [c for c in out if captured(c)]
        if not out:
            # else an empty summary with no columns, and a KeyError in the plots
            raise WorkflowError(NOTHING_TO_PLOT)
    return out


NOTHING_TO_PLOT = (
    f"no cell captured yet under {RAW}/: nothing to plot. Capture first "
    "(`snakemake`, or `snakemake results/MODE/BACKEND/` for one pair), or set "
    "figures.capture_missing: true to capture what is missing"
)


def pair_from_captured(wildcards):
    """A pair summary built for the overall summary of `snakemake figures` holds what is captured;
    a pair asked for by name (`snakemake results/MODE/BACKEND/`) captures what is missing.
    """
    targets = {t.rstrip("/") for t in workflow.dag_settings.targets or ()}
    return only_captured() and JP.PAIR_DIR.format(**wildcards) not in targets


def summary_pairs():
    """The pair summaries results/summary.parquet is made of: the config's pairs (those with a
    captured cell when only plotting what exists)."""
    pairs = PAIRS
    if only_captured():
        pairs = [p for p in PAIRS if any(captured(c) for c in cells_of_pair(p))]
        if not pairs:
            cells_for(existing_only=True)  # raises: no cell captured yet
    return [f"{JP.RESULTS}/{p}" for p in pairs]


def cells_of_pair(pair):
    return [
        c
        for c in CELLS
        if JP.pair_dir(c.device, c.mode, c.backend) == f"{JP.RESULTS}/{pair}"
    ]


def cells_of_pair_job(wc):
    """The cells one pair job reads (its device, mode and backend)."""
    device = JP.device_from_tag(wc.device)  # None without devices: every cell
    return cells_for(wc.mode, wc.backend, pair_from_captured(wc), device)


# A fleet (devices:): each device's captures are serialised by a resource of its own, 1 in total
# unless --resources says otherwise, so different devices capture in parallel (docs/fleet.md).
# Without devices every capture takes `device` (1 in the profile), as before.
DEVICE_RESOURCES = {
    JC.device_resource(name): (
        lambda wc, tag=JP.device_tag(name): int(wc.device == tag)
    )
    for name in config.get("devices") or {}
}
for _name in DEVICE_RESOURCES:
    if _name not in workflow.global_resources:
        workflow.register_resource(_name, 1)
# Boards that are SLURM nodes: the slurm executor reads these resources (partition per device
# kind, constraint per board); only where a device sets them.
DEVICE_RESOURCES.update(JC.slurm_resources(config))


def device_wide(wildcards):
    return 0 if wildcards.device else 1


def built_for_this(cells=None):
    return built_for(CONFIG_FILE, JC.config_hash(config), cells)


# the analysis rules' worker processes: as many as --cores, never more than this machine's CPUs
ANALYSIS_WORKERS = worker_count(workflow.cores)


def aggregate_pair_into(logfile, inputs, folder):
    from joulebench.analysis.workers import in_workers, pool_running
    from joulebench.metrics.aggregate import aggregate_pair

    _, cpu = in_log(
        logfile,
        in_workers,
        ANALYSIS_WORKERS,
        aggregate_pair,
        *map(
            os.path.abspath,  # the worker processes keep the folder they were started in
            (
                inputs.trials,
                inputs.requests,
                f"{folder}/summary.parquet",
                f"{folder}/requests.parquet",
                f"{folder}/trials.parquet",
            ),
        ),
        max_rel_ci=config["energy"]["max_rel_ci"],
        csv=True,
    )
    write_built_for(folder, built_for_this(n_trial_rows(inputs.trials)))
    where = (
        "a worker process"
        if pool_running(ANALYSIS_WORKERS)
        else "the job's own process"
    )
    with open(logfile, "a") as log:
        print(f"pooled in {cpu:.2f} CPU s in {where}", file=log)


def n_trial_rows(path):
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def raw_cells(cells):
    return [JP.cell_file(RAW, c, "cell.json") for c in cells]


def parse_split_into(logfile, cell_jsons, outputs, max_rel_ci, workers):
    """Each raw cell.json's tables go to the same place under results/cells/."""
    from joulebench.analysis.pair import analyse_pair

    # absolute: the worker processes keep the folder they were started in
    jobs = [
        (
            os.path.abspath(cj),
            os.path.abspath(Path(CELLDIR) / Path(cj).parent.relative_to(RAW)),
        )
        for cj in cell_jsons
    ]
    with open(logfile, "a") as log:
        in_log(
            logfile,
            analyse_pair,
            jobs,
            outputs.trials,
            outputs.requests,
            max_rel_ci=max_rel_ci,
            workers=workers,
            log=log,
        )


def run_starts():
    to_capture = {
        job.wildcards.model
        for job in workflow.dag.needrun_jobs()
        if job.rule.name == "capture"
    }
    problems = model_problems(to_capture)
    if problems:
        raise WorkflowError("\n".join(problems))
    housekeeping.before_jobs(workflow.dag_settings)
    housekeeping.no_rate_limit_when_local(workflow)  # its docstring says why


def stop_servers():
    housekeeping.at_end(Path("."))


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


# Model files given by path, their chat templates and tokenizers are checked before anything runs
# (missing, not GGUF, truncated, a template or tokenizer that does not parse): a dry run names what
# is wrong for every model with cells to capture; a run refuses at its start (run_starts), for the
# models it is about to capture (it may plan a sweep for another machine, or only plot).
def model_problems(models):
    return model_file_problems(config, JC.config_base(CONFIG_FILE), sorted(models))


if _dry_run():
    for _line in model_problems({c.model for c in CELLS if not captured(c)}):
        print(f"joulebench: warning: {_line}", file=sys.stderr)
    print(missing_cells_table(CELLS, captured), file=sys.stderr)
    if not full_job_list(sys.argv[1:]):
        # Snakemake stops a dry run after its job counts when quiet about rules and progress
        workflow.output_settings.quiet = {Quietness.RULES, Quietness.PROGRESS}
        print(
            "joulebench: dry run: job counts only; `snakemake -n -p` lists every job",
            file=sys.stderr,
        )
_changed = measured_with_other_settings(
    CELLS, config, lambda c: JP.cell_file(RAW, c, "cell.json")
)
if _changed:
    print(
        other_settings_note(_changed, lambda c: JP.cell_file(RAW, c, "cell.json")),
        file=sys.stderr,
    )


# The same at parse time when the command line names a plot target: one line, no DAG traceback.
if (
    names_plot_target(sys.argv[1:])
    and not config.get("figures", {}).get("capture_missing", False)
    and not any(captured(c) for c in CELLS)
):
    raise WorkflowError(NOTHING_TO_PLOT)


if asks_for_report(sys.argv[1:]) and report_precondition(JP.FIGURES):
    raise WorkflowError(report_precondition(JP.FIGURES))


_strays = stray_pairs(Path("results"), PAIRS)
if _strays:
    print(stray_note(_strays), file=sys.stderr)


# Before Snakemake's lock is taken: see joulebench.runtime.housekeeping.at_start.
housekeeping.at_start(Path("."), cleanup=not _dry_run())
# the analysis pool's server imports while the DAG is built (joulebench/analysis/workers.py)
if not _dry_run():
    start_server_early(ANALYSIS_WORKERS, CELLS)
