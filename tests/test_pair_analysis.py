"""One pair's cells parsed and split in one job (joulebench/analysis/): the same tables as one job
per cell and step wrote through Parquet, in one process or in worker processes; a cell re-analysed
exactly when its raw files, the analysis code or the analysis settings changed; a bad capture named
with its file and line while the good cells' results are kept."""
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from joulebench import config as C
from joulebench import paths as P
from joulebench.analysis import cache
from joulebench.analysis import pair as pair_module
from joulebench.analysis.pair import analyse_cells, analyse_pair, pair_tables
from joulebench.errors import JoulebenchError
from joulebench.config import Cell
from joulebench.metrics.aggregate import seed_columns, with_identity
from joulebench.metrics.cell_table import load_cell_json, parse_tables
from joulebench.metrics.rowio import frame_of, read_table
from joulebench.runtime.housekeeping import no_rate_limit_when_local
from joulebench.split import split_tables

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
MAX_REL_CI = 0.10


@pytest.fixture
def tree(tmp_path):
    """Four generated Jetson cells (INA3221-style telemetry every 20 ms), in the real raw format."""
    from analysis_scale import MS, T0, write_cell

    cfg = C.validate({"platform": "jetson", "modes": {"15W": {"nvpmodel": 0}},
                      "backends": {"llamacpp": {"kind": "llamacpp"}},
                      "models": {"m": {"quant": "Q4_K_M", "source": {"path": "m.gguf"}}},
                      "sweep": {"prompt_tokens": [128, 512], "gen_tokens": [32, 64], "requests": 12}})
    rng = np.random.default_rng(11)
    cells = C.cells(cfg)
    for i, cell in enumerate(cells):
        write_cell(P.raw_dir(cell, tmp_path), cell, rng, T0 + i * 40_000 * MS, 12, 20)
    jobs = [(str(P.raw_dir(c, tmp_path) / "cell.json"), str(tmp_path / P.CELLS / P.cell_suffix(c)))
            for c in cells]
    return tmp_path, cells, jobs


def _per_cell_reference(tmp, jobs):
    """The same captures the way one job per cell and step made them: each cell's parse and split
    written as Parquet through pandas, read back, the energy row beside the parsed row (identity
    checked), the seed's figures added to the rows put together."""
    trials, requests = [], []
    for i, (cj, _) in enumerate(jobs):
        w = tmp / "ref" / str(i)
        w.mkdir(parents=True)
        meta = load_cell_json(cj)
        req, cell_row = parse_tables(cj, meta)
        req.to_parquet(w / "requests.parquet", index=False)
        req, energy_row = split_tables(cj, meta, pd.read_parquet(w / "requests.parquet"), MAX_REL_CI)
        req.to_parquet(w / "re.parquet", index=False)
        for name, row in (("cell", cell_row), ("energy", energy_row)):
            pa.Table.from_pylist([{k: None if v is pd.NA else v for k, v in row.items()}]).to_pandas().to_parquet(
                w / f"{name}.parquet", index=False)
        cell = with_identity(read_table(w / "cell.parquet"))
        energy = with_identity(read_table(w / "energy.parquet")).drop(columns=["trial"])
        key = list(Cell.columns(cell))
        assert cell[key].equals(energy[key])
        trials.append(pd.concat([cell, energy.drop(columns=key)], axis=1))
        requests.append(with_identity(read_table(w / "re.parquet")))
    return seed_columns(pd.concat(trials, ignore_index=True)), pd.concat(requests, ignore_index=True)


@pytest.fixture
def pool_for_few_cells(monkeypatch):
    """The pool for this tree's 4 cells (a real run starts it from POOL_MIN_CELLS stale cells)."""
    monkeypatch.setattr(pair_module, "POOL_MIN_CELLS", 2)


@pytest.mark.parametrize("workers", [1, 2])
def test_pair_tables_equal_the_per_cell_functions(tree, workers, pool_for_few_cells):
    tmp, cells, jobs = tree
    analyse_pair(jobs, tmp / "t.parquet", tmp / "r.parquet", max_rel_ci=MAX_REL_CI, workers=workers)
    want_trials, want_requests = _per_cell_reference(tmp, jobs)
    got_trials, got_requests = pd.read_parquet(tmp / "t.parquet"), pd.read_parquet(tmp / "r.parquet")
    assert len(got_trials) == 4 and len(got_requests) == 4 * 12
    assert got_trials["decode_tok_per_j"].notna().all()
    pd.testing.assert_frame_equal(got_trials, want_trials, check_exact=True)
    pd.testing.assert_frame_equal(got_requests, want_requests, check_exact=True)


