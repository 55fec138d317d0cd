"""Source `none`: no power sensor. Nothing is sampled; every energy figure becomes NaN with a reason."""
from __future__ import annotations

import json
from pathlib import Path

from .base import META_FILE, Sensor

NO_SENSOR_REASON = "no power sensor"


class NullSampler:
    source = "none"

    def __init__(self, out_dir: Path, reason: str = NO_SENSOR_REASON):
        self.out_dir, self.reason = Path(out_dir), reason

    def start(self) -> None:
        pass

    def stop(self) -> dict:
        meta = {"source": "none", "reason": self.reason, "samples": 0}
        (self.out_dir / META_FILE).write_text(json.dumps(meta, indent=1))
        return meta


SENSOR = Sensor(name="none", headline_rail=None, default_interval_ms=0, make_source=None, decode=None,
                available=lambda root: True, platforms=None, auto_reason=NO_SENSOR_REASON)
