"""Real use beyond one clean run, on the REAL pipeline (snakemake CLI, llama-server, aiperf, the
gemma3-270m GGUF), each with a tiny sweep (ctx 32/64, gen 8, 1-2 requests):

* two runs at once, in one directory with different targets and in two checkouts: the second
  refuses (naming the holder) or waits; captures never overlap; nobody stops the other's processes;
* kill -9 of the main snakemake pid only: the orphaned capture job accepts its cell, and the plain
  rerun keeps that accepted capture (Snakemake's rerun-incomplete deletes cell.json; its keeper
  brings it back) instead of measuring again;
* a forced re-measure of one cell: only that cell is measured, the earlier capture is kept whole in
  results/raw-superseded/;
* SIGTERM to the run's process group: no staging folder is left in results/raw/, the attempt's
  files are in raw-incomplete/, and the rerun completes.
"""
import json
import os
import signal
import time
from pathlib import Path

import pytest

import reliability_harness as H
from joulebench.runtime.devicelock import LOCK_ENV, WAIT_ENV

pytestmark = [pytest.mark.integration]

PAIR = "results/default/llamacpp/"
TINY = dict(gen=(8,), requests=1, warmup=0)


def _record(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def test_two_runs_at_once_never_measure_together(tmp_path):
    """Run A captures; run B, same directory, another target, refuses at once naming A's capture;
    run C in another checkout waits (JOULEBENCH_DEVICE_WAIT_S) until A's run is over. A's cell is
    accepted with all its requests valid, and aiperf windows of A and C do not overlap."""
    lock = {LOCK_ENV: str(tmp_path / "device.lock")}  # per machine; a private one for the test
    wd = H.make_workdir(tmp_path / "a", ctx=(32, 64), gen=(8,), requests=2, warmup=0, capture__unit="cell")
    other = H.make_workdir(tmp_path / "b", ctx=(32,), **TINY)
    a = H.start(wd, "--cores", "1", H.cell_target(32, 8), env=lock, name="a")
    c = None
    try:
        assert a.wait_for(r"server \S+ ready at"), a.output()[-3000:]
        b = H.run(wd, "--cores", "1", H.cell_target(64, 8), env={**os.environ, **lock, WAIT_ENV: "0"})
        out_b = b.stdout + b.stderr
        assert b.returncode != 0, out_b[-3000:]
        assert "another capture is running (pid " in out_b and f"in {wd.resolve()}" in out_b, out_b[-3000:]
        assert not H.cell_json(wd, 64, 8).exists()
        assert "stopped servers" not in out_b and "stopped aiperf" not in out_b
        c = H.start(other, "--cores", "1", PAIR, env={**lock, WAIT_ENV: "600"}, name="c")
        assert a.finish() == 0, a.output()[-4000:]
        assert c.finish() == 0, c.output()[-4000:]
    finally:
        for run in (a, c):
            if run is not None and run.proc.poll() is None:
                os.killpg(run.proc.pid, signal.SIGKILL)
        H.kill_pids(H.servers_alive(wd) + H.servers_alive(other) + H.aiperf_alive(wd) + H.aiperf_alive(other))
    assert "waiting up to 600s for the device" in c.output()
    assert H.check_no_partial_accepted(wd) == [] and H.check_no_partial_accepted(other) == []
    ta = _record(H.cell_json(wd, 32, 8))["timestamps"]
    tc = _record(H.cell_json(other, 32, 8))["timestamps"]
    assert tc["aiperf_start_ns"] > ta["aiperf_end_ns"], "two captures measured at the same time"
    assert _record(H.cell_json(wd, 32, 8))["n_requests"] == 2


@pytest.mark.parametrize("rerun_at_once", [False, True], ids=["rerun-after-orphan", "rerun-waits-for-orphan"])
def test_kill_of_the_main_pid_only_keeps_the_orphans_accepted_cell(tmp_path, rerun_at_once):
    """The orphaned capture job goes on and accepts. The plain rerun, started after it or at once
    (waiting for the device), keeps that capture byte for byte instead of measuring again."""
    # rerun at once: enough requests that the orphan is still measuring when the rerun's job starts
    wd = H.make_workdir(tmp_path, ctx=(32,), gen=(8,), requests=16 if rerun_at_once else 2, warmup=0)
    run = H.start(wd, "--cores", "1", PAIR)
    try:
        assert run.wait_for(r"Phase profiling .* started"), run.output()[-3000:]
        os.kill(run.proc.pid, signal.SIGKILL)  # the main pid only: the capture job goes on
        run.proc.wait()
        if rerun_at_once:
            assert H.capture_jobs(wd), "the orphaned capture job should still run"
            rerun = H.run(wd, "--cores", "1", PAIR, env={**os.environ, WAIT_ENV: "300"})
        deadline = time.monotonic() + 300
        while H.capture_jobs(wd) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not H.capture_jobs(wd)
        assert H.cell_json(wd, 32, 8).exists(), "the orphaned job should have accepted its cell"
        accepted = H.accepted_snapshot(wd)
        if not rerun_at_once:
            rerun = H.run(wd, "--cores", "1", PAIR)
        out = rerun.stdout + rerun.stderr
        assert rerun.returncode == 0, out[-4000:]
        assert "kept the accepted capture already there" in out, out[-4000:]
        assert "accepted in" not in out, "the kept cell was measured again"
        if rerun_at_once:
            assert "another capture is running" in out and "waiting up to 300s for the device" in out
        assert H.check_snapshot_kept(accepted, wd) == []
        assert H.check_no_partial_accepted(wd) == []
        assert not (wd / H.INCOMPLETE).exists()
        assert not H.servers_alive(wd) and not H.aiperf_alive(wd)
    finally:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
        H.kill_pids(H.capture_jobs(wd) + H.servers_alive(wd) + H.aiperf_alive(wd))


def test_forced_remeasure_of_one_cell_keeps_the_earlier_capture_whole(tmp_path):
    wd = H.make_workdir(tmp_path, ctx=(32, 64), **TINY)
    first = H.run(wd, "--cores", "1", PAIR)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    before = H.accepted_snapshot(wd)
    target = H.cell_target(32, 8)
    again = H.run(wd, "--cores", "1", PAIR, "--forcerun", target)
    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-4000:]
    assert out.count(": accepted in ") == 1, "only the named cell is measured again"
    assert "measuring again as asked; the earlier capture is kept complete in results/raw-superseded/" in out
    old = Path(target).parent
    moved = list((wd / "results/raw-superseded" / old.relative_to(H.RAW)).iterdir())
    assert len(moved) == 1
    for rel, sha in before.items():
        if Path(rel).parent == old or old in Path(rel).parents:
            # every file of the earlier capture, cell.json included, unchanged in raw-superseded/
            assert H._sha(moved[0] / Path(rel).relative_to(old)) == sha, rel
        else:
            assert H._sha(wd / rel) == sha, f"{rel}: a cell not named was touched"
    assert _record(wd / target)["timestamps"]["capture_start_ns"] > \
        _record(moved[0] / "cell.json")["timestamps"]["capture_end_ns"]
    assert H.check_no_partial_accepted(wd) == []


