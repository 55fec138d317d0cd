"""Where everything lives. Raw captures and parsed cells are sibling trees (see README).

A cell's directory is `CELL_PATTERN` under each tree. Trial 1 and concurrency 1 have no tag, so
a sweep with one trial at concurrency 1 has exactly the paths it had before either axis existed;
trial k >= 2 is the sibling `ctx{ctx}_gen{gen}_t{k}`, concurrency N >= 2 `ctx{ctx}_gen{gen}_c{N}`
(`_c{N}_t{k}` for both; docs/raw-format.md). Each tag is a wildcard of its own whose values are
listed in full (wildcard_constraints), so `gen=64` never swallows `_t2` or `_c2`.

A config with a `devices:` section puts the device outermost: `{device}` is `orin-1/` there (so
`results/raw/orin-1/25W/llamacpp/...` and the pair `results/orin-1/25W/llamacpp/`), and empty
without one, so a one-machine config keeps exactly today's paths (docs/fleet.md).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the llama.cpp build imports this module before the venv has yaml
    from .config import Cell

RESULTS = "results"  # the one root of everything a run writes, relative to the workflow directory
RAW = f"{RESULTS}/raw"
CELLS = f"{RESULTS}/cells"
INCOMPLETE = f"{RESULTS}/raw-incomplete"
SUPERSEDED = f"{RESULTS}/raw-superseded"
BENCHMARKS = f"{RESULTS}/benchmarks"  # Snakemake's benchmark: TSV per job (wall s, max RSS, CPU): per-step cost
LOGS = f"{RESULTS}/logs"
SUMMARY = f"{RESULTS}/summary.parquet"  # one row per (mode, backend, model, ctx, gen, concurrency)
REQUESTS = f"{RESULTS}/requests.parquet"
TRIALS = f"{RESULTS}/trials.parquet"
FIGURES = f"{RESULTS}/figures"
PAIR_DIR = RESULTS + "/{device}{mode}/{backend}"  # one (mode, backend) pair's own summary, requests, trials
# one pair's parsed and split captures, all cells together (the parse + split rule's outputs)
PAIR_TRIAL_ROWS = CELLS + "/{device}{mode}/{backend}/trial_rows.parquet"
PAIR_REQUEST_ROWS = CELLS + "/{device}{mode}/{backend}/request_rows.parquet"
RUN_STATE = f"{RESULTS}/.run"  # a run's bookkeeping (runtime/rundir.py)
CELL_PATTERN = "{device}{mode}/{backend}/{model}/ctx{ctx}_gen{gen}{concurrency}{trial}"


def _tag(letter: str, value: int) -> str:
    return "" if int(value) == 1 else f"_{letter}{int(value)}"


def _from_tag(letter: str, what: str, tag: str) -> int:
    if not tag:
        return 1
    m = re.fullmatch(rf"_{letter}([0-9]+)", tag)
    if not m or int(m.group(1)) < 2:
        raise ValueError(f"not a {what} tag: {tag!r} (expected '' or '_{letter}2', '_{letter}3', ...)")
    return int(m.group(1))


def trial_tag(trial: int) -> str:
    return _tag("t", trial)


def trial_from_tag(tag: str) -> int:
    return _from_tag("t", "trial", tag)


def concurrency_tag(concurrency: int) -> str:
    return _tag("c", concurrency)


def concurrency_from_tag(tag: str) -> int:
    return _from_tag("c", "concurrency", tag)


def device_tag(device: str | None) -> str:
    """The device's path part: `name/` (outermost), or nothing on a config without devices."""
    return "" if device is None else f"{device}/"


def device_from_tag(tag: str) -> str | None:
    if not tag:
        return None
    if not tag.endswith("/") or "/" in tag[:-1]:
        raise ValueError(f"not a device tag: {tag!r} (expected '' or 'NAME/')")
    return tag[:-1]


def pair_dir(device: str | None, mode: str, backend: str) -> str:
    """One (device, mode, backend) pair's folder (PAIR_DIR)."""
    return PAIR_DIR.format(device=device_tag(device), mode=mode, backend=backend)


def cell_suffix(cell: Cell) -> str:
    return CELL_PATTERN.format(device=device_tag(cell.device), mode=cell.mode, backend=cell.backend, model=cell.model, ctx=cell.ctx,
                               gen=cell.gen, concurrency=concurrency_tag(cell.concurrency),
                               trial=trial_tag(cell.trial))


def cell_file(tree: str, cell: Cell, name: str) -> str:
    """`tree/<cell>/name` as a relative path string (Snakemake inputs)."""
    return f"{tree}/{cell_suffix(cell)}/{name}"


def log_file(rule: str, job: str) -> str:
    """The log of one job of `rule` (job: the rule's wildcard pattern)."""
    return f"{LOGS}/{rule}/{job}.log"


def benchmark_file(rule: str, job: str) -> str:
    """Where Snakemake writes the benchmark of one job of `rule` (job: the rule's wildcard pattern)."""
    return f"{BENCHMARKS}/{rule}/{job}.tsv"


def raw_dir(cell: Cell, root: str | os.PathLike = ".") -> Path:
    return Path(root) / RAW / cell_suffix(cell)


def cache_dir() -> Path:
    """Shared across checkouts: llama.cpp builds, assembled GGUFs, tokenizers."""
    base = os.environ.get("JOULEBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "joulebench"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path
