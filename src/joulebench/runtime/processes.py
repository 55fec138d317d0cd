"""What the kernel says about a process, and stopping a process group or a child (TERM, then KILL)."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still answers kill(0); look at its state
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot): tells a pid from a later reuse of it."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().split(")")[-1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes whose process group is pgid, from /proc."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                state, _ppid, pgrp = fh.read().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def stop_leftovers(pgid: int, grace_s: float = 2.0) -> list[int]:
    """After a group's leader has exited and been reaped: SIGTERM what it left in its group, SIGKILL
    what outlives grace_s. Returns the pids found. Signalling the group is safe here: the kernel does
    not hand out a pid number while a process group still carries it."""
    left = group_members(pgid)
    if not left:
        return []
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 1.0)):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            break
        if _group_empties(pgid, wait_s):
            break
    return left


def _group_empties(pgid: int, wait_s: float) -> bool:
    """True once no process is left in group pgid, False if some still are after wait_s."""
    deadline = time.monotonic() + wait_s
    while group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def stop_group(pgid: int, grace_s: float = 10.0, kill_wait_s: float = 5.0, child=None) -> bool:
    """SIGTERM the process group, SIGKILL it if its leader outlives grace_s; then SIGKILL whatever
    is left in the group (workers that ignored TERM). False if the group was already gone.
    child: the leader's Popen when it is our child (reaped through it, so its returncode is kept)."""
    def leader_gone() -> bool:
        return child.poll() is not None if child is not None else not pid_alive(pgid)

    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    for wait_s, last in ((grace_s, False), (kill_wait_s, True)):
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and not leader_gone():
            time.sleep(0.05)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            break
        if leader_gone() or last:
            break
    return True


def stop_child(proc, grace_s: float = 10.0) -> None:
    """SIGTERM our child by its pid only (not its group), SIGKILL it if it outlives grace_s; reaped."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def sigterm_raises():
    """Inside: SIGTERM raises Terminated in the main thread, so that `except`/`finally` blocks run
    (a capture moves its partial files aside and stops aiperf) instead of the process just dying.
    A second SIGTERM during that clean-up is ignored."""
    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated("stopped by SIGTERM")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException, like KeyboardInterrupt: only clean-up code catches it)."""
