"""Run state (joulebench.runtime) with real processes, real flocks and real files: the device lock
across processes, the accepted-capture keeper, forced re-measures, process-group stops, the aiperf
pump on a full disk, and the per-request cause of an aiperf failure. Seconds in all."""
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from joulebench.capture import writeonce
from joulebench.errors import CaptureError
from joulebench.runtime import devicelock, forced, owner, processes
from joulebench.runtime.clients import run_aiperf

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _holder_process(lock: Path, owner_pid: str = "", hold_s: float = 300) -> subprocess.Popen:
    """Another process that takes the device lock (as a capture does) and keeps it."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {SRC!r})
        from joulebench.runtime.devicelock import DeviceLock
        lock = DeviceLock("/some/checkout", path={str(lock)!r}).acquire(wait_s=0)
        print("held", flush=True)
        time.sleep({hold_s})
    """)
    env = {**os.environ, owner.OWNER_ENV: owner_pid} if owner_pid else \
        {k: v for k, v in os.environ.items() if k != owner.OWNER_ENV}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def no_owner(monkeypatch):
    monkeypatch.delenv(owner.OWNER_ENV, raising=False)


def test_device_lock_refuses_naming_the_holder_then_waits_for_it(tmp_path, no_owner):
    lock = tmp_path / "device.lock"
    holder = _holder_process(lock)
    try:
        with pytest.raises(devicelock.DeviceBusy) as err:
            devicelock.DeviceLock(tmp_path, path=lock).acquire(wait_s=0)
        msg = str(err.value)
        assert f"another capture is running (pid {holder.pid}, since 20" in msg
        assert "in /some/checkout" in msg and str(lock) in msg and devicelock.WAIT_ENV in msg
        # waiting: granted once the holder is gone (the kernel drops a dead holder's flock)
        threading_kill = subprocess.Popen(["sh", "-c", f"sleep 1.5; kill -9 {holder.pid}"])
        t0 = time.monotonic()
        got = devicelock.DeviceLock(tmp_path, path=lock).acquire(wait_s=30)
        assert 1.0 < time.monotonic() - t0 < 10
        assert devicelock.read_holder(lock).pid == os.getpid()
        got.release()
        assert devicelock.read_holder(lock).capturing is False
        threading_kill.wait()
    finally:
        holder.kill()
        holder.wait()


def test_a_live_run_keeps_the_device_between_its_captures(tmp_path, monkeypatch):
    """Run A's capture released the flock, but run A (a live snakemake main process) goes on:
    run B's capture must not slip in between A's blocks; once A ends, B gets the device."""
    lock = tmp_path / "device.lock"
    import reliability_harness as H

    run_a = H.fake_snakemake_run(tmp_path)
    try:
        first = _holder_process(lock, owner_pid=str(run_a.pid), hold_s=0)
        first.wait(timeout=10)
        monkeypatch.setenv(owner.OWNER_ENV, "999999")  # run B (its pid does not matter here)
        with pytest.raises(devicelock.DeviceBusy, match=rf"another run has the device between its "
                                                        rf"captures \(pid {first.pid} of snakemake pid {run_a.pid}"):
            devicelock.DeviceLock(tmp_path, path=lock).acquire(wait_s=0)
        # the same run's next capture is let in
        monkeypatch.setenv(owner.OWNER_ENV, str(run_a.pid))
        devicelock.DeviceLock(tmp_path, path=lock).acquire(wait_s=0).release()
        # run A ends: its claim ends with it
        monkeypatch.setenv(owner.OWNER_ENV, "999999")
        run_a.kill()
        run_a.wait()
        devicelock.DeviceLock(tmp_path, path=lock).acquire(wait_s=0).release()
    finally:
        run_a.kill()


def test_idle_check_for_clean_up_fails_while_a_capture_runs(tmp_path, no_owner):
    lock = tmp_path / "device.lock"
    holder = _holder_process(lock)
    try:
        assert devicelock.DeviceLock(tmp_path, path=lock).idle() is False
    finally:
        holder.kill()
        holder.wait()
    probe = devicelock.DeviceLock(tmp_path, path=lock)
    assert probe.idle() is True
    probe.release_idle()


def test_bad_wait_setting_is_named(monkeypatch):
    monkeypatch.setenv(devicelock.WAIT_ENV, "soon")
    with pytest.raises(CaptureError, match=f"environment {devicelock.WAIT_ENV}='soon'"):
        devicelock.wait_seconds()


