"""Disjoint cores for server, load generator and sampler (measured on 2 cores: unpinned aiperf
inflated TTFT ~2.5x and ITL 2-3.5x). Pinning uses `taskset -c`, as an argv prefix."""
from __future__ import annotations

import os
import shutil


def cpu_count(spec: str) -> int:
    n = 0
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


def prefix(pin_cfg: dict, role: str) -> list[str]:
    """['taskset', '-c', CORES] for role in {server, client, telemetry}; [] when off/unset."""
    if not pin_cfg["enabled"]:
        return []
    cores = pin_cfg.get(f"{role}_cores")
    if not cores:
        return []
    available = os.sched_getaffinity(0)
    wanted = set()
    for part in cores.split(","):
        lo, _, hi = part.partition("-")
        wanted.update(range(int(lo), int(hi or lo) + 1))
    missing = wanted - available
    if missing:
        from ..errors import ConfigError

        raise ConfigError(
            f"config key 'pinning.{role}_cores': cores {sorted(missing)} are not available to this "
            f"process (available: {sorted(available)})"
        )
    taskset = shutil.which("taskset")
    if not taskset:
        from ..errors import ConfigError

        raise ConfigError("pinning is enabled but `taskset` (util-linux) is not installed")
    return [taskset, "-c", cores]


def server_threads(pin_cfg: dict, mode_cfg: dict) -> int | None:
    if mode_cfg.get("threads"):
        return int(mode_cfg["threads"])
    if pin_cfg.get("server_threads"):
        return int(pin_cfg["server_threads"])
    if pin_cfg["enabled"] and pin_cfg.get("server_cores"):
        return cpu_count(pin_cfg["server_cores"])
    return None
