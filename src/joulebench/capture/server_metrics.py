"""Scrape the server's Prometheus /metrics every 250 ms while aiperf runs, into the raw tree.

A thread of the capture process with stdlib HTTP (urllib): no extra process on a 2-core board,
and nothing to stop if the capture dies. A scrape that fails (refused, timeout, not Prometheus
text) is written as an `error` line and counted; it never fails the cell. Format and units:
docs/raw-format.md ("server_metrics.jsonl").
"""
from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

SAMPLES = "server_metrics.jsonl"
META = "server_metrics_meta.json"
INTERVAL_S = 0.25
TIMEOUT_S = 1.0


def parse_prometheus(text: str) -> dict[str, float]:
    """Prometheus text exposition -> {name (with its {labels}): value}. Comments skipped; a line
    without a number raises ValueError naming it."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "}" in line:
            head, _, rest = line.rpartition("}")
            name, fields = head + "}", rest.split()
        else:
            name, *fields = line.split()
        try:
            out[name] = float(fields[0])  # also NaN, +Inf, -Inf as Prometheus writes them
        except (IndexError, ValueError):
            raise ValueError(f"not a Prometheus sample line: {line[:120]!r}") from None
    return out


class MetricsScraper:
    """start() before the load, stop() after it (always: it never raises). url None: nothing is
    scraped and the meta file says why."""

    def __init__(self, url: str | None, reason: str | None, out_dir: Path,
                 interval_s: float = INTERVAL_S, timeout_s: float = TIMEOUT_S):
        self.url, self.reason, self.out_dir = url, reason, Path(out_dir)
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.samples = self.errors = 0
        self.first_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.url is None:
            return
        self._thread = threading.Thread(target=self._run, name="server-metrics", daemon=True)
        self._thread.start()

    def _scrape(self) -> dict:
        t_ns, mono_ns = time.time_ns(), time.monotonic_ns()
        line = {"t_ns": t_ns, "mono_ns": mono_ns}
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as resp:
                line["values"] = parse_prometheus(resp.read().decode(errors="replace"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            line["error"] = f"{type(exc).__name__}: {exc}"[:300]
        line["took_ms"] = round((time.monotonic_ns() - mono_ns) / 1e6, 3)
        return line

    def _run(self) -> None:
        try:
            with open(self.out_dir / SAMPLES, "w") as fh:
                start = time.monotonic()
                k = 0
                while not self._stop.is_set():
                    line = self._scrape()
                    if "error" in line:
                        self.errors += 1
                        self.first_error = self.first_error or line["error"]
                    else:
                        self.samples += 1
                    # NaN / Inf gauges are valid Prometheus; JSON has no literal for them
                    fh.write(json.dumps(_json_safe(line)) + "\n")
                    fh.flush()
                    k += 1  # on a fixed schedule: a slow scrape does not shift the later ones
                    self._stop.wait(max(0.0, start + k * self.interval_s - time.monotonic()))
        except OSError as exc:  # the raw folder itself failed (full disk): recorded, not raised
            self.errors += 1
            self.first_error = self.first_error or f"writing {SAMPLES}: {exc}"

    def stop(self) -> dict:
        """Stop the thread; write and return the meta record."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 2)
        meta = {"format": 1, "url": self.url, "interval_ms": round(self.interval_s * 1000),
                "samples": self.samples, "errors": self.errors, "first_error": self.first_error,
                "reason": self.reason if self.url is None else
                (None if self.samples else f"no scrape succeeded ({self.first_error})")}
        try:
            (self.out_dir / META).write_text(json.dumps(meta, indent=1))
        except OSError:
            pass
        return meta


def _json_safe(line: dict) -> dict:
    values = line.get("values")
    if values:
        line["values"] = {k: (v if math.isfinite(v) else str(v)) for k, v in values.items()}
    return line