# -- accepted captures survive Snakemake deleting cell.json ------------------------------------
def _accepted(cell: Path, status="accepted") -> Path:
    staging = cell / ".staging-1"
    (staging / "aiperf").mkdir(parents=True)
    (staging / "aiperf" / "profile_export.jsonl").write_text('{"r": 1}\n')
    (staging / "cell.json").write_text(json.dumps({"status": status, "n_requests": 1}))
    writeonce.promote(staging, cell)
    return cell


def test_keeper_survives_deletion_of_cell_json_and_restores_it(tmp_path):
    cell = _accepted(tmp_path / "raw" / "ctx64_gen8")
    assert os.path.samefile(cell / "cell.json", cell / writeonce.KEEPER)
    (cell / "cell.json").unlink()  # what Snakemake does before rerunning the job
    assert writeonce.complete_record(cell) == {"status": "accepted", "n_requests": 1}
    # a complete capture is never taken for an interrupted one's leftovers
    assert writeonce.stash_leftovers(cell, tmp_path / "incomplete", "s", "interrupted") is None
    assert writeonce.restore_marker(cell) is True
    assert json.loads((cell / "cell.json").read_text())["n_requests"] == 1
    assert writeonce.restore_marker(cell) is False


def test_no_keeper_means_not_known_complete(tmp_path):
    cell = tmp_path / "c"
    (cell / "aiperf").mkdir(parents=True)
    (cell / "cell.json").write_text(json.dumps({"status": "accepted"}))  # a capture from before the keeper
    assert writeonce.complete_record(cell) is None
    assert writeonce.complete_record(_accepted(tmp_path / "r", status="rejected")) is None


def test_promote_moves_keeper_after_the_data_and_before_the_marker(tmp_path, monkeypatch):
    order = []
    real = os.replace
    monkeypatch.setattr(writeonce.os, "replace", lambda a, b: (order.append(Path(a).name), real(a, b)))
    _accepted(tmp_path / "c")
    assert order == ["aiperf", writeonce.KEEPER, writeonce.MARKER]


def test_supersede_moves_the_whole_capture_with_its_record(tmp_path):
    cell = _accepted(tmp_path / "raw" / "m" / "ctx64_gen8")
    (cell / "cell.json").unlink()
    dest = writeonce.supersede(cell, tmp_path / "raw-superseded", "m/ctx64_gen8")
    assert dest.parent == tmp_path / "raw-superseded" / "m" / "ctx64_gen8" and "-superseded-" in dest.name
    assert sorted(p.name for p in dest.iterdir()) == sorted(["aiperf", "accepted.json", "cell.json"])
    assert (dest / "aiperf" / "profile_export.jsonl").read_text() == '{"r": 1}\n'
    assert cell.is_dir() and not any(cell.iterdir())


# -- which captures a run was asked to re-measure ---------------------------------------------
def _dag(**kw):
    base = dict(forceall=False, forcerun=frozenset(), forcetargets=False, targets=frozenset())
    return SimpleNamespace(**{**base, **kw})


@pytest.mark.parametrize("settings, a_forced, b_forced", [
    (_dag(), False, False),
    (_dag(forcerun=frozenset({"parse_split_pair"})), False, False),
    (_dag(forcerun=frozenset({"capture"})), True, True),
    (_dag(forceall=True), True, True),
    (_dag(forcerun=frozenset({"results/raw/a/cell.json"})), True, False),
    (_dag(forcetargets=True, targets=frozenset({"results/raw/b/cell.json"})), False, True),
    (_dag(forcetargets=False, targets=frozenset({"results/raw/b/cell.json"})), False, False),
])
def test_forced_captures(settings, a_forced, b_forced, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(forced.FORCED_ENV, raising=False)
    forced.note_forced(settings)
    assert forced.is_forced("results/raw/a/cell.json") is a_forced
    assert forced.is_forced(tmp_path / "results/raw/b/cell.json") is b_forced


# -- processes ---------------------------------------------------------------------------------
def test_stop_group_kills_a_worker_that_ignores_term(tmp_path):
    script = tmp_path / "stubborn.sh"
    script.write_text("#!/bin/sh\n(trap '' TERM; sleep 300) &\nexec sleep 300\n")
    script.chmod(0o755)
    proc = subprocess.Popen([str(script)], start_new_session=True)
    time.sleep(0.3)
    t0 = time.monotonic()
    assert processes.stop_group(proc.pid, grace_s=1, child=proc) is True
    assert time.monotonic() - t0 < 5
    time.sleep(0.2)
    ps = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(proc.pid)], capture_output=True, text=True)
    left = [ln for ln in ps.stdout.splitlines() if not ln.split()[1].startswith("Z")]  # zombies are dead
    assert left == [], f"left in the group: {left}"
    gone = subprocess.Popen(["true"], start_new_session=True)
    gone.wait()
    assert processes.stop_group(gone.pid) is False


