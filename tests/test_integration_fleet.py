"""A fleet of two "devices" on this machine, for real: two llama-server setups on disjoint cores
(device a on core 0, b on core 1), driven through Snakemake's cluster-generic executor with
joulebench.fleet as submit and status command (the tested default: a local submit, results on the
shared file system). One pipeline run, then one rerun, check:

- both devices capture at once (their cell.json capture windows overlap), each on its own core;
- the raw trees land in one results/ (results/raw/a/..., results/raw/b/...) and are analysed
  together into one summary with a fleet_device column and each device's provenance;
- device b's job killed mid-capture (its second cell, aiperf running) leaves every other cell
  intact (byte for byte), and the rerun captures only the missing cell.
"""
import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

import reliability_harness as H

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CELL_DIR = "default/llamacpp/gemma3-270m"


def fleet_workdir(tmp_path: Path) -> Path:
    wd = H.make_workdir(tmp_path / "wd", capture__unit="cell")  # one job per cell: a kill loses one
    cfg = H.config(wd)
    cfg["devices"] = {
        name: {"cores": core,
               # the job is pinned to the device's core as a whole (taskset): server and aiperf share it
               "pinning": {"enabled": False, "server_threads": 1},
               "backends": {"llamacpp": {"port": H.free_port()}}}
        for name, core in (("a", "0"), ("b", "1"))
    }
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    return wd


def executor_args(wd: Path) -> list[str]:
    fleet = f"{sys.executable} -m joulebench.fleet"
    return ["--executor", "cluster-generic", "--jobs", "4", "--keep-going",
            "--cluster-generic-submit-cmd", f"{fleet} submit {{params.configfile}} '{{wildcards.device}}'",
            "--cluster-generic-status-cmd", f"{fleet} status"]


def cell_json(wd: Path, device: str, ctx: int) -> Path:
    return wd / f"results/raw/{device}/{CELL_DIR}/ctx{ctx}_gen8/cell.json"


def accepted(wd: Path) -> dict[str, str]:
    """Every file under the accepted cell folders: relative path -> sha256."""
    out = {}
    for cj in sorted((wd / "results/raw").glob("*/*/*/*/*/cell.json")):
        for f in sorted(cj.parent.rglob("*")):
            if f.is_file():
                out[str(f.relative_to(wd))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def live_job_of(wd: Path, device: str) -> int:
    """The job id (watcher pid, its process group) of the device's running job."""
    jobs = sorted((wd / "results/.run/fleet").glob("*.json"), key=lambda p: p.stat().st_mtime)
    for rec in reversed(jobs):
        if json.loads(rec.read_text())["device"] == device and not rec.with_suffix(".rc").exists():
            return int(rec.stem)
    raise AssertionError(f"no running job of device {device}: {[p.name for p in jobs]}")


def wait_until(what, check, timeout=400.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_devices_capture_at_once_and_a_killed_device_reruns_only_its_cells(tmp_path):
    wd = fleet_workdir(tmp_path)
    env = {"PYTHONPATH": str(H.REPO / "src")}  # the submit/status commands import this checkout
    run = H.start(wd, *executor_args(wd), env=env, name="fleet")
    try:
        # b's first cell accepted, its second one's aiperf running: kill b's job there
        wait_until("b's first cell", lambda: cell_json(wd, "b", 64).exists() or run.proc.poll() is not None)
        clients = wd / "results/.run/devices/b/clients"
        wait_until("b's second aiperf", lambda: any(clients.glob("*.json")) or run.proc.poll() is not None)
        assert run.proc.poll() is None, run.output()[-3000:]
        os.killpg(live_job_of(wd, "b"), signal.SIGKILL)
        rc = run.finish(timeout=600)
    finally:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
    out = run.output()
    assert rc != 0, "the killed job must fail the run"
    assert "Submitted job" in out and "external jobid" in out, out[-3000:]  # the executor ran them
    survivors = [cell_json(wd, "a", 64), cell_json(wd, "a", 128), cell_json(wd, "b", 64)]
    assert all(p.exists() for p in survivors), out[-3000:]
    assert not cell_json(wd, "b", 128).exists(), "the killed capture must not be accepted"
    before = accepted(wd)

    # both devices captured at once, each on its own core (taskset of the local submit)
    meta = {p: json.loads(p.read_text()) for p in survivors}
    windows = {m["cell"]["fleet_device"] + str(m["cell"]["ctx"]):
               (m["timestamps"]["capture_start_ns"], m["timestamps"]["capture_end_ns"]) for m in meta.values()}
    overlap = [(x, y) for x in ("a64", "a128") for y in ("b64",)
               if windows[x][0] < windows[y][1] and windows[y][0] < windows[x][1]]
    assert overlap, f"no capture of a overlapped b's: {windows}"
    for p, m in meta.items():
        want = [0] if m["cell"]["fleet_device"] == "a" else [1]
        assert m["fleet_device"]["cpus_allowed"] == want, p

    rerun = H.run(wd, *executor_args(wd), env={**os.environ, **env}, timeout=900)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    log = rerun.stdout + rerun.stderr
    assert log.count("rule capture:") == 1 and "wildcards: device=b/" in log, log[-4000:]
    assert cell_json(wd, "b", 128).exists()
    after = accepted(wd)
    assert {k: after[k] for k in before} == before, "a rerun must leave accepted cells as they are"

    # one results/, analysed together: one summary with the device column and its provenance
    summary = pd.read_parquet(wd / "results/summary.parquet")
    assert sorted(zip(summary.fleet_device, summary.ctx)) == [("a", 64), ("a", 128), ("b", 64), ("b", 128)]
    assert summary.output_tok_s_per_user_avg.gt(0).all()
    configs = {d: json.loads(c) for d, c in zip(summary.fleet_device, summary.fleet_device_config)}
    assert configs["a"]["cores"] == "0" and configs["b"]["cores"] == "1"
    for pair in ("a/default/llamacpp", "b/default/llamacpp"):
        assert (wd / "results" / pair / "summary.parquet").exists()
    index = (wd / "results/figures/index.md").read_text()
    assert "**fleet device a**" in index and "**fleet device b**" in index
    assert "default@a" in index and "default@b" in index  # every per-mode figure compares the devices
