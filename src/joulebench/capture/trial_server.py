"""Trials across server restarts: each trial of a (mode, backend, model) gets its own server process.

Why: on an H200 the same config run twice moved every tok/s of one model by 1.5-4.5 % between the
runs (docs/energy-h100.md): a whole-run shift that came with the new server process (its memory
placement, clocks, compiled kernels). Trials that share one server never sample it, so their
between-trial interval was too narrow. With `capture.trial_server: per_trial` (the schema default)
and `sweep.trials >= 2`, the server that served another trial is stopped before a trial starts and
a new one is started for it; the trials' spread then includes restart-to-restart variance. Cells of
the same trial keep their server (ABBA order inside the block is unchanged, config.cells).
`shared` keeps one server for all trials (the previous behaviour: quicker, narrower, within-run only).
A server joulebench does not manage (Ollama, an OpenAI-compatible endpoint) cannot be restarted:
its trials share it, and the record says so.

Every cell.json gets `trial_server`: the policy, whether this capture's server was started fresh
for its trial, and the server's pid and start time (docs/raw-format.md).
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import config as C
from ..runtime import rundir

MARKER = "trial_server.json"  # in results/.run/: the block (mode, backend, model, trial) the server served last


def per_trial(cfg: dict) -> bool:
    """A fresh server per trial: when there are trials to compare and the config does not ask to share."""
    return C.trials(cfg) >= 2 and cfg.get("capture", {}).get("trial_server") != "shared"


def _marker(root: Path) -> Path:
    return rundir.run_dir(root) / MARKER


def _served_last(root: Path) -> list | None:
    try:
        return json.loads(_marker(root).read_text()).get("block")
    except (OSError, ValueError, AttributeError):
        return None


def before_ensure(cfg: dict, cell: C.Cell, backend, root: Path) -> bool:
    """Stop the running server when this cell's trial must have its own and the server (if any)
    served another block or is of unknown history. Returns True when a stop was asked for."""
    if not per_trial(cfg) or _served_last(root) == list(cell.block):
        return False
    backend.stop()
    return True


def after_ensure(cfg: dict, cell: C.Cell, backend, root: Path, stopped: bool) -> dict:
    """Remember which block the server now serves; the provenance for cell.json."""
    state = getattr(getattr(backend, "server", None), "load", lambda: None)()  # a server joulebench manages
    record = {
        "policy": ("per_trial" if per_trial(cfg) else "shared") if C.trials(cfg) >= 2 else "single_trial",
        "fresh_for_trial": bool(stopped and state is not None and getattr(backend, "reused", None) is False),
        "server_pid": state.pid if state is not None else None,
        "server_started_ns": state.started_ns if state is not None else None,
        "block": list(cell.block),
    }
    if per_trial(cfg) and state is None:
        record["note"] = f"backend {cell.backend} is not started by joulebench: its trials share one server"
    path = _marker(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return record