def test_a_client_that_exits_leaving_its_workers_has_them_stopped(tmp_path, capfd):
    """aiperf's services are children in its group: if it exits while one still runs (a crashed
    controller), the worker must not outlive the capture (it would load the client core during the
    next measurement) nor hold the output pipe open (the log pump would wait for it)."""
    from joulebench.runtime.clients import AiperfProcess

    script = tmp_path / "leaves_a_worker.sh"
    script.write_text("#!/bin/sh\n(trap '' TERM; echo worker up; sleep 300) &\nsleep 0.3\necho controller done\n")
    script.chmod(0o755)

    class Alive:
        def check_alive(self):
            pass

    client = AiperfProcess([str(script)], dict(os.environ), tmp_path / "aiperf.log", state_dir=tmp_path / "state")
    t0 = time.monotonic()
    assert client.supervise(Alive(), timeout_s=30) == 0
    assert time.monotonic() - t0 < 6, "the pump waited for the left-over worker"
    assert processes.group_members(client.proc.pid) == []
    assert "controller done" in (tmp_path / "aiperf.log").read_text()
    assert "exited leaving 1 process(es)" in capfd.readouterr().err
    assert list((tmp_path / "state").glob("*.json")) == []
    # a leader that exits alone leaves nothing to stop and says nothing
    clean = AiperfProcess(["true"], dict(os.environ), tmp_path / "clean.log")
    assert clean.supervise(Alive(), timeout_s=30) == 0
    assert "exited leaving" not in capfd.readouterr().err


def test_aiperf_maps_its_dataset_in_the_run_state_and_leaves_nothing_behind(tmp_path):
    """aiperf memory-maps its dataset under /tmp by default and leaves an empty aiperf_mmap_<id>
    folder there after every run (its dataset too after a kill): hundreds over a long sweep. Each
    recorded client gets a scratch folder beside its record instead, gone with the record, and a
    killed capture's is removed when its orphan is reaped."""
    import json

    from joulebench.runtime.clients import MMAP_ENV, AiperfProcess, reap_orphan_clients

    script = tmp_path / "maps_a_dataset.sh"
    script.write_text(f'#!/bin/sh\nmkdir "${MMAP_ENV}/aiperf_mmap_1" && echo data > "${MMAP_ENV}/aiperf_mmap_1/dataset.dat"\n'
                      f'echo "mapped under ${MMAP_ENV}"\n')
    script.chmod(0o755)

    class Alive:
        def check_alive(self):
            pass

    state = tmp_path / "state"
    client = AiperfProcess([str(script)], dict(os.environ), tmp_path / "aiperf.log", state_dir=state)
    assert client.supervise(Alive(), timeout_s=30) == 0
    assert f"mapped under {state}/aiperf-mmap-" in (tmp_path / "aiperf.log").read_text()
    assert list(state.iterdir()) == []
    # a client with no record (a benchmark's): its scratch is in the system's temp folder, gone too
    unrecorded = AiperfProcess([str(script)], dict(os.environ), tmp_path / "unrecorded.log")
    assert unrecorded.supervise(Alive(), timeout_s=30) == 0
    assert "mapped under" in (tmp_path / "unrecorded.log").read_text() and not Path(unrecorded.scratch).exists()

    # a capture killed with -9: its record and scratch stay until the next capture reaps them
    left = state / "aiperf-mmap-left"
    (left / "aiperf_mmap_2").mkdir(parents=True)
    (left / "aiperf_mmap_2" / "dataset.dat").write_text("data")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (state / f"{dead.pid}.json").write_text(json.dumps({"pid": dead.pid, "scratch": str(left)}))
    assert reap_orphan_clients(state) == []
    assert list(state.iterdir()) == []


def test_left_behind(monkeypatch):
    dead = subprocess.Popen(["true"])
    dead.wait()
    monkeypatch.setenv(owner.OWNER_ENV, str(os.getpid()))
    assert owner.left_behind(dead.pid) is True
    assert owner.left_behind(os.getpid()) is False
    assert owner.left_behind(os.getpid(), this_run_too=True) is True
    assert owner.left_behind(None) is False and owner.left_behind(None, unowned_too=True) is True
    # a live process that is no snakemake run does not own anything (a reused pid)
    other = subprocess.Popen(["sleep", "30"])
    try:
        assert owner.left_behind(other.pid) is True
    finally:
        other.kill()


