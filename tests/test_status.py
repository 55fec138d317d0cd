"""`joulebench status` on hand-made results trees: known cell counts, live capture, exact ETA."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from joulebench import config as C
from joulebench.cli import main
from joulebench.paths import raw_dir
from joulebench.runtime.progress import eta, format_status, read_status

T0 = 1_700_000_000 * 10**9  # epoch ns of the first capture


@pytest.fixture
def sweep_config(tmp_path, default_config):
    """2 prompt lengths x 2 generation lengths x 2 trials = 8 cells of 20 requests."""
    cfg = default_config
    cfg["sweep"].update(prompt_tokens=[128, 512], gen_tokens=[32, 64], requests=20, trials=2, concurrency=[1])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def cell(cfg, ctx, gen, trial=1):
    return next(c for c in C.cells(cfg) if (c.ctx, c.gen, c.trial) == (ctx, gen, trial))


def accept(root, c, start_s, wall_s, requests=20):
    d = raw_dir(c, root)
    d.mkdir(parents=True)
    start = T0 + int(start_s * 1e9)
    (d / "cell.json").write_text(json.dumps({"status": "accepted", "n_requests": requests, "timestamps": {
        "capture_start_ns": start, "capture_end_ns": start + int(wall_s * 1e9)}}))


# requests x (ctx+gen) of the 3 accepted cells: 20 x (160 + 192 + 544) = 17920; their wall time
# 100 + 200 + 596 = 896 s: 0.05 s per unit. The 5 pending cells: 20 x (576 + 160 + 192 + 544 + 576)
# = 40960 units -> 2048 s = 34 min 8 s.
def three_of_eight(root, cfg):
    accept(root, cell(cfg, 128, 32), 0, 100)
    accept(root, cell(cfg, 128, 64), 300, 200)
    accept(root, cell(cfg, 512, 32), 600, 596)


def test_three_of_eight_cells_give_the_exact_eta(tmp_path, sweep_config):
    cfg = C.load(sweep_config)
    three_of_eight(tmp_path, cfg)
    st = read_status(cfg, tmp_path, now_s=T0 / 1e9 + 3600)
    assert (st.total, len(st.captured), len(st.pending)) == (8, 3, 5)
    assert st.eta_s == pytest.approx(2048.0)
    text = format_status(st, tmp_path)
    assert "cells: 3 of 8 accepted, 5 pending" in text
    assert "ETA 34 min 8 s (capture wall time of 3 accepted cells (3 capture runs), per request x (ctx+gen)" in text
    assert "elapsed: 1 h 0 min since the first accepted capture started" in text
    assert "capturing now: nothing" in text


def test_cells_of_one_block_run_count_its_window_once(tmp_path, sweep_config):
    cfg = C.load(sweep_config)
    accept(tmp_path, cell(cfg, 128, 32), 0, 100)
    accept(tmp_path, cell(cfg, 128, 64), 300, 200)   # one block run: same start,
    accept(tmp_path, cell(cfg, 512, 32), 300, 596)   # window ends with its last cell
    st = read_status(cfg, tmp_path)
    assert st.eta_s == pytest.approx(40960 * (100 + 596) / 17920)
    assert "(2 capture runs)" in st.eta_method


def test_no_eta_before_the_first_cell(tmp_path, sweep_config):
    st = read_status(C.load(sweep_config), tmp_path)
    assert st.eta_s is None and len(st.pending) == 8
    text = format_status(st, tmp_path)
    assert "no ETA: no accepted cell with capture timestamps yet" in text and "ETA " not in text.replace("no ETA", "")


def test_auto_requests_take_the_accepted_cells_mean():
    cells = [C.Cell("m", "b", "x", ctx=100, gen=gen) for gen in (0, 100)]
    from joulebench.runtime.progress import Captured

    done = [Captured(cells[0], 10, T0, T0 + 10 * 10**9), Captured(cells[0], 30, T0 + 10**12, T0 + 10**12 + 30 * 10**9)]
    seconds, how = eta(done, [cells[1]], {"requests": "auto"})
    # 40 s over 40 x 100 units = 0.01 s/unit; pending: mean 20 requests x 200 = 4000 units -> 40 s
    assert seconds == pytest.approx(40.0) and "mean 20" in how


def test_live_capture_and_its_streamed_requests(tmp_path, sweep_config):
    cfg = C.load(sweep_config)
    three_of_eight(tmp_path, cfg)
    running = cell(cfg, 512, 64)
    stage = raw_dir(running, tmp_path) / f".staging-{os.getpid()}"  # this test's process is the live capture
    (stage / "aiperf").mkdir(parents=True)
    recs = [{"metadata": {"benchmark_phase": "warmup"}}] + [{"metadata": {"benchmark_phase": "profiling"}}] * 7
    (stage / "aiperf" / "profile_export.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in recs) + '{"metadata": {"bench')  # a line being written
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (raw_dir(cell(cfg, 128, 32, 2), tmp_path) / f".staging-{int(dead.stdout)}").mkdir(parents=True)  # killed capture

    st = read_status(cfg, tmp_path)
    assert [(lv.pid, lv.cells, lv.requests_done, lv.requests_planned) for lv in st.live] == \
        [(os.getpid(), [running], 7, 20)]
    text = format_status(st, tmp_path)
    assert f"capturing now (pid {os.getpid()}" in text and "default/llamacpp/gemma3-270m/ctx512_gen64" in text
    assert "requests: 7 of 20 measured" in text and "counted in full" in text


def test_live_capture_before_aiperf_says_requests_are_not_readable(tmp_path, sweep_config):
    cfg = C.load(sweep_config)
    (raw_dir(cell(cfg, 128, 32), tmp_path) / f".staging-{os.getpid()}").mkdir(parents=True)
    text = format_status(read_status(cfg, tmp_path), tmp_path)
    assert "requests: not readable: aiperf has not written" in text


def test_cli_status(tmp_path, sweep_config, capsys):
    three_of_eight(tmp_path, C.load(sweep_config))
    assert main(["status", "--directory", str(tmp_path)]) == 0  # config.yaml found in the directory
    out = capsys.readouterr().out
    assert "cells: 3 of 8 accepted, 5 pending" in out and "ETA 34 min 8 s" in out


def test_a_broken_cell_record_is_named(tmp_path, sweep_config):
    cfg = C.load(sweep_config)
    three_of_eight(tmp_path, cfg)
    bad = raw_dir(cell(cfg, 128, 64), tmp_path) / "cell.json"
    bad.write_text('{"n_requests": 20,')
    assert main(["status", "--directory", str(tmp_path), "--config", str(sweep_config)]) == 1
    assert bad.read_text() == '{"n_requests": 20,'  # nothing rewritten


def test_block_mates_waiting_in_pending_count_as_measured(tmp_path, sweep_config):
    from joulebench.capture.block import pending_dir

    cfg = C.load(sweep_config)
    three_of_eight(tmp_path, cfg)
    mate = cell(cfg, 512, 64)
    d = pending_dir(tmp_path, mate)
    d.mkdir(parents=True)
    (d / "cell.json").write_text(json.dumps({"n_requests": 20, "timestamps": {
        "capture_start_ns": T0 + 600 * 10**9, "capture_end_ns": T0 + 1300 * 10**9}}))  # block of 512/32 and 512/64
    st = read_status(cfg, tmp_path)
    assert (len(st.captured), len(st.pending)) == (4, 4)
    # windows: 100 + 200 + 700 s over 20 x (160 + 192 + 544 + 576) = 29440 units; pending 20 x (160+192+544+576)
    assert st.eta_s == pytest.approx(1000.0)
    assert "cells: 4 of 8 accepted (1 of them measured by a block run, in results/.run/pending" in \
        format_status(st, tmp_path)


def test_live_block_capture_lists_its_mates_and_reads_the_block_folder(tmp_path, sweep_config):
    from joulebench.capture.block import block_work_dir, pending_dir, staging_dir

    cfg = C.load(sweep_config)
    asked, mate = cell(cfg, 128, 32), cell(cfg, 128, 64)
    pid = os.getpid()
    staging_dir(raw_dir(asked, tmp_path), pid).mkdir(parents=True)
    staging_dir(pending_dir(tmp_path, mate), pid).mkdir(parents=True)
    work = block_work_dir(raw_dir(asked, tmp_path), pid) / "aiperf"
    work.mkdir(parents=True)
    (work / "profile_export.jsonl").write_text(json.dumps({"metadata": {"benchmark_phase": "profiling"}}) + "\n")
    [live] = read_status(cfg, tmp_path).live
    assert (live.cells, live.requests_done, live.requests_planned) == ([asked, mate], 1, 40)


def test_before_the_first_cell_a_live_capture_gives_a_provisional_eta(tmp_path, sweep_config):
    """A block run accepts its cells only at its end: until then the live run's own pace is the
    only measure. 10 measured requests of ctx512_gen64 (576 tokens each) in the 100 s since the
    first one started -> 100 / 5760 s per unit; pending: 2 trials x 20 x (160 + 192 + 544 + 576)
    = 58880 units, less the 5760 done -> 53120 x 100 / 5760 = 922.2 s."""
    cfg = C.load(sweep_config)
    now = 1_800_000_000.0
    stage = raw_dir(cell(cfg, 512, 64), tmp_path) / f".staging-{os.getpid()}"
    (stage / "aiperf").mkdir(parents=True)
    first = int((now - 100) * 1e9)
    recs = [{"metadata": {"benchmark_phase": "warmup", "request_start_ns": first - 10**9}}] + [
        {"metadata": {"benchmark_phase": "profiling", "request_start_ns": first + i * 10**9}} for i in range(10)]
    (stage / "aiperf" / "profile_export.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    st = read_status(cfg, tmp_path, now_s=now)
    assert st.eta_s == pytest.approx(53120 * 100 / 5760)
    text = format_status(st, tmp_path)
    assert "ETA 15 min 22 s (provisional, from the live capture's pace: 10 measured requests in 1 min 40 s" in text
    assert "counted in full" not in text
    # once a cell is accepted, its measured wall time decides again
    three_of_eight(tmp_path, cfg)
    assert read_status(cfg, tmp_path, now_s=now).eta_method.startswith("capture wall time")
