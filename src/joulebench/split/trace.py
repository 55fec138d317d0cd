"""Load a cell's raw telemetry into clean per-rail series. Pure numpy/pandas: no sensor library.

The decoding itself belongs to each sensor (telemetry/<sensor>.py `decode`, asked for through the
telemetry registry); this module reads the files and checks what every source shares: the wall
clock against the monotonic clock (a step is reported).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..telemetry import SENSORS
from ..telemetry.base import META_FILE, SAMPLES_FILE, read_samples
from ..telemetry.decoded import Rail, Trace  # noqa: F401  (the split's view of a capture)

CLOCK_STEP_NS = 5_000_000  # >5 ms disagreement between the two clocks = the wall clock stepped


def load(raw_dir: Path, meta: dict | None = None) -> Trace:
    from ..errors import ParseError

    raw_dir = Path(raw_dir)
    tmeta = (meta or {}).get("telemetry") or {}
    meta_path = raw_dir / META_FILE
    child = {}
    if meta_path.exists():
        try:
            child = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise ParseError(meta_path, f"not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(child, dict):
            raise ParseError(meta_path, "not a JSON object")
    source = tmeta.get("source") or child.get("source", "none")
    samples, problems = read_samples(raw_dir / SAMPLES_FILE)
    tr = Trace(source=source, problems=list(problems), n_samples=len(samples))
    if samples:
        off = np.array([s["t_ns"] - s.get("mono_ns", s["t_ns"] - 0) for s in samples], dtype=np.int64)
        if "mono_ns" in samples[0] and off.max() - off.min() > CLOCK_STEP_NS:
            tr.problems.append(f"wall clock stepped by {(off.max() - off.min()) / 1e6:.1f} ms during capture")
    spec = SENSORS.get(source)
    if spec and spec.decode and samples:
        spec.decode(tr, samples, child, meta_path)
    return tr