def test_only_changed_cells_are_analysed_again(tree, monkeypatch):
    tmp, cells, jobs = tree
    assert analyse_cells(jobs, MAX_REL_CI)["analysed"] == 4
    first = pair_tables([out for _, out in jobs])
    counts = analyse_cells(jobs, MAX_REL_CI)
    assert (counts["analysed"], counts["cached"]) == (0, 4)
    # a re-measured cell: its raw files are new (here: one file's mtime moved)
    telemetry = Path(jobs[2][0]).parent / "telemetry.jsonl"
    st = telemetry.stat()
    os.utime(telemetry, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    counts = analyse_cells(jobs, MAX_REL_CI)
    assert (counts["analysed"], counts["cached"]) == (1, 3)
    pd.testing.assert_frame_equal(pair_tables([out for _, out in jobs])[0], first[0], check_exact=True)
    # another analysis setting, then other analysis code: every cell again
    assert analyse_cells(jobs, 0.25)["analysed"] == 4
    monkeypatch.setattr(cache, "code_version", lambda: "other code")
    assert analyse_cells(jobs, 0.25)["analysed"] == 4
    assert analyse_cells(jobs, 0.25)["analysed"] == 0


def test_tables_without_their_key_are_not_current(tree):
    """A job killed between writing a cell's tables and its key leaves nothing that looks current."""
    tmp, cells, jobs = tree
    analyse_cells(jobs, MAX_REL_CI)
    out = Path(jobs[0][1])
    (out / cache.KEY_FILE).unlink()
    (out / cache.REQUEST_ROWS).unlink()
    (Path(jobs[1][1]) / cache.TRIAL_ROW).unlink()  # key left, a table gone
    counts = analyse_cells(jobs, MAX_REL_CI)
    assert (counts["analysed"], counts["cached"]) == (2, 2)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_bad_capture_is_named_and_the_others_are_kept(tree, workers, pool_for_few_cells):
    tmp, cells, jobs = tree
    export = Path(jobs[1][0]).parent / "aiperf" / "profile_export.jsonl"
    lines = export.read_text().splitlines()
    lines[4] = lines[4][:40]  # a truncated record on line 5
    export.write_text("\n".join(lines) + "\n")
    with pytest.raises(JoulebenchError) as err:
        analyse_pair(jobs, tmp / "t.parquet", tmp / "r.parquet", max_rel_ci=MAX_REL_CI, workers=workers)
    assert "1 of 4 cells could not be analysed" in str(err.value)
    assert f"{export}:5: invalid JSON" in str(err.value)
    assert not (tmp / "t.parquet").exists()
    kept = [cache.is_current(Path(out), cache.key(Path(cj).parent, cache.settings(MAX_REL_CI))) for cj, out in jobs]
    assert kept == [True, False, True, True]


def test_few_stale_cells_are_analysed_without_starting_a_pool(tree):
    """One re-measured cell must not pay for a pool's start (~1.5 s against ~45 ms of analysis)."""
    from joulebench.analysis.workers import pool_running

    tmp, cells, jobs = tree
    assert not pool_running(3)  # no other test uses 3 workers
    counts = analyse_cells(jobs, MAX_REL_CI, workers=3)
    assert (counts["analysed"], counts["where"]) == (4, "the job's own process") and not pool_running(3)


def test_frame_of_matches_pandas_concat_and_falls_back_on_type_conflicts():
    a = pa.Table.from_pylist([{"x": 1, "m": "point_regression", "ok": True}])
    b = pa.Table.from_pylist([{"x": 2, "m": "phase_mean", "extra": 0.5}])
    want = pd.concat([a.to_pandas(), b.to_pandas()], ignore_index=True)
    got = frame_of([a, b])
    assert list(got.columns) == ["x", "m", "ok", "extra"]
    assert got["x"].tolist() == [1, 2] and got["m"].tolist() == want["m"].tolist()
    assert np.isnan(got["extra"][0]) and got["extra"][1] == 0.5
    # a method name in one cell, NaN ("not measured") in another: pandas' object column, as before
    c = pa.Table.from_pylist([{"x": 3, "m": float("nan")}])
    mixed = frame_of([a, c])
    pd.testing.assert_frame_equal(mixed, pd.concat([a.to_pandas(), c.to_pandas()], ignore_index=True))
    assert frame_of([]).empty


def test_rate_limiter_off_only_on_a_local_run():
    local = SimpleNamespace(local_exec=True, scheduler=SimpleNamespace(job_rate_limiter="100/1s"))
    assert no_rate_limit_when_local(local) and local.scheduler.job_rate_limiter is None
    cluster = SimpleNamespace(local_exec=False, scheduler=SimpleNamespace(job_rate_limiter="100/1s"))
    assert not no_rate_limit_when_local(cluster) and cluster.scheduler.job_rate_limiter == "100/1s"
    assert not no_rate_limit_when_local(SimpleNamespace(local_exec=True))  # no scheduler yet / other Snakemake


def test_installed_snakemake_has_the_rate_limiter_attribute():
    """The attribute the switch touches exists in the Snakemake this project declares."""
    from snakemake.scheduling.job_scheduler import JobScheduler
    import inspect

    assert "self.job_rate_limiter" in inspect.getsource(JobScheduler.__init__)


def test_worker_count_never_exceeds_this_machine():
    from joulebench.analysis.workers import worker_count

    assert worker_count(1) == 1 and worker_count(None) == 1 and worker_count(0) == 1
    assert worker_count(10**9) == os.cpu_count()
    assert worker_count(2) == min(2, os.cpu_count())


@pytest.mark.slow
def test_snakemake_reanalyses_only_a_remeasured_cell(tmp_path):
    """Through Snakemake with 2 cores (the worker pool inside its process): a cell captured again
    (new raw files) re-runs its pair only, which analyses that one cell; the summary equals a
    fresh analysis of the same raw tree. A `touch` of a cell.json alone re-runs nothing (Snakemake
    compares the checksum of a newer input)."""
    import re
    import shutil
    import subprocess

    import yaml
    from analysis_scale import MS, T0, write_cell

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg.update(platform="jetson", modes={"15W": {"nvpmodel": 0}, "25W": {"nvpmodel": 1}})
    cfg["sweep"].update(prompt_tokens=[128], gen_tokens=[32, 64], requests=12)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    cells = C.cells(C.validate(cfg))
    for i, cell in enumerate(cells):
        write_cell(P.raw_dir(cell, tmp_path), cell, np.random.default_rng(i), T0 + i * 40_000 * MS, 12, 20)

    def snakemake(wd):
        proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                               "--directory", str(wd), "--configfile", str(wd / "config.yaml"), "--cores", "2",
                               "results/summary.parquet"], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    def analysed(pair):
        text = (tmp_path / P.log_file("parse_split", pair)).read_text()
        return [tuple(map(int, m)) for m in re.findall(r"(\d+) analysed, (\d+) unchanged", text)]

    snakemake(tmp_path)
    assert analysed("15W_llamacpp") == [(2, 0)] and analysed("25W_llamacpp") == [(2, 0)]
    assert "CPU s in the job's own process" in (tmp_path / P.log_file("parse_split", "15W_llamacpp")).read_text()
    (P.raw_dir(cells[0], tmp_path) / "cell.json").touch()
    assert "Nothing to be done" in snakemake(tmp_path)
    # cells[0] (15W, gen 32) measured again: other draws, same format
    shutil.rmtree(P.raw_dir(cells[0], tmp_path))
    write_cell(P.raw_dir(cells[0], tmp_path), cells[0], np.random.default_rng(99), T0, 12, 20)
    snakemake(tmp_path)
    assert analysed("15W_llamacpp") == [(1, 1)] and analysed("25W_llamacpp") == [(2, 0)]  # 25W not re-run
    incremental = pd.read_parquet(tmp_path / "results/summary.parquet")
    # the same raw tree analysed from nothing
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copytree(tmp_path / P.RAW, fresh / P.RAW)
    shutil.copy(tmp_path / "config.yaml", fresh / "config.yaml")
    snakemake(fresh)
    pd.testing.assert_frame_equal(incremental, pd.read_parquet(fresh / "results/summary.parquet"), check_exact=True)
