"""The sampler interface shared by every source, and the on-disk sample format.

Samples are JSON lines, one object per reading, flushed as written, so a killed sampler loses at
most its last (partial) line. Every line carries two stamps taken the moment the reading was made:
`t_ns` (time.time_ns, the clock aiperf stamps requests with) and `mono_ns` (time.monotonic_ns, to
detect wall-clock steps). Everything else is source-specific; see docs/raw-format.md.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

SAMPLES_FILE = "telemetry.jsonl"
META_FILE = "telemetry_meta.json"
FORMAT_VERSION = 1


def stamp() -> dict:
    return {"t_ns": time.time_ns(), "mono_ns": time.monotonic_ns()}


class Source:
    """One sensor. `samples()` yields dicts (with t_ns/mono_ns) until should_stop() is true."""

    name = "base"

    def __init__(self, interval_ms: int, root: str | None = None):
        self.interval_ms = int(interval_ms)
        self.errors: list[str] = []

    def meta(self) -> dict:
        """What the analysis needs besides the samples (rails, units, counter ranges)."""
        return {}

    def read(self) -> dict:
        raise NotImplementedError

    def samples(self, should_stop: Callable[[], bool]) -> Iterator[dict]:
        # Polled sources: fixed monotonic schedule, no drift; a late read skips ahead, never bursts.
        period = self.interval_ms / 1000.0
        nxt = time.monotonic()
        while not should_stop():
            try:
                yield self.read()
            except OSError as exc:  # a sensor read failing is recorded, not fatal
                if len(self.errors) < 50:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            nxt += period
            delay = nxt - time.monotonic()
            if delay < 0:
                nxt = time.monotonic()
            else:
                time.sleep(delay)

    def close(self) -> None:
        pass


def read_samples(path: Path) -> tuple[list[dict], list[str]]:
    """(samples, problems). Tolerates a truncated last line (the sampler was killed mid-write)."""
    path = Path(path)
    out, problems = [], []
    if not path.exists():
        return out, [f"{path.name}: missing"]
    lines = path.read_bytes().split(b"\n")
    # Fast path: the whole file as one JSON array (one C call, ~3x faster for a million samples);
    # any bad line sends us to the line-by-line path, which names it.
    body = [ln for ln in lines if ln.strip()]
    try:
        recs = json.loads(b"[" + b",".join(body) + b"]")
    except (json.JSONDecodeError, UnicodeDecodeError):
        recs = None
    if recs is not None and all(isinstance(r, dict) and "t_ns" in r for r in recs):
        return recs, problems
    for i, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError:
            last = i >= len(lines) - 1
            problems.append(f"{path.name}:{i}: {'truncated last line' if last else 'invalid JSON line'}")
            continue
        if not isinstance(rec, dict) or "t_ns" not in rec:
            problems.append(f"{path.name}:{i}: no t_ns stamp")
            continue
        out.append(rec)
    return out, problems


@dataclass(frozen=True)
class Sensor:
    """Everything joulebench knows about one power sensor, capture and analysis side (one home).

    `platforms`: the platforms on which `telemetry.source: auto` may pick it (None: any), tried in
    registry order when `available(sysfs_root)` says yes. `decode(trace, samples, meta)` fills a
    telemetry.decoded.Trace from the raw samples (pure numpy: no sensor library at analysis)."""

    name: str
    headline_rail: str | None
    default_interval_ms: int
    make_source: Callable[[int, str | None], "Source"] | None
    decode: Callable | None
    available: Callable[[str], bool] = lambda root: False
    platforms: tuple[str, ...] | None = ()
    auto_reason: str = ""
    interval_key: str = "interval_ms"  # config key under `telemetry` holding its poll interval
    value_keys: tuple[str, ...] = ()  # sample keys whose change marks a new sensor reading
    meta_keys: tuple[str, ...] = ()  # keys of telemetry_meta.json copied into cell.json['telemetry']
    summarize: Callable[[list, dict], dict] | None = None  # extra cell.json['telemetry'] entries
