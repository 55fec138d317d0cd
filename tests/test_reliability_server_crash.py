"""The REAL llama-server is killed (SIGKILL, from the test) while aiperf measures the first cell:
that cell fails with the server's log tail, the sweep goes on under --keep-going (the next cell
starts a fresh server and is accepted), the run exits non-zero, and the next run retries the cell."""
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

import reliability_harness as H

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_server_crash_mid_cell_fails_that_cell_and_the_sweep_goes_on(tmp_path):
    wd = H.make_workdir(tmp_path, ctx=(64, 128), gen=(8,), requests=2, warmup=1)
    state = wd / H.STATE / "llamacpp.json"
    proc = subprocess.Popen(H.snakemake_argv(wd, "--cores", "1", "--keep-going", "results/default/llamacpp/"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    lines, crashed = [], {}

    def pump():
        for raw in iter(proc.stdout.readline, b""):
            lines.append(raw.decode(errors="replace"))

    def kill_at_first_measured_request():
        # Watch the server's own log, not aiperf's buffered progress output: the server logs
        # "processing task" when a request reaches its slot. The 1st is the warm-up; kill at the 2nd,
        # so the block's remaining requests meet a dead server.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and not crashed:
            try:
                st = json.loads(state.read_text())
                if (wd / st["log"]).read_text(errors="replace").count("processing task") >= 2:
                    os.kill(st["pid"], signal.SIGKILL)
                    crashed["pid"] = st["pid"]
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.01)

    killer = threading.Thread(target=kill_at_first_measured_request, daemon=True)
    killer.start()
    th = threading.Thread(target=pump, daemon=True)
    th.start()
    try:
        rc = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    th.join(timeout=5)
    killer.join(timeout=5)
    out = "".join(lines)
    assert crashed, out[-3000:]
    assert rc != 0, out[-3000:]
    # that cell failed, naming the server and showing its log tail
    assert re.search(r"server llamacpp died or stopped answering; log tail \(.*\.log\)", out) or \
        "Connection refused" in out or "aiperf exited" in out, out[-5000:]
    assert "log tail" in out, out[-5000:]
    # the sweep went on: the other cell was captured on a fresh server
    got = sorted(c.name for c in H.accepted_cells(wd))
    assert got == ["ctx128_gen8"], (got, out[-5000:])
    assert "(started)" in out.split("ctx128_gen8", 1)[1]
    assert H.check_no_partial_accepted(wd) == []
    assert list((wd / H.INCOMPLETE).rglob("aiperf.log")), "the failed attempt's files are kept aside"
    assert not H.servers_alive(wd)

    # the next run retries exactly the failed cell and completes
    before = H.accepted_snapshot(wd)
    rerun = H.run(wd, "--cores", "1", "results/default/llamacpp/")
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    assert sorted(c.name for c in H.accepted_cells(wd)) == ["ctx128_gen8", "ctx64_gen8"]
    assert H.check_snapshot_kept(before, wd) == []
    assert H.check_no_partial_accepted(wd) == []
    assert not H.servers_alive(wd) and not H.aiperf_alive(wd)
