"""The workflow as people drive it, through the real snakemake CLI: YAML errors, one definition of
the summary with two configs in one results directory, plotting or reporting before anything
exists, dry runs of a large sweep and of one pair in an empty directory, and captures from before
accepted.json existed.

The summary cases analyse a GENERATED raw tree (benchmarks/analysis_scale.write_cell: the real raw
format, cell.json says "generated"), so the real parse/split/aggregate rules run without a device."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import reliability_harness as H
from joulebench import config as C
from joulebench.paths import raw_dir

sys.path.insert(0, str(H.REPO / "benchmarks"))
from analysis_scale import MS, T0, write_cell  # noqa: E402

BROKEN_YAML = "platform: cpu\nsweep:\n  requests: 5\n   gen_tokens: [8]\n"
BROKEN_AT = ":4:14: not valid YAML: mapping values are not allowed here"
JETSON = H.REPO / "config" / "jetson-orin-nano-super.yaml"


def snakemake(wd: Path, *args, timeout=300) -> subprocess.CompletedProcess:
    """snakemake as a user types it in wd: no --configfile unless given in args."""
    argv = [sys.executable, "-m", "snakemake", "--snakefile", str(H.REPO / "Snakefile"), "--directory", str(wd), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_yaml_error_in_config_yaml_names_file_line_and_column(tmp_path):
    (tmp_path / "config.yaml").write_text(BROKEN_YAML)
    proc = snakemake(tmp_path, "-n")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"config.yaml{BROKEN_AT}" in out, out[-2000:]
    assert "is not valid JSON or YAML" not in out
    assert not (tmp_path / "results").exists()


def test_yaml_error_in_a_configfile_stops_and_check_config_names_the_line(tmp_path):
    """Snakemake reads a --configfile before any workflow code runs (snakemake/settings/types.py,
    ConfigSettings): its own message names neither file nor line, which the workflow cannot
    change (docs/reliability.md). The run stops, nothing is created, and `joulebench check-config`
    names the place."""
    bad = tmp_path / "other.yaml"
    bad.write_text(BROKEN_YAML)
    proc = snakemake(tmp_path, "-n", "--configfile", str(bad))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Config file is not valid JSON or YAML" in out, out[-2000:]
    assert not (tmp_path / "results").exists()
    check = subprocess.run([sys.executable, "-m", "joulebench.cli", "check-config", str(bad)], capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(H.REPO / "src")})
    assert check.returncode == 1
    assert check.stderr.strip() == f"{bad}{BROKEN_AT}", check.stderr


def _two_configs(wd: Path) -> tuple[Path, Path]:
    """A: modes 15W and 25W, ctx 128; B: mode 15W only, ctx 128 and 512. One backend, one model,
    gen 32; every cell of both generated (captured) under wd/results/raw."""
    base = yaml.safe_load(JETSON.read_text())
    model = next(iter(base["models"]))
    base["backends"] = {"llamacpp": base["backends"]["llamacpp"]}
    base["models"] = {model: base["models"][model]}
    base["sweep"].update(gen_tokens=[32], canonical_gen=32, canonical_ctx=128)
    a = {**base, "modes": {k: base["modes"][k] for k in ("15W", "25W")},
         "sweep": {**base["sweep"], "prompt_tokens": [128]}}
    b = {**base, "modes": {"15W": base["modes"]["15W"]}, "sweep": {**base["sweep"], "prompt_tokens": [128, 512]}}
    paths = []
    for name, cfg in (("A.yaml", a), ("B.yaml", b)):
        (wd / name).write_text(yaml.safe_dump(cfg, sort_keys=False))
        paths.append(wd / name)
    rng = np.random.default_rng(7)
    cells = sorted({*C.cells(C.load(paths[0])), *C.cells(C.load(paths[1]))})
    for i, cell in enumerate(cells):
        write_cell(raw_dir(cell, wd), cell, rng, T0 + i * 40_000 * MS, 4, 20)
    return paths[0], paths[1]


def _cells_of(parquet: Path) -> list[tuple]:
    return sorted(map(tuple, pd.read_parquet(parquet)[["mode", "ctx"]].itertuples(index=False)))


def test_two_configs_in_one_results_dir_give_one_summary_definition(tmp_path):
    """#19.11: results/summary.parquet is the config's pair summaries put together. Building it for
    config B after config A rebuilds B's pairs first (the shared pair now holds B's cells, in its
    summary and in the overall one alike); A's other pair is left on disk, named as not part of it;
    every summary records the config it was built with."""
    wd = tmp_path / "wd"
    wd.mkdir()
    a, b = _two_configs(wd)
    res = wd / "results"
    first = snakemake(wd, "results/summary.parquet", "--cores", "1", "--configfile", str(a))
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    assert _cells_of(res / "summary.parquet") == [("15W", 128), ("25W", 128)]
    assert json.loads((res / "built_for.json").read_text())["config_file"] == str(a)

    second = snakemake(wd, "results/summary.parquet", "--cores", "1", "--configfile", str(b))
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-3000:]
    summary = pd.read_parquet(res / "summary.parquet")
    pair = pd.read_parquet(res / "15W" / "llamacpp" / "summary.parquet")
    assert _cells_of(res / "summary.parquet") == [("15W", 128), ("15W", 512)]
    pd.testing.assert_frame_equal(summary, pair)  # the same rows, byte for byte in value
    assert len(pd.read_parquet(res / "requests.parquet")) == 2 * 4  # 2 cells x 4 requests, B's pair only
    record = json.loads((res / "built_for.json").read_text())
    assert record["config_file"] == str(b) and record["config_hash"] == C.config_hash(C.load(b))
    assert record["pairs"] == ["results/15W/llamacpp"] and record["cells"] == 2
    assert json.loads((res / "15W" / "llamacpp" / "built_for.json").read_text())["config_file"] == str(b)
    assert "pair summaries on disk that this config does not name are not part of results/summary.parquet" in out
    assert f"results/25W/llamacpp (built with {a}" in out, out[-3000:]
    assert _cells_of(res / "25W" / "llamacpp" / "summary.parquet") == [("25W", 128)]  # left as A built it


def refused(wd: Path, *args) -> str:
    """The output of a snakemake run that must stop with an error."""
    proc = H.run(wd, *args, timeout=300)
    assert proc.returncode != 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout + proc.stderr


def test_figures_and_report_before_anything_exists_say_what_to_do(tmp_path):
    """No 0-column parquet, no KeyError: one line saying what to run first."""
    wd = H.make_workdir(tmp_path, ctx=(32,), gen=(8,), requests=1, warmup=0)
    out = refused(wd, "--cores", "1", "figures")
    assert "no cell captured yet under results/raw/: nothing to plot. Capture first" in out, out[-3000:]
    assert "KeyError" not in out and not (wd / "results" / "summary.parquet").exists()
    out = refused(wd, "--report", "results/report.html")
    assert ("no figures yet (results/figures does not exist): make them first with `snakemake --cores 1` "
            "(or `snakemake figures` to plot what is captured), then `snakemake --report results/report.html`") in out
    assert "Missing metadata" not in out and not (wd / "results" / "report.html").exists()


def test_dry_run_of_the_768_cell_sweep_is_short_and_p_gives_every_job(tmp_path):
    """The default dry run: the missing-cells table and the job counts (Snakemake's own quiet dry
    run); `-n -p` still lists every job (the 768 captures and their analysis)."""
    short = snakemake(tmp_path, "-n", "--configfile", str(JETSON))
    out = short.stdout + short.stderr
    assert short.returncode == 0, out[-3000:]
    assert "768 of 768 cells not captured yet" in out
    assert "joulebench: dry run: job counts only; `snakemake -n -p` lists every job" in out
    assert re.search(r"^capture\s+768$", out, re.M), out[-2000:]
    assert out.count("\n") < 120, f"{out.count(chr(10))} lines"
    full = snakemake(tmp_path, "-n", "-p", "--configfile", str(JETSON))
    text = full.stdout + full.stderr
    assert full.returncode == 0
    assert text.count("rule capture:") == 768 and text.count("\n") > 768 * 10
    assert text.count("rule parse_split_pair:") == 8 and text.count("rule aggregate_pair:") == 8


def test_dry_run_of_one_pair_in_an_empty_directory(tmp_path):
    (tmp_path / "config.yaml").write_text((H.REPO / "config.yaml").read_text())
    proc = snakemake(tmp_path, "-n", "results/default/llamacpp/")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "4 of 4 cells not captured yet" in out and "Traceback" not in out
    assert not list(tmp_path.rglob("cell.json"))


@pytest.mark.integration
def test_a_capture_from_before_accepted_json_survives_a_main_pid_kill(tmp_path):
    """A capture whose orphaned job accepted it after a kill -9 of the main pid, made by code from
    before accepted.json existed (here: its accepted.json removed): the rerun's start gives it
    its second name before Snakemake deletes cell.json as incomplete, and the capture is kept
    byte for byte, not measured again nor moved to raw-incomplete."""
    wd = H.make_workdir(tmp_path, ctx=(32,), gen=(8,), requests=2, warmup=0)
    run = H.start(wd, "--cores", "1", "results/default/llamacpp/")
    try:
        assert run.wait_for(r"Phase profiling .* started"), run.output()[-3000:]
        os.kill(run.proc.pid, signal.SIGKILL)  # the main pid only: the capture job goes on
        run.proc.wait()
        deadline = time.monotonic() + 300
        while H.capture_jobs(wd) and time.monotonic() < deadline:
            time.sleep(0.2)
        cell = H.cell_json(wd, 32, 8)
        assert cell.exists(), "the orphaned job should have accepted its cell"
        (cell.parent / "accepted.json").unlink()  # a capture made before accepted.json existed
        kept = H.accepted_snapshot(wd)
        rerun = H.run(wd, "--cores", "1", "results/default/llamacpp/")
        out = rerun.stdout + rerun.stderr
        assert rerun.returncode == 0, out[-4000:]
        assert "gave 1 accepted captures from before accepted.json existed their second name" in out, out[-4000:]
        assert "kept the accepted capture already there" in out and "accepted in" not in out
        assert H.check_snapshot_kept(kept, wd) == []
        assert (cell.parent / "accepted.json").samefile(cell)
        assert not (wd / H.INCOMPLETE).exists()
        again = H.run(wd, "--cores", "1", "results/default/llamacpp/")
        assert again.returncode == 0 and "gave" not in again.stdout + again.stderr  # once
    finally:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
        H.kill_pids(H.capture_jobs(wd) + H.servers_alive(wd) + H.aiperf_alive(wd))
