"""One capture at a time on this machine, across processes, runs and checkouts.

Snakemake's resource `device: 1` only holds inside one snakemake process: two runs started in two
terminals (or in two checkouts) would load one server at once and accept wrong numbers. So every
capture holds an flock on one file per machine (under the cache directory, shared by checkouts;
JOULEBENCH_DEVICE_LOCK moves it) for its whole duration. The kernel drops an flock when its holder
dies, so a killed capture never leaves it held. A capture on a fleet device (devices:) locks a
file of its own, `device-NAME.lock` beside it, so different devices capture at once.

The file also records who holds it (capture pid, its snakemake run, host, checkout, since when).
The run keeps its claim between its capture jobs: while it still goes, another run's capture does
not slip in between two of its blocks. A capture that finds the device taken refuses with a message
naming the holder, or waits up to JOULEBENCH_DEVICE_WAIT_S seconds (default 0: refuse at once).
"""
from __future__ import annotations

import fcntl
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import CaptureError
from .owner import current_owner, owner_alive
from .processes import start_ticks

LOCK_ENV = "JOULEBENCH_DEVICE_LOCK"
WAIT_ENV = "JOULEBENCH_DEVICE_WAIT_S"
POLL_S = 1.0


def lock_path() -> Path:
    from ..paths import cache_dir

    from .rundir import current_device

    given = os.environ.get(LOCK_ENV)
    path = Path(given) if given else cache_dir() / "device.lock"
    device = current_device()  # a fleet device: its own lock (two "devices" may share one machine)
    return path.with_name(f"{path.stem}-{device}{path.suffix}") if device else path


def wait_seconds() -> float:
    raw = os.environ.get(WAIT_ENV, "0")
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise CaptureError(f"environment {WAIT_ENV}={raw!r}: expected a number of seconds") from None


class DeviceBusy(CaptureError):
    """Another capture (or another live run between its captures) has the device."""


@dataclass
class Holder:
    pid: int                 # the capture process holding the flock
    owner: int | None        # its snakemake run (None: a capture started outside snakemake)
    owner_ticks: int | None  # the run's start time, so that a reused pid does not count
    host: str
    checkout: str
    since: str
    capturing: bool = True   # False once the capture released the flock (the run's claim stays)

    def describe(self) -> str:
        run = f" of snakemake pid {self.owner}" if self.owner else ""
        return f"pid {self.pid}{run}, since {self.since}, in {self.checkout}"

    def run_still_going(self) -> bool:
        return self.host == platform.node() and owner_alive(self.owner, self.owner_ticks)


def read_holder(path: Path | None = None) -> Holder | None:
    try:
        data = json.loads(Path(path or lock_path()).read_text())
        return Holder(**data)
    except (OSError, ValueError, TypeError):
        return None


class DeviceLock:
    """`with DeviceLock(checkout):` around a capture. Raises DeviceBusy naming the holder."""

    def __init__(self, checkout: str | os.PathLike = ".", path: Path | None = None):
        self.path = Path(path or lock_path())
        self.checkout = os.path.realpath(checkout)
        self.owner = current_owner()
        self._fh = None

    # -- the flock itself ----------------------------------------------------------------------
    def _try_flock(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        self._fh = fh
        return True

    def _unflock(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def _claimed_by_other_run(self) -> Holder | None:
        """With the flock held: a previous holder from another run that still goes keeps its claim."""
        prev = read_holder(self.path)
        if prev is None or prev.owner is None or prev.owner == self.owner:
            return None
        return prev if prev.run_still_going() else None

    def _write_holder(self, capturing: bool) -> None:
        holder = Holder(os.getpid(), self.owner, start_ticks(self.owner) if self.owner else None,
                        platform.node(), self.checkout, time.strftime("%Y-%m-%dT%H:%M:%S%z"), capturing)
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(json.dumps(asdict(holder)))
        self._fh.flush()

    # -- capture -------------------------------------------------------------------------------
    def acquire(self, wait_s: float | None = None, say=None) -> "DeviceLock":
        wait_s = wait_seconds() if wait_s is None else wait_s
        deadline = time.monotonic() + wait_s
        told = False
        while True:
            if self._try_flock():
                claim = self._claimed_by_other_run()
                if claim is None:
                    self._write_holder(capturing=True)
                    return self
                self._unflock()
                what = f"another run has the device between its captures ({claim.describe()})"
            else:
                busy = read_holder(self.path)
                what = (f"another capture is running ({busy.describe()})" if busy else
                        f"another process holds {self.path}")
            if time.monotonic() >= deadline:
                hint = (f"; wait for it, or set {WAIT_ENV}=SECONDS to wait" if not wait_s else
                        f"; waited {wait_s:.0f}s ({WAIT_ENV})")
                raise DeviceBusy(f"{what}: refusing to measure at the same time (device lock {self.path})"
                                 + hint)
            if say and not told:
                say(f"{what}: waiting up to {wait_s:.0f}s for the device")
                told = True
            time.sleep(POLL_S)

    def release(self) -> None:
        """Drop the flock; the record stays (capturing: false) as the run's claim until it ends."""
        if self._fh is None:
            return
        self._write_holder(capturing=False)
        self._unflock()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False

    # -- clean-up ------------------------------------------------------------------------------
    def idle(self) -> bool:
        """Take the flock without claiming, for clean-up: False while a capture runs. Use as
        `if lock.idle(): try: ... finally: lock.release_idle()`."""
        return self._try_flock()

    def release_idle(self) -> None:
        self._unflock()
