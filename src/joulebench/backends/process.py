"""A long-lived server process that outlives one Snakemake job and is reused by the next.

Capture jobs are separate processes, but starting llama-server for every cell costs seconds and
warms nothing. So the server runs in its own session, and a small state file records its pid,
the exact argv (hashed) and its log. The next cell reuses it when the argv is identical and the
health check passes; otherwise it is stopped and a new one started. The Snakefile's onsuccess /
onerror handlers stop whatever is left.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import CaptureError
from ..runtime.owner import current_owner, left_behind
from ..runtime.processes import cmdline, pid_alive, stop_group

# how often a starting server's health is asked (a loading llama-server answers 503 at once)
HEALTH_POLL_S = 0.05


@dataclass
class ServerState:
    pid: int
    key: str
    argv: list
    host: str
    port: int
    log: str
    started_ns: int
    # the snakemake run that started or last reused it (runtime.owner); None for servers started
    # outside snakemake
    owner: int | None = None


def argv_key(argv: list[str], env: dict | None = None) -> str:
    blob = json.dumps({"argv": argv, "env": env or {}}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def tail(path: str | Path, n_bytes: int = 4000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - n_bytes))
            return fh.read().decode(errors="replace")
    except OSError:
        return "(no log)"


class ManagedServer:
    def __init__(self, state_dir: Path, name: str):
        self.state_dir = Path(state_dir)
        self.name = name
        self.state_file = self.state_dir / f"{name}.json"

    # -- state ---------------------------------------------------------------------------
    def load(self) -> ServerState | None:
        try:
            data = json.loads(self.state_file.read_text())
            return ServerState(**data)
        except (OSError, ValueError, TypeError):
            return None

    def _save(self, st: ServerState) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(st.__dict__, indent=1))
        os.replace(tmp, self.state_file)

    def _ours(self, st: ServerState) -> bool:
        """The recorded pid still runs the recorded program (pids get reused after a reboot)."""
        cmd = cmdline(st.pid)
        return pid_alive(st.pid) and bool(cmd) and Path(st.argv[0]).name in " ".join(cmd)

    # -- lifecycle -----------------------------------------------------------------------
    def ensure(self, argv, host, port, health_url, timeout_s, env=None, prefix=(), on_claim=None) -> tuple[ServerState, bool]:
        """Reuse a healthy server with the same argv, else (re)start. Returns (state, reused).
        on_claim(): called once whatever answers on the port from then on is this server (reused, or
        started after any other was stopped), before it is ready."""
        key = argv_key(list(argv), env)
        st = self.load()
        if st and st.key == key and self._ours(st) and http_ok(health_url):
            if st.owner != current_owner():
                st.owner = current_owner()
                self._save(st)
            if on_claim is not None:
                on_claim()
            return st, True
        self.stop()
        if port_in_use(host, port):
            raise CaptureError(
                f"port {port} on {host} is already in use by another process; stop it or set "
                f"backends.{self.name}.port to a free port"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = self.state_dir / f"{self.name}-{key}.log"
        full = [*prefix, *argv]
        with open(log, "ab") as fh:
            fh.write(f"\n### joulebench start {time.strftime('%Y-%m-%dT%H:%M:%S')}: {full}\n".encode())
            fh.flush()
            try:
                proc = subprocess.Popen(
                    full, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, env={**os.environ, **(env or {})},
                )
            except OSError as exc:
                raise CaptureError(f"cannot start {argv[0]}: {exc}") from exc
        st = ServerState(proc.pid, key, list(argv), host, port, str(log), time.time_ns(), current_owner())
        self._save(st)
        if on_claim is not None:
            on_claim()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise CaptureError(
                    f"{argv[0]} exited with code {proc.returncode} while starting; log tail "
                    f"({log}):\n{tail(log)}"
                )
            if http_ok(health_url):
                return st, False
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=HEALTH_POLL_S)  # an exit is seen at once, readiness within 50 ms
        self.stop()
        raise CaptureError(f"{argv[0]} not healthy after {timeout_s}s ({health_url}); log tail:\n{tail(log)}")

    def check_alive(self, health_url: str) -> None:
        st = self.load()
        if st is None or not pid_alive(st.pid) or not http_ok(health_url, timeout=5):
            log = st.log if st else "(unknown)"
            raise CaptureError(f"server {self.name} died or stopped answering; log tail ({log}):\n{tail(log)}")

    def stop(self, grace_s: float = 10.0) -> bool:
        st = self.load()
        if st is None:
            return False
        if self._ours(st):
            stop_group(st.pid, grace_s=grace_s)
        try:
            self.state_file.unlink()
        except FileNotFoundError:
            pass
        return True


def stop_orphans(state_dir: Path, which=left_behind) -> list[str]:
    """Stop the servers whose owning run `which(owner)` selects (default: runs that are gone, killed
    -9 or ended without reaching onsuccess/onerror). A server of a live run is kept."""
    stopped = []
    for f in sorted(Path(state_dir).glob("*.json")):
        srv = ManagedServer(state_dir, f.stem)
        st = srv.load()
        if st is None or not which(st.owner):
            continue
        if srv.stop():
            stopped.append(f.stem)
    return stopped
