"""Power/thermal telemetry sources, one module each, one sampler interface.

The sampler runs in its own (pinned) process beside aiperf and writes stamped samples into the
cell's raw directory; analysis never needs the sensor library (see docs/raw-format.md).
Sources: tegrastats (Jetson, 500 ms-ish lines), ina3221 (Jetson hwmon, 10-50 ms), nvml (NVIDIA
GPU energy counter), rapl (CPU powercap counter), none.
"""
from __future__ import annotations

import json
from pathlib import Path

NO_SENSOR_REASON = "no power sensor"
SOURCES = ("tegrastats", "ina3221", "nvml", "rapl", "none")


class NullSampler:
    """source `none`: nothing to sample; the energy columns become NaN with a reason."""

    source = "none"

    def __init__(self, out_dir: Path, reason: str = NO_SENSOR_REASON):
        self.out_dir, self.reason = Path(out_dir), reason

    def start(self) -> None:
        pass

    def stop(self) -> dict:
        meta = {"source": "none", "reason": self.reason, "samples": 0}
        (self.out_dir / "telemetry_meta.json").write_text(json.dumps(meta, indent=1))
        return meta


def resolve_source(cfg: dict, platform_name: str, sysfs_root: str | None = None) -> tuple[str, str | None]:
    """(source, reason). `auto` picks the best readable sensor for the platform; the reason says
    why (and is the NaN reason when it ends at `none`)."""
    tcfg = cfg.get("telemetry", {})
    source = tcfg.get("source", "auto")
    if source != "auto":
        return source, None if source != "none" else "telemetry.source is 'none'"
    root = sysfs_root or "/"
    if platform_name == "jetson":
        from . import ina3221

        if ina3221.readable(root):
            return "ina3221", "auto: INA3221 hwmon readable"
        return "tegrastats", "auto: INA3221 hwmon not readable, using tegrastats"
    if platform_name == "nvidia-gpu":
        return "nvml", "auto: NVIDIA GPU energy counter"
    from . import rapl

    if rapl.readable(root):
        return "rapl", "auto: RAPL powercap readable"
    return "none", NO_SENSOR_REASON


def make_sampler(source: str, cfg: dict, out_dir: Path, cpu_prefix: list[str], reason: str | None = None):
    """An object with .start() and .stop() -> dict (stored as cell.json['telemetry'])."""
    if source == "none":
        return NullSampler(out_dir, reason or "telemetry.source is 'none'")
    if source not in SOURCES:
        from ..errors import ConfigError

        raise ConfigError(f"config key 'telemetry.source': unknown source {source!r}")
    from .sampler import ProcessSampler

    tcfg = cfg.get("telemetry", {})
    # tegrastats is a 500 ms tool on most boards; the fast interval is for sysfs/NVML polling
    key = "tegrastats_interval_ms" if source == "tegrastats" else "interval_ms"
    interval = int(tcfg.get(key, 500 if source == "tegrastats" else 50))
    return ProcessSampler(source, interval, out_dir, cpu_prefix, reason=reason)
