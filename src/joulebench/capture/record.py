"""A cell's record (cell.json): its identity, settings, versions and everything the run measured."""
from __future__ import annotations

import os
import platform as _pf
import sys

from .. import __version__
from .. import config as C
from .steps import BlockRun


def aiperf_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("aiperf")
    except Exception:
        return None


def cell_record(cfg: dict, cell: C.Cell, run: BlockRun, n_requests: int) -> dict:
    model = run.model
    sweep = cfg["sweep"]
    return {
        "schema": 1,
        "status": "accepted",
        "cell": cell.row(),
        # a fleet cell: the device as configured (how it was reached, its cores and overrides) and
        # the cores this capture was allowed to run on (what a local submit's taskset gave it)
        **({"fleet_device": {"name": cell.device, **cfg["devices"][cell.device],
                             "cpus_allowed": sorted(os.sched_getaffinity(0))}} if cell.device else {}),
        "config_file": str(run.config_path),
        "config_hash": C.config_hash(cfg),
        "cell_settings_hash": C.cell_settings_hash(cfg, cell),
        "settings": {
            "mode": cfg["modes"][cell.mode], "backend": cfg["backends"][cell.backend],
            "model": cfg["models"][cell.model],
            "sweep": {k: v for k, v in sweep.items() if k not in ("prompt_tokens", "gen_tokens")},
            "telemetry": cfg["telemetry"], "cooldown": cfg["cooldown"],
            "pinning": cfg["pinning"], "capture": cfg["capture"],
            "slo": cfg["slo"],  # goodput and energy per good token judge by it (metrics/slo.py)
        },
        "versions": {
            "joulebench": __version__, "aiperf": aiperf_version(),
            "python": sys.version.split()[0],
        },
        "backend": run.backend,
        "model": {
            "name": model.name, "quant": model.quant, "gguf": str(model.gguf), "sha256": model.sha256,
            "size_bytes": model.size_bytes, "family": model.family, "params_m": model.params_m,
            "chat_template": str(model.chat_template) if model.chat_template else "gguf",
            "tokenizer": model.tokenizer_id, "source": cfg["models"][cell.model]["source"],
        },
        "platform": {**run.platform.provenance(), "mode": cell.mode, "state_before": run.state_before,
                     "state_after": run.state_after},
        "pinning": {"server_prefix": run.server.prefix, "client_prefix": run.load.client_prefix,
                    "server_threads": run.server.threads},
        "telemetry": run.load.telemetry,
        "cooldown": run.cooldown,
        "aiperf_argv": run.load.argv,
        "n_requests": int(n_requests),
        "adaptive": run.load.adaptive,  # sweep.requests: auto: where and why the run stopped
        "trial_server": run.server.trial,  # capture/trial_server.py
        "host": _pf.node(),
    }
