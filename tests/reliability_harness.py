"""Shared helpers for the reliability tests and benchmarks/reliability_matrix.py: run the REAL
pipeline (snakemake CLI, llama-server, aiperf, the real GGUF) in a scratch working directory,
kill -9 its whole process group at a chosen phase, and check the raw tree's invariants."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RAW = Path("results/raw")
INCOMPLETE = Path("results/raw-incomplete")
STATE = Path("results/.run/servers")


def free_port() -> int:
    """An ephemeral port (the kernel's range, far from the 18080-18399 block other runs use)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_workdir(wd: Path, ctx=(64, 128), gen=(8,), requests=2, warmup=1, **overrides) -> Path:
    wd = Path(wd)
    wd.mkdir(parents=True, exist_ok=True)
    with open(REPO / "config.yaml") as fh:
        cfg = yaml.safe_load(fh)
    cfg["backends"]["llamacpp"]["port"] = free_port()
    cfg["sweep"].update(prompt_tokens=list(ctx), gen_tokens=list(gen), requests=requests,
                        warmup_requests=warmup)
    cfg["telemetry"]["idle_baseline_s"] = 0
    for dotted, value in overrides.items():
        node = cfg
        *parents, last = [k.replace("gemma3_270m", "gemma3-270m") for k in dotted.split("__")]
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    return wd


def config(wd: Path) -> dict:
    return yaml.safe_load((Path(wd) / "config.yaml").read_text())


def snakemake_argv(wd: Path, *args) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(wd), "--configfile", str(Path(wd) / "config.yaml"), *args]


def run(wd: Path, *args, timeout=900, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_argv(wd, *args), capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)


# -- kill -9 at a phase -------------------------------------------------------------------------
# (name, regex on the combined output, 0-based occurrence to wait for, jitter range in s).
# A phase with regex None is timed from the launch itself.
PHASES = [
    ("snakemake start", None, 0, (0.0, 2.5)),
    ("server start", r"\[joulebench .*\] (cell|block of \d+ cells starting at) .* requests", 0, (0.0, 0.6)),
    ("server start (2nd cell)", r"\[joulebench .*\] (cell|block of \d+ cells starting at) .* requests", 1, (0.0, 0.6)),
    ("aiperf start-up", r"server \S+ ready at", 0, (0.0, 6.0)),
    ("warm-up", r"Phase warmup .* started", 0, (0.0, 0.4)),
    ("mid-request", r"Phase profiling .* started", 0, (0.0, 0.6)),
    ("mid-request (2nd cell)", r"Phase profiling .* started", 1, (0.0, 0.6)),
    ("writing results", r"Processed \d+ valid requests", 0, (0.0, 2.0)),
    ("promote / accept", r"cell \S+: accepted in", 0, (0.0, 0.6)),
    ("analysis", r"Rule: parse_split_pair|rule parse_split_pair|localrule parse_split_pair", 0, (0.0, 2.5)),
]


@dataclass
class KillResult:
    phase: str
    delay_s: float
    killed: bool                  # False: the run finished before the kill fired
    rc: int | None
    elapsed_s: float
    snapshot: dict = field(default_factory=dict)   # accepted raw files at the kill: path -> sha256
    output: str = ""


