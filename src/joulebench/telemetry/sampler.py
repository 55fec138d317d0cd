"""The sampler process, and its parent-side handle.

Child:  python -m joulebench.telemetry.sampler --source X --interval-ms N --out FILE [--root R]
        writes one JSON line per reading (flushed), stops cleanly on SIGTERM, then writes FILE's
        meta JSON beside it (telemetry_meta.json). Both files are created exclusively (write-once).
Parent: ProcessSampler(...).start() / .stop() -> dict stored as cell.json["telemetry"].
It runs in its own process so that it can be pinned (taskset prefix) away from server and client.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..runtime.processes import stop_child
from .base import FORMAT_VERSION, META_FILE, SAMPLES_FILE, read_samples


def make_source(name: str, interval_ms: int, root: str | None):
    from . import SENSORS

    spec = SENSORS.get(name)
    if spec is None or spec.make_source is None:
        raise SystemExit(f"unknown telemetry source {name!r}")
    return spec.make_source(interval_ms, root)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="joulebench.telemetry.sampler")
    ap.add_argument("--source", required=True)
    ap.add_argument("--interval-ms", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", default=None, help="sysfs root (tests)")
    a = ap.parse_args(argv)
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
    signal.signal(signal.SIGINT, lambda *_: stop.__setitem__("flag", True))
    out = Path(a.out)
    started = {"start_t_ns": time.time_ns(), "start_mono_ns": time.monotonic_ns()}
    src = make_source(a.source, a.interval_ms, a.root)
    n = 0
    with open(out, "x", buffering=1) as fh:  # 'x': never overwrite a capture
        try:
            for rec in src.samples(lambda: stop["flag"]):
                fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
                fh.flush()
                n += 1
        finally:
            src.close()
    meta = {"format": FORMAT_VERSION, "source": a.source, "interval_ms": a.interval_ms, "pid": os.getpid(),
            **started, "stop_t_ns": time.time_ns(), "stop_mono_ns": time.monotonic_ns(),
            "samples_written": n, "errors": src.errors, **src.meta()}
    with open(out.parent / META_FILE, "x") as fh:
        json.dump(meta, fh, indent=1, default=str)
    return 0


def update_period_ms(samples: list[dict], keys: tuple[str, ...]) -> float | None:
    """Median time between readings whose `keys` values changed: the sensor's own update period,
    which can be longer than the polling interval (NVML: 70-100 ms behind a 10 ms poll)."""
    if len(samples) < 3 or not keys:
        return None
    t = np.array([s["t_ns"] for s in samples], dtype=np.int64)
    vals = [json.dumps({k: s.get(k) for k in keys}, sort_keys=True) for s in samples]
    ch = [i for i in range(1, len(vals)) if vals[i] != vals[i - 1]]
    if len(ch) < 2:
        return None
    return float(np.median(np.diff(t[ch]))) / 1e6


class ProcessSampler:
    def __init__(self, source: str, interval_ms: int, out_dir: Path, cpu_prefix: list[str],
                 root: str | None = None, reason: str | None = None, ready_timeout_s: float = 15.0):
        self.source, self.interval_ms, self.out_dir = source, int(interval_ms), Path(out_dir)
        self.cpu_prefix, self.root, self.reason = list(cpu_prefix or []), root, reason
        self.ready_timeout_s = ready_timeout_s
        self.proc = None
        self.path = self.out_dir / SAMPLES_FILE

    def argv(self) -> list[str]:
        a = [*self.cpu_prefix, sys.executable, "-m", "joulebench.telemetry.sampler", "--source", self.source,
             "--interval-ms", str(self.interval_ms), "--out", str(self.path)]
        return a + (["--root", self.root] if self.root else [])

    def start(self) -> None:
        from ..errors import CaptureError

        self.err_path = self.out_dir / "telemetry_sampler.log"
        self._err = open(self.err_path, "xb")
        # own session: a Ctrl-C to the pipeline does not kill the sampler before it writes its meta
        self.proc = subprocess.Popen(self.argv(), stdout=self._err, stderr=self._err, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:  # ready = first sample on disk (the idle window needs it)
            if self.path.exists() and self.path.stat().st_size > 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise CaptureError(f"telemetry sampler ({self.source}) produced no sample within "
                           f"{self.ready_timeout_s:.0f}s; see {self.err_path}: "
                           f"{self.err_path.read_text(errors='replace')[-400:]}")

    def stop(self) -> dict:
        if self.proc is not None:
            stop_child(self.proc, grace_s=10)  # its pid only (taskset execs, pid is the sampler's)
        if getattr(self, "_err", None):
            self._err.close()
        return self.summary()

    def summary(self) -> dict:
        from . import sensor

        spec = sensor(self.source)
        meta_path = self.out_dir / META_FILE
        child = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        samples, problems = read_samples(self.path)
        errors = list(child.get("errors", [])) + problems
        if self.proc is not None and self.proc.returncode not in (0, None):
            errors.append(f"sampler exited with code {self.proc.returncode}")
        if not meta_path.exists():
            errors.append("sampler wrote no meta (killed?)")
        out = {"source": self.source, "reason": self.reason, "files": [SAMPLES_FILE, META_FILE],
               "samples": len(samples), "interval_ms": self.interval_ms,
               "sensor_period_ms_est": update_period_ms(samples, spec.value_keys),
               "rails": child.get("rails"), "errors": errors, "argv": self.argv(),
               "sampler_rc": None if self.proc is None else self.proc.returncode}
        if spec.summarize:
            out.update(spec.summarize(samples, child))
        out.update({k: child[k] for k in spec.meta_keys if k in child})
        return out


if __name__ == "__main__":
    sys.exit(main())
