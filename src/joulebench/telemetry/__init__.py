"""Power/thermal telemetry sources, one module each, one sampler interface.

The sampler runs in its own (pinned) process beside aiperf and writes stamped samples into the
cell's raw directory; analysis never needs the sensor library (see docs/raw-format.md).
"""
from __future__ import annotations

import json
from pathlib import Path

NO_SENSOR_REASON = "no power sensor"


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


def resolve_source(cfg: dict, platform_name: str) -> tuple[str, str | None]:
    """(source, reason if none). `auto` picks the best readable sensor for the platform."""
    source = cfg.get("telemetry", {}).get("source", "auto")
    if source != "auto":
        return source, None
    return "none", NO_SENSOR_REASON


def make_sampler(source: str, cfg: dict, out_dir: Path, cpu_prefix: list[str], reason: str | None = None):
    if source == "none":
        return NullSampler(out_dir, reason or "telemetry.source is 'none'")
    raise NotImplementedError(f"telemetry source {source!r} is not available yet")
