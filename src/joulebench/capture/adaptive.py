"""Adaptive stopping (`sweep.requests: auto`): a cell's aiperf run ends once its intervals are tight.

How, with aiperf 0.13 (read from its source, checked on this machine):
- aiperf streams `profile_export.jsonl` while it runs: records are buffered and flushed every
  `AIPERF_METRICS_EXPORT_FLUSH_INTERVAL` seconds (default 1.0; set to FLUSH_S here);
- its first SIGINT is a graceful cancel: no new requests, the in-flight one is cancelled, every
  export is written and aiperf exits (a second SIGINT force-quits).
So one aiperf run is started with `max_requests`, this module tails the export, and once
`min_requests` are in and every target interval is tight it sends one SIGINT. The cost is at most
the one cancelled in-flight request (its record is dropped: it is not a measurement), against an
aiperf start-up per round if the requests were issued in rounds.

The stopping rule is a sequential Student-t rule on the figures the targets name, each with its
most efficient interval (metrics/intervals.py): the relative 95 % half-width of the *mean* output
tok/s per user, t(n-1) sd / sqrt(n) / mean, <= `tok_s_rel`; with a power sensor, of decode tok/J <=
`decode_tok_per_j_rel`. Decode tok/J is not split live (that needs the telemetry analysis); its
request-sampling part is the ratio sum(OSL) / sum(decode time), what it is at constant decode
power, with the delta-method interval of a ratio estimator. The guard against stopping on a lucky
small sample is `min_requests` (>= 5): simulated over many seeds (tests/test_adaptive.py), the
reported interval of a run stopped this way still covers the true mean in >= 90 % of runs for
per-request spreads of 5-30 %. The p50's interval is reported, not targeted: a median needs ~1.5x
the requests of a mean for the same width. Sensor and estimator terms of tok/J are added after the
capture by the split, and the `energy.max_rel_ci` gate still applies to the result.
"""
from __future__ import annotations

import json
import math
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

FLUSH_S = 0.2
FLUSH_ENV = {"AIPERF_METRICS_EXPORT_FLUSH_INTERVAL": str(FLUSH_S)}


@dataclass(frozen=True)
class Precision:
    tok_s_rel: float
    decode_tok_per_j_rel: float
    level: float
    min_requests: int
    max_requests: int

    @classmethod
    def from_config(cls, sweep: dict) -> "Precision":
        p = sweep["precision"]
        return cls(float(p["tok_s_rel"]), float(p["decode_tok_per_j_rel"]), float(p["level"]),
                   int(p["min_requests"]), int(p["max_requests"]))


def is_auto(sweep: dict) -> bool:
    return sweep["requests"] == "auto"


def _value(rec: dict, key: str) -> float:
    m = (rec.get("metrics") or {}).get(key)
    v = m.get("value") if isinstance(m, dict) else None
    return float(v) if isinstance(v, (int, float)) else math.nan


def widths(records: list[dict], level: float, with_energy: bool) -> dict[str, float]:
    """Relative 95 % half-width of each stopping figure over these (completed) records."""
    # here, not at the top: a capture job that only adopts its cell imports neither (nor pandas)
    import numpy as np

    from ..metrics import intervals

    tok_s = np.array([_value(r, "output_token_throughput_per_user") for r in records])
    out = {"output_tok_s_per_user_mean": intervals.mean_rel_halfwidth(tok_s, level)}
    if with_energy:
        osl = np.array([_value(r, "output_sequence_length") for r in records])
        dec = np.array([_value(r, "decode_duration") for r in records])
        out["decode_tok_per_j"] = intervals.ratio_rel_halfwidth(osl, dec, level)
    return out


def tight(w: dict[str, float], precision: Precision) -> bool:
    limit = {"decode_tok_per_j": precision.decode_tok_per_j_rel}
    return all(math.isfinite(v) and v <= limit.get(k, precision.tok_s_rel) for k, v in w.items())


@dataclass
class Stopper:
    """Called about every FLUSH_S while aiperf runs; sends it one SIGINT once the cell is precise."""

    export: Path
    precision: Precision
    with_energy: bool
    records: list[dict] = field(default_factory=list)
    stopped_at: int | None = None
    last_widths: dict = field(default_factory=dict)
    _offset: int = 0

    def _read_new(self) -> None:
        try:
            with open(self.export, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits
        self._offset += len(complete)
        for line in complete.splitlines():
            rec = json.loads(line) if line.strip() else None
            meta = (rec or {}).get("metadata") or {}
            if rec and meta.get("benchmark_phase") == "profiling" and not rec.get("error") \
                    and not meta.get("was_cancelled"):
                self.records.append(rec)

    def __call__(self, pid: int) -> None:
        if self.stopped_at is not None:
            return
        self._read_new()
        n = len(self.records)
        if n < self.precision.min_requests or n >= self.precision.max_requests:
            return
        self.last_widths = widths(self.records, self.precision.level, self.with_energy)
        if tight(self.last_widths, self.precision):
            self.stopped_at = n
            os.killpg(pid, signal.SIGINT)  # aiperf: graceful cancel, exports written

    def summary(self) -> dict:
        """What cell.json records about the stop."""
        return {"mode": "auto", "stopped_at_requests": self.stopped_at,
                "reason": "precision reached" if self.stopped_at else "max_requests reached",
                "widths_at_stop": {k: round(v, 5) for k, v in self.last_widths.items()},
                "precision": self.precision.__dict__}