def run_and_kill(wd: Path, phase: tuple, rng: random.Random, timeout=600) -> KillResult:
    """Start snakemake in its own process group, kill -9 the group at the phase (+ jitter)."""
    name, pattern, occurrence, (lo, hi) = phase
    jitter = rng.uniform(lo, hi)
    log_path = Path(wd) / f"run-{time.time_ns()}.out"
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(snakemake_argv(wd, "--cores", "1"), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        fire_at = [t0 + jitter if pattern is None else None]
        seen = [0]
        rx = re.compile(pattern) if pattern else None

        def pump():
            for line in iter(proc.stdout.readline, b""):
                log.write(line)
                if rx is not None and fire_at[0] is None:
                    if rx.search(line.decode(errors="replace")):
                        if seen[0] == occurrence:
                            fire_at[0] = time.monotonic() + jitter
                        seen[0] += 1

        th = threading.Thread(target=pump, daemon=True)
        th.start()
        killed, snap = False, {}
        while proc.poll() is None and time.monotonic() - t0 < timeout:
            if fire_at[0] is not None and time.monotonic() >= fire_at[0]:
                snap = accepted_snapshot(wd)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed = True
                except ProcessLookupError:
                    pass
                break
            time.sleep(0.02)
        if proc.poll() is None and not killed:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
        rc = proc.wait()
        th.join(timeout=5)
    out = log_path.read_text(errors="replace")
    return KillResult(name, round(jitter, 2), killed and rc == -signal.SIGKILL, rc,
                      round(time.monotonic() - t0, 1), snap, out)


# -- invariants ---------------------------------------------------------------------------------
def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def accepted_cells(wd: Path) -> list[Path]:
    return sorted(p.parent for p in (Path(wd) / RAW).rglob("cell.json"))


def accepted_snapshot(wd: Path) -> dict[str, str]:
    """sha256 of every file of every accepted cell (one whose cell.json exists)."""
    out = {}
    for cell in accepted_cells(wd):
        for f in sorted(cell.rglob("*")):
            if f.is_file() and ".staging-" not in str(f.relative_to(cell)):
                out[str(f.relative_to(wd))] = _sha(f)
    return out


def incomplete_snapshot(wd: Path) -> dict[str, str]:
    root = Path(wd) / INCOMPLETE
    return {str(f.relative_to(wd)): _sha(f) for f in sorted(root.rglob("*")) if f.is_file()} if root.exists() else {}


def check_snapshot_kept(before: dict[str, str], wd: Path) -> list[str]:
    bad = []
    for rel, h in before.items():
        p = Path(wd) / rel
        if not p.exists():
            bad.append(f"{rel}: deleted")
        elif _sha(p) != h:
            bad.append(f"{rel}: overwritten")
    return bad


def check_no_partial_accepted(wd: Path) -> list[str]:
    """Every cell.json is a complete, accepted record whose requests all pass validation."""
    from joulebench.capture.validate import problems
    from joulebench.parse.aiperf import parse_requests

    bad = []
    for cell in accepted_cells(wd):
        rel = cell.relative_to(wd)
        try:
            rec = json.loads((cell / "cell.json").read_text())
        except ValueError as exc:
            bad.append(f"{rel}: cell.json unreadable ({exc})")
            continue
        if rec.get("status") != "accepted":
            bad.append(f"{rel}: status {rec.get('status')}")
        for need in ("prompts.jsonl", "aiperf.log", "aiperf/profile_export.jsonl"):
            if not (cell / need).exists():
                bad.append(f"{rel}: {need} missing")
        c = rec.get("cell", {})
        try:
            df = parse_requests(cell / "aiperf")
            bad += [f"{rel}: {p}" for p in problems(df, c["ctx"], c["gen"], rec["settings"]["sweep"]["requests"])]
        except Exception as exc:  # noqa: BLE001
            bad.append(f"{rel}: {exc}")
        if any(p.name.startswith(".staging-") for p in cell.iterdir()):
            bad.append(f"{rel}: a staging folder inside an accepted cell")
    for cell_json in (Path(wd) / INCOMPLETE).rglob("cell.json") if (Path(wd) / INCOMPLETE).exists() else []:
        bad.append(f"{cell_json.relative_to(wd)}: a completion marker in raw-incomplete")
    return bad


def expected_cells(wd: Path) -> set[tuple[int, int]]:
    sw = config(wd)["sweep"]
    return {(c, g) for c in sw["prompt_tokens"] for g in sw["gen_tokens"]}


def _pids_with(needle: str, name: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if name in cmd and needle in cmd:
            try:
                state = (d / "stat").read_text().split(")")[-1].split()[0]
            except OSError:
                continue
            if state != "Z":
                out.append(int(d.name))
    return out


def servers_alive(wd: Path) -> list[int]:
    """llama-server processes bound to this working dir's port."""
    port = config(wd)["backends"]["llamacpp"]["port"]
    return _pids_with(f"--port {port} ", "llama-server")


def _in_workdir(pids, wd: Path) -> list[int]:
    wd = str(Path(wd).resolve())
    out = []
    for pid in pids:
        try:
            if os.readlink(f"/proc/{pid}/cwd") == wd:
                out.append(pid)
        except OSError:
            pass
    return out


def aiperf_alive(wd: Path) -> list[int]:
    """aiperf processes (and their workers) running in this working dir."""
    return _in_workdir(_pids_with("", "aiperf"), wd)


def kill_pids(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def config_default() -> dict:
    with open(REPO / "config.yaml") as fh:
        return yaml.safe_load(fh)


def servers_alive_port(port: int) -> list[int]:
    return _pids_with(f"--port {port} ", "llama-server")


# -- runs in the background (concurrent runs, kills of one pid) ---------------------------------
@dataclass
class Background:
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 300) -> bool:
        """True once the run's output matches pattern (False if it ended or timed out first)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if rx.search(self.output()):
                return True
            if self.proc.poll() is not None:
                return bool(rx.search(self.output()))
            time.sleep(0.05)
        return False

    def finish(self, timeout: float = 600) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)


def start(wd: Path, *args, env: dict | None = None, name: str = "run") -> Background:
    """snakemake in its own process group, output to a file in wd."""
    log = Path(wd) / f"{name}-{time.time_ns()}.out"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(snakemake_argv(wd, *args), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, **(env or {})})
    return Background(proc, log)


def capture_jobs(wd: Path) -> list[int]:
    """Capture job processes (scripts/capture_cell.py) running in this working dir."""
    return _in_workdir(_pids_with("capture_cell", "python"), wd)


@contextlib.contextmanager
def tmpfs_on(path: Path, options: str):
    """A tmpfs mounted on path for the block (skips the test where mounting is not allowed)."""
    import pytest

    Path(path).mkdir(parents=True, exist_ok=True)
    mnt = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "none", str(path)], capture_output=True)
    if mnt.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({options}) here: {mnt.stderr.decode()[:200]}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def fake_snakemake_run(tmp_path: Path) -> subprocess.Popen:
    """A process that looks like a snakemake run's main process (a script named snakemake)."""
    script = Path(tmp_path) / "fake-run" / "snakemake"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("import time\ntime.sleep(300)\n")
    return subprocess.Popen([sys.executable, str(script)])


@contextlib.contextmanager
def fake_servers(tmp_path: Path, state_dir: Path, *names_and_owners):
    """Stand-in servers (a sleeping script, own session) recorded in state_dir like real ones.
    names_and_owners: (name, "live" | "dead" | None); a live owner is a process named snakemake.
    Yields {name: Popen}; everything is killed afterwards."""
    from joulebench.backends.process import ManagedServer, ServerState

    fake = Path(tmp_path) / "llama-server"
    fake.write_text("#!/bin/sh\nsleep 300\n")
    fake.chmod(0o755)
    live = fake_snakemake_run(tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    pids = {"live": live.pid, "dead": dead.pid, None: None}
    procs = {}
    try:
        for name, who in names_and_owners:
            procs[name] = subprocess.Popen([str(fake)], start_new_session=True)
            ManagedServer(state_dir, name)._save(ServerState(procs[name].pid, "k", [str(fake)], "127.0.0.1", 1,
                                                             "x.log", time.time_ns(), pids[who]))
        time.sleep(0.3)
        yield procs
    finally:
        live.kill()
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)


def cell_json(wd: Path, ctx: int, gen: int, mode="default", backend="llamacpp", model="gemma3-270m") -> Path:
    return Path(wd) / RAW / mode / backend / model / f"ctx{ctx}_gen{gen}" / "cell.json"


def cell_target(ctx: int, gen: int, mode="default", backend="llamacpp", model="gemma3-270m") -> str:
    return str(RAW / mode / backend / model / f"ctx{ctx}_gen{gen}" / "cell.json")