def test_sigterm_to_the_process_group_leaves_no_staging_in_raw(tmp_path):
    wd = H.make_workdir(tmp_path, ctx=(32,), gen=(8,), requests=2, warmup=0)
    run = H.start(wd, "--cores", "1", PAIR)
    try:
        assert run.wait_for(r"Phase profiling .* started"), run.output()[-3000:]
        os.killpg(run.proc.pid, signal.SIGTERM)
        run.finish(timeout=120)
        deadline = time.monotonic() + 60
        while H.capture_jobs(wd) and time.monotonic() < deadline:
            time.sleep(0.2)
        out = run.output()
        assert "stopped by SIGTERM" in out, out[-4000:]
        left = [p for p in (wd / H.RAW).rglob(".*staging-*")]
        assert left == [], f"staging left in results/raw: {left}"
        assert list((wd / H.INCOMPLETE).rglob("aiperf.log")), "the attempt's files are kept aside"
        assert not H.aiperf_alive(wd)
        rerun = H.run(wd, "--cores", "1", PAIR)
        assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
        assert H.check_no_partial_accepted(wd) == [] and H.cell_json(wd, 32, 8).exists()
        assert not H.servers_alive(wd)
    finally:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
        H.kill_pids(H.capture_jobs(wd) + H.servers_alive(wd) + H.aiperf_alive(wd))