@pytest.mark.parametrize("argv, main", [
    (["/venv/bin/python", "-m", "snakemake", "--cores", "1"], True),
    (["/venv/bin/snakemake", "--cores", "1"], True),
    (["python3", "/venv/lib/python3.11/site-packages/snakemake/__main__.py", "-n"], True),
    (["/venv/bin/python", "/wd/.snakemake/scripts/tmpab12.capture_cell.py"], False),
    (["bash", "-c", "python -m snakemake"], False),
    (["sleep", "300", "snakemake"], False),
    (["/usr/bin/python3", "/tmp/x/snakemake"], True),
    ([], False),
])
def test_is_snakemake_main(argv, main):
    assert owner.is_snakemake_main(argv) is main


def test_sigterm_raises_inside_and_is_restored_after():
    code = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {SRC!r})
        from joulebench.runtime.processes import Terminated, sigterm_raises
        try:
            with sigterm_raises():
                os.kill(os.getpid(), signal.SIGTERM)
                import time; time.sleep(5)
        except Terminated as exc:
            print("cleaned up after:", exc)
        print(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30).stdout
    assert out.split("\n")[:2] == ["cleaned up after: stopped by SIGTERM", "True"]


# -- aiperf under supervision ------------------------------------------------------------------
class _Alive:
    def check_alive(self):
        pass


def test_pump_keeps_draining_on_a_full_disk(tmp_path):
    """/dev/full fails every write with ENOSPC: the child (8 MB of output, far beyond a pipe's
    buffer) must still run to its end, and the error is one line naming the log."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    t0 = time.monotonic()
    with pytest.raises(CaptureError, match=r"^cannot write /dev/full: No space left on device; free some"):
        run_aiperf(["sh", "-c", "head -c 8000000 /dev/zero | tr '\\0' x >&2; echo done"],
                   dict(os.environ), Path("/dev/full"), _Alive(), timeout_s=60)
    assert time.monotonic() - t0 < 30


def test_pump_shows_progress_redrawn_with_carriage_returns_before_the_line_ends(tmp_path):
    code = "import sys,time\nsys.stdout.write('progress 1/2\\r'); sys.stdout.flush(); time.sleep(3)\nprint('x')"
    log = tmp_path / "aiperf.log"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, os
        sys.path.insert(0, {SRC!r})
        from pathlib import Path
        from joulebench.runtime.clients import run_aiperf
        class A:
            def check_alive(self): pass
        run_aiperf([sys.executable, "-c", {code!r}], dict(os.environ), Path({str(log)!r}), A(), 30)
    """)], stderr=subprocess.PIPE)
    os.set_blocking(proc.stderr.fileno(), False)
    seen, deadline = b"", time.monotonic() + 2.5
    while time.monotonic() < deadline and b"progress 1/2" not in seen:
        try:
            seen += proc.stderr.read() or b""
        except (BlockingIOError, TypeError):
            pass
        time.sleep(0.05)
    proc.wait(timeout=30)
    assert b"progress 1/2\r" in seen, "the progress was not shown while the line was still open"
    assert log.read_bytes() == b"progress 1/2\rx\n"


@pytest.mark.parametrize("aiperf_log, server_log, expected", [
    ("ERROR  request failed: {'error': {'code': 400, 'message': 'the request exceeds the available "
     "context size, try increasing it', 'type': 'exceed_context_size_error'}}", "",
     "exceed the server's context"),
    ("worker: TimeoutError: request 3 took longer than 5 s", "", "requests timed out"),
    ("HTTP 501 Not Implemented", "", "HTTP 501"),
    ("\x1b[31mCancelled\x1b[0m", "srv  send_error: task id = 3, error: the request exceeds the available "
     "context size", "exceed the server's context"),
    ("Profiling 2/2 done\r\nall good", "srv  log_server_r: request: POST /v1/chat/completions 200", None),
    ("INFO Phase complete: PhaseRecordsStats(timeout_triggered=False, was_cancelled=False)", "", None),
])
def test_aiperf_failure_cause(tmp_path, aiperf_log, server_log, expected):
    from joulebench.capture.aiperf_cause import aiperf_failure_cause

    (tmp_path / "aiperf.log").write_text(aiperf_log)
    (tmp_path / "server.log").write_text(server_log)
    cause = aiperf_failure_cause(tmp_path / "missing.jsonl", tmp_path / "aiperf.log", tmp_path / "server.log",
                                 tmp_path / "missing.log")
    if expected is None:
        assert cause is None
    else:
        assert expected in cause
        assert "\x1b" not in cause and ('(aiperf.log)' in cause or '(server.log)' in cause)


