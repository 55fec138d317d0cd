"""A plain Linux CPU. The `default` mode changes nothing; a mode may require a thread count or a
cpufreq governor, which is verified (never silently assumed)."""
from __future__ import annotations

import glob
import os
import platform as _pf

from ..errors import CaptureError
from .base import Platform, order_by
from .thermal import _read, zones


def cpu_model() -> str | None:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return _pf.processor() or None


class CpuPlatform(Platform):
    name = "cpu"

    def __init__(self):
        self.mode_threads: int | None = None

    def apply_mode(self, mode: str, mode_cfg: dict) -> None:
        # nothing to switch: a CPU mode is a thread count (used by the server) and/or a governor
        # that must already be in force; remembered so read_state can record it
        self.mode_threads = mode_cfg.get("threads")

    def read_state(self) -> dict:
        govs = sorted({g for g in (_read(p) for p in glob.glob(
            "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor")) if g})
        freqs = [int(f) for f in (_read(p) for p in glob.glob(
            "/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq")) if f and f.isdigit()]
        return {
            "cpu_model": cpu_model(),
            "cpus_online": os.cpu_count(),
            "governor": govs[0] if len(govs) == 1 else (govs or None),
            "cpu_freq_khz_mean": (sum(freqs) / len(freqs)) if freqs else None,
            "loadavg_1m": os.getloadavg()[0],
            "kernel": _pf.release(),
            # the mode's server thread count, and how many CPUs this process may run on
            "threads": self.mode_threads,
            "cpus_allowed": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        }

    def verify(self, mode: str, mode_cfg: dict, state: dict) -> None:
        want = mode_cfg.get("governor")
        if want and state.get("governor") != want:
            raise CaptureError(
                f"mode {mode!r} needs cpufreq governor {want!r} but {state.get('governor')!r} is in "
                f"force; set it (e.g. `sudo -n cpupower frequency-set -g {want}`) and run again"
            )
        threads, allowed = mode_cfg.get("threads"), state.get("cpus_allowed")
        if threads and allowed and threads > allowed:
            raise CaptureError(
                f"mode {mode!r} asks for {threads} server threads but only {allowed} CPUs are available "
                "to this process"
            )

    def temperature_c(self) -> float | None:
        return max(zones().values(), default=None)

    @property
    def idle_temperature_c(self) -> float | None:
        return None  # not recorded on a CPU: the cool-down waits for the temperature it starts at

    @staticmethod
    def mode_order(modes: dict[str, dict]) -> list[str]:
        """More server threads draw more power; a mode without a thread count uses every CPU (last)."""
        return order_by(modes, lambda name, m: m.get("threads"))

    def provenance(self) -> dict:
        return {"platform": self.name, "machine": _pf.machine(), "node": _pf.node()}
