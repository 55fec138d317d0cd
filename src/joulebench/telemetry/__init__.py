"""Power/thermal telemetry: one module per sensor, one registry for capture and analysis.

Each `telemetry/<sensor>.py` owns its sensor (Zeus-style): name, availability check, default
interval, headline rail, the capture-side reader (a `Source`, run by the sampler process beside
aiperf) and the analysis-side `decode` (raw samples -> clean rails; no sensor library needed).
Its `SENSOR` spec (telemetry.base.Sensor) is listed in SENSORS below, in `auto` preference order.
Adding a sensor: one module here plus its name in the config schema's `telemetry.source` enum.
"""
from __future__ import annotations

from pathlib import Path

from . import ina3221, none, nvml, rapl, tegrastats
from .base import Sensor
from .none import NO_SENSOR_REASON, NullSampler

SENSORS: dict[str, Sensor] = {m.SENSOR.name: m.SENSOR for m in (ina3221, tegrastats, nvml, rapl, none)}
SOURCES = tuple(SENSORS)


def sensor(name: str) -> Sensor:
    """The registered sensor called `name` (ConfigError naming the key if unknown)."""
    if name not in SENSORS:
        from ..errors import ConfigError

        raise ConfigError(f"config key 'telemetry.source': unknown source {name!r} (known: {', '.join(SENSORS)})")
    return SENSORS[name]


def headline_rails() -> tuple[str, ...]:
    """Every sensor's headline rail, in registry order (the fallback when a trace mixes names)."""
    return tuple(s.headline_rail for s in SENSORS.values() if s.headline_rail)


def resolve_source(cfg: dict, platform_name: str, sysfs_root: str | None = None) -> tuple[str, str | None]:
    """(source, reason). `auto` picks the first registered sensor meant for the platform that is
    available; the reason says why (and is the NaN reason when it ends at `none`)."""
    source = cfg.get("telemetry", {}).get("source", "auto")
    if source != "auto":
        return source, None if source != "none" else "telemetry.source is 'none'"
    root = sysfs_root or "/"
    for s in SENSORS.values():
        if (s.platforms is None or platform_name in s.platforms) and s.available(root):
            return s.name, s.auto_reason
    return "none", NO_SENSOR_REASON


def make_sampler(source: str, cfg: dict, out_dir: Path, cpu_prefix: list[str], reason: str | None = None):
    """An object with .start() and .stop() -> dict (stored as cell.json['telemetry'])."""
    spec = sensor(source)
    if spec.make_source is None:
        return NullSampler(out_dir, reason or "telemetry.source is 'none'")
    from .sampler import ProcessSampler

    interval = int(cfg.get("telemetry", {}).get(spec.interval_key, spec.default_interval_ms))
    return ProcessSampler(source, interval, out_dir, cpu_prefix, reason=reason)