def test_aiperf_failure_cause_from_per_request_errors(tmp_path):
    """aiperf's own log says only "All 2 inference request(s) failed"; its records hold the cause
    (here the records of a real run against a server that answers POST with HTTP 501)."""
    from joulebench.capture.aiperf_cause import aiperf_failure_cause

    html = ("<!DOCTYPE HTML>\n<html><body><h1>Error response</h1>\n<p>Error code: 501</p>\n"
            "<p>Message: Unsupported method ('POST').</p></body></html>\n")
    rec = {"metadata": {"benchmark_phase": "profiling"}, "metrics": {},
           "error": {"code": 501, "type": "Unsupported method ('POST')", "message": html}}
    (tmp_path / "profile_export.jsonl").write_text("\n".join(json.dumps(rec) for _ in range(2)) + "\n")
    (tmp_path / "aiperf.log").write_text("ERROR    All 2 inference request(s) failed; no successful "
                                         "responses were collected.\n")
    cause = aiperf_failure_cause(tmp_path / "profile_export.jsonl", tmp_path / "aiperf.log")
    assert cause == ("the server answered HTTP 501: it does not implement the endpoint aiperf calls: "
                     "\"2 of 2 requests failed: HTTP 501 Unsupported method ('POST'): Error response "
                     "Error code: 501 Message: Unsupported method ('POST').\" (profile_export.jsonl)")


def test_stop_servers_command_spares_a_live_runs_server(tmp_path):
    """`joulebench stop-servers` stops a dead run's server and one started outside snakemake, keeps
    the server of a run that still goes, and touches nothing while a capture holds the device."""
    import reliability_harness as H
    from joulebench.runtime.rundir import servers_dir

    state = servers_dir(tmp_path)
    lock = tmp_path / "device.lock"
    env = {**os.environ, "PYTHONPATH": SRC, devicelock.LOCK_ENV: str(lock)}
    env.pop(owner.OWNER_ENV, None)
    cli = [sys.executable, "-m", "joulebench.cli", "stop-servers"]
    with H.fake_servers(tmp_path, state, ("orphan", "dead"), ("live", "live"), ("unowned", None)) as procs:
        holder = _holder_process(lock)
        try:
            busy = subprocess.run(cli, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        finally:
            holder.kill()
            holder.wait()
        assert "a capture is running (pid" in busy.stderr and "stopped: nothing" in busy.stdout
        assert all(p.poll() is None for p in procs.values())
        done = subprocess.run(cli, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "stopped: orphan, unowned"
        assert procs["orphan"].wait(timeout=15) is not None and procs["unowned"].wait(timeout=15) is not None
        assert procs["live"].poll() is None
        assert sorted(f.stem for f in state.glob("*.json")) == ["live"]


def test_cells_measured_with_other_settings_are_named(tmp_path, default_config):
    """A config edited after the capture (requests 2 -> 5): the captured cells are named, with how
    to measure them again; an unchanged config names none."""
    import copy

    from joulebench import config as C
    from joulebench.workflow import measured_with_other_settings, other_settings_note

    cfg = C.validate(default_config)
    cells = C.cells(cfg)[:2]
    marker = {c: tmp_path / f"{c.ctx}_{c.gen}" / "cell.json" for c in cells}
    for c in cells:
        marker[c].parent.mkdir()
        marker[c].write_text(json.dumps({"cell_settings_hash": C.cell_settings_hash(cfg, c)}))
    def marker_of(c):
        return marker.get(c, tmp_path / "not-captured" / "cell.json")

    assert measured_with_other_settings(C.cells(cfg), cfg, marker_of) == []
    edited = copy.deepcopy(cfg)
    edited["sweep"]["requests"] = cfg["sweep"]["requests"] + 3
    changed = measured_with_other_settings(C.cells(edited), edited, marker_of)
    assert changed == cells
    note = other_settings_note(changed, marker.get)
    assert note.startswith("joulebench: 2 captured cells were measured with other settings")
    assert str(marker[cells[0]]) in note and "--forcerun" in note
