"""aiperf under supervision: its output mirrored live, the server polled, its whole process group
stopped on any way out, and its pid recorded so that a capture killed with -9 (aiperf runs in its
own session and survives it) can have it stopped by the next capture or run."""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..errors import CaptureError
from .owner import current_owner
from .processes import cmdline, pid_alive, stop_group, stop_leftovers


# aiperf memory-maps its dataset under this folder (default: /tmp, where it leaves an empty
# aiperf_mmap_<id> folder after every run, and its dataset after a kill): each client gets a scratch
# folder instead, beside its record when it has one, removed when it ends (or with its orphan's record)
MMAP_ENV = "AIPERF_DATASET_MMAP_BASE_PATH"


def _remove_scratch(path: str | None) -> None:
    if path:
        shutil.rmtree(path, ignore_errors=True)


def reap_orphan_clients(state_dir: Path, which=None) -> list[int]:
    """Stop the process group of every recorded aiperf still running. Returns the pids.
    which(owner) -> bool: only those whose owning run it selects (runtime.owner.left_behind);
    None: all (a capture does this while it holds the device lock: none can be in use)."""
    reaped = []
    for f in sorted(Path(state_dir).glob("*.json")):
        try:
            rec = json.loads(f.read_text())
            pid = int(rec["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            rec, pid = {}, None
        if which is not None and not which(rec.get("owner")):
            continue
        # the record's pid may since belong to something else: only an aiperf is stopped
        if pid and pid_alive(pid) and "aiperf" in " ".join(cmdline(pid)):
            if stop_group(pid, grace_s=0.0):
                reaped.append(pid)
        _remove_scratch(rec.get("scratch"))
        f.unlink(missing_ok=True)
    return reaped


class _Pump:
    """Copy a child's output to its log and to our stderr as it comes (aiperf redraws its progress
    bar with \\r, so whole lines would show nothing for minutes). A full disk stops the log, never
    the draining: a child blocked on a full pipe would hang the capture."""

    def __init__(self, stream, log):
        self.stream, self.log, self.log_error = stream, log, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        fd = self.stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            if self.log_error is None:
                try:
                    self.log.write(chunk)
                    self.log.flush()
                except OSError as exc:
                    self.log_error = exc
            try:
                sys.stderr.buffer.write(chunk)
                sys.stderr.flush()
            except (OSError, ValueError, AttributeError):
                pass


class AiperfProcess:
    """A started aiperf: its output pumped to its log, its pid recorded. `supervise` waits for it;
    `stop` stops its whole process group (any way out before supervise takes over)."""

    def __init__(self, argv: list[str], env: dict, log_path: Path, state_dir: Path | None = None):
        self.log_path = Path(log_path)
        if state_dir is not None:
            Path(state_dir).mkdir(parents=True, exist_ok=True)
        self.scratch = tempfile.mkdtemp(prefix="aiperf-mmap-", dir=state_dir)  # no state_dir: the system's
        env = {**env, MMAP_ENV: self.scratch}
        self._log = open(log_path, "wb")
        try:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        except BaseException:
            self._log.close()
            _remove_scratch(self.scratch)
            raise
        self.record = None
        try:
            if state_dir is not None:
                self.record = Path(state_dir) / f"{self.proc.pid}.json"
                self.record.write_text(json.dumps({"pid": self.proc.pid, "argv0": argv[0], "log": str(log_path),
                                                   "owner": current_owner(), "scratch": self.scratch}))
            self.pump = _Pump(self.proc.stdout, self._log)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop its process group (after its leader was reaped: only what is left in the group)."""
        if self.proc.returncode is None:
            stop_group(self.proc.pid, child=self.proc)
        else:
            self._stop_leftovers()
        self._close(join_s=2)

    def _stop_leftovers(self) -> None:
        # aiperf's services are its children in its group: one left running after aiperf itself
        # exited (a crashed or killed controller) would hold the client core through the next
        # measurement, and keep the output pipe open (the pump's join would wait for it)
        left = stop_leftovers(self.proc.pid)
        if left:
            print(f"joulebench: aiperf (pid {self.proc.pid}) exited leaving {len(left)} process(es) of its group "
                  f"running (pids {', '.join(map(str, left))}); stopped them", file=sys.stderr)

    def _close(self, join_s: float = 10) -> None:
        if self.proc.poll() is not None:
            _remove_scratch(self.scratch)
            if self.record is not None:
                self.record.unlink(missing_ok=True)
        pump = getattr(self, "pump", None)
        if pump is not None:
            pump.thread.join(timeout=join_s)
        self._log.close()

    def supervise(self, backend, timeout_s: float, on_tick=None) -> int:
        """Wait for aiperf, stop it if the server dies or it overruns. Returns its exit code.
        on_tick(pid): called about every 0.2 s while it runs (adaptive stopping, capture/adaptive.py)."""
        proc = self.proc
        try:
            deadline = time.monotonic() + timeout_s
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    raise CaptureError(f"aiperf did not finish within {timeout_s:.0f}s (log: {self.log_path})")
                backend.check_alive()
                if on_tick is not None:
                    on_tick(proc.pid)
                # returns as soon as aiperf exits: a plain sleep cost ~0.5 s of every run's tail
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=1.0 if on_tick is None else 0.2)
        except BaseException:
            self.stop()
            raise
        self._stop_leftovers()
        self._close()
        if self.pump.log_error is not None:
            raise disk_error(self.pump.log_error, self.log_path)
        return proc.returncode


def run_aiperf(argv: list[str], env: dict, log_path: Path, backend, timeout_s: float,
               state_dir: Path | None = None, on_tick=None) -> int:
    """Run aiperf, mirror its output to our stderr, stop it if the server dies. Returns its code."""
    return AiperfProcess(argv, env, log_path, state_dir).supervise(backend, timeout_s, on_tick)


def disk_error(exc: OSError, path: Path) -> CaptureError:
    """One line for a full or read-only disk, naming the path (instead of chained tracebacks)."""
    hint = {errno.ENOSPC: "; free some space and rerun", errno.EROFS: "; remount it writable and rerun"}
    return CaptureError(f"cannot write {path}: {exc.strerror or exc}{hint.get(exc.errno, '')}")
