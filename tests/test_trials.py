"""Cell identity, trial paths and targets, and trials through the real analysis rules.

The analysis test runs parse / split / aggregate through the `snakemake` CLI on a GENERATED raw
tree in the documented raw format (benchmarks/analysis_scale.py writes it; INA3221-style power).
Its trial-1 cell.json files have no `trial` key, as every capture made before trials existed.
"""
import copy
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from joulebench import config as C
from joulebench import paths as P
from joulebench.config import Cell
from joulebench.metrics import intervals as I

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def _cfg(default_config, trials=None):
    cfg = copy.deepcopy(default_config)
    if trials is not None:
        cfg["sweep"]["trials"] = trials
    return C.validate(cfg)


def test_trial_one_has_todays_path_and_k_a_tagged_sibling():
    c1 = Cell("25W", "llamacpp", "m", 128, 32)
    assert c1.trial == 1
    assert P.cell_suffix(c1) == "25W/llamacpp/m/ctx128_gen32"
    assert P.raw_dir(c1) == Path("results/raw/25W/llamacpp/m/ctx128_gen32")
    c3 = Cell("25W", "llamacpp", "m", 128, 32, 3)
    assert P.cell_suffix(c3) == "25W/llamacpp/m/ctx128_gen32_t3"
    assert P.cell_file(P.CELLS, c3, "cell.parquet") == "results/cells/25W/llamacpp/m/ctx128_gen32_t3/cell.parquet"
    assert c3.key == c1.key and c3.block != c1.block


def test_trial_tags_round_trip_and_reject_garbage():
    for k in (1, 2, 10):
        assert P.trial_from_tag(P.trial_tag(k)) == k
    for bad in ("_t1", "_t", "t2", "_t2x", "_2"):
        with pytest.raises(ValueError, match="not a trial tag"):
            P.trial_from_tag(bad)


def test_row_form_and_captures_from_before_trials():
    c = Cell("a", "b", "m", 64, 8, 2)
    assert c.row() == {"mode": "a", "backend": "b", "model": "m", "ctx": 64, "gen": 8, "concurrency": 1, "trial": 2}
    assert Cell.from_row(c.row()) == c
    old = {"mode": "a", "backend": "b", "model": "m", "ctx": "64", "gen": 8}  # cell.json before trials
    assert Cell.from_row(old) == Cell("a", "b", "m", 64, 8, 1)
    assert tuple(c.row()) == Cell.ROW and Cell.ROW[:-1] == Cell.KEY


def test_one_trial_cells_are_todays(default_config):
    cells = C.cells(_cfg(default_config))
    assert [(c.ctx, c.gen, c.trial) for c in cells] == [(128, 32, 1), (128, 64, 1), (512, 32, 1), (512, 64, 1)]
    assert C.wildcard_values(_cfg(default_config))["trial"] == [""]


def test_trials_alternate_direction_abba(default_config):
    cells = C.cells(_cfg(default_config, trials=3))
    points = [(128, 32), (128, 64), (512, 32), (512, 64)]
    assert [(c.ctx, c.gen) for c in cells] == points + points[::-1] + points
    assert [c.trial for c in cells] == [1] * 4 + [2] * 4 + [3] * 4
    # over trials 1 and 2 every cell's mean position in the block is the same (drift cancels)
    pos = {p: [] for p in points}
    for c in cells[:8]:
        pos[(c.ctx, c.gen)].append(cells[:8].index(c) % 4)
    assert {sum(v) for v in pos.values()} == {3}


def test_trials_count_is_not_a_per_capture_setting(default_config):
    one, three = _cfg(default_config), _cfg(default_config, trials=3)
    cell = C.cells(one)[0]
    assert C.cell_settings_hash(one, cell) == C.cell_settings_hash(three, cell)
    assert C.cell_settings_hash(three, dataclasses.replace(cell, trial=2)) != C.cell_settings_hash(three, cell)


class _ExternalServer:
    """A backend joulebench does not start (as Ollama's): stop() does nothing, no managed state."""

    def __init__(self):
        self.stops = 0

    def stop(self):
        self.stops += 1

    def provenance(self):
        return {"kind": "ollama"}


@pytest.mark.parametrize("trials,policy,restarts", [(3, None, 3), (3, "shared", 0), (1, None, 0)])
def test_trial_server_stops_the_server_once_per_trial(tmp_path, default_config, trials, policy, restarts):
    """capture/trial_server.py in capture order (ABBA): a stop before the first cell of each trial,
    none between cells of one trial; `shared` and a single trial never stop it."""
    from joulebench.capture import trial_server

    cfg = _cfg(default_config, trials=trials)
    if policy:
        cfg["capture"] = {**cfg.get("capture", {}), "trial_server": policy}
    backend, stopped_at = _ExternalServer(), []
    for cell in C.cells(cfg):
        if trial_server.before_ensure(cfg, cell, backend, tmp_path):
            stopped_at.append((cell.trial, cell.ctx, cell.gen))
        rec = trial_server.after_ensure(cfg, cell, backend, tmp_path, False)
        assert rec["block"] == list(cell.block) and rec["server_pid"] is None
    assert backend.stops == restarts
    if restarts:  # the first cell of each trial: (128, 32), then the reversed trial's (512, 64), ...
        assert stopped_at == [(1, 128, 32), (2, 512, 64), (3, 128, 32)]
        assert rec["policy"] == "per_trial" and "share one server" in rec["note"]
    else:
        assert rec["policy"] == ("shared" if trials > 1 else "single_trial") and "note" not in rec


def _snakemake(wd, *args, check=True):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(wd),
           "--configfile", str(wd / "config.yaml"), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        pytest.fail(f"snakemake {args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc.stdout + proc.stderr


def _capture_targets(wd, *targets):
    text = _snakemake(wd, "--summary", *targets)
    return sorted(set(re.findall(r"(results/raw/\S+/cell\.json)", text)))


@pytest.mark.parametrize("trials", [1, 2])
def test_dry_run_targets(tmp_path, default_config, trials):
    """trials: 2 lists twice the capture targets; with one trial they are exactly today's paths."""
    cfg = copy.deepcopy(default_config)
    if trials > 1:
        cfg["sweep"]["trials"] = trials
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    text = _snakemake(tmp_path, "-n")
    assert re.search(rf"^capture\s+{4 * trials}$", text, re.M), text[-3000:]
    assert f"{4 * trials} of {4 * trials} cells not captured yet" in text
    targets = _capture_targets(tmp_path)
    today = sorted(f"results/raw/default/llamacpp/gemma3-270m/ctx{c}_gen{g}/cell.json"
                   for c in (128, 512) for g in (32, 64))
    if trials == 1:
        assert targets == today
    else:
        assert targets == sorted(today + [t.replace("/cell.json", "_t2/cell.json") for t in today])
        # the pair target still means every trial of every cell
        assert _capture_targets(tmp_path, "results/default/llamacpp") == targets


@pytest.fixture(scope="module")
def generated_two_trials(tmp_path_factory):
    from analysis_scale import MS, T0, write_cell

    wd = tmp_path_factory.mktemp("trials")
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["platform"] = "jetson"
    cfg["sweep"].update(prompt_tokens=[128], gen_tokens=[32, 64], trials=2)
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    rng = np.random.default_rng(3)
    for i, cell in enumerate(C.cells(C.validate(cfg))):
        d = P.raw_dir(cell, wd)
        write_cell(d, cell, rng, T0 + i * 40_000 * MS, 20, 20)
        if cell.trial > 1:
            meta = json.loads((d / "cell.json").read_text())
            meta["cell"]["trial"] = cell.trial
            (d / "cell.json").write_text(json.dumps(meta))
    _snakemake(wd, "--cores", "1", "results/summary.parquet", "results/default/llamacpp")
    return wd


def test_per_trial_rows_and_requests_carry_the_trial(generated_two_trials):
    res = generated_two_trials / "results"
    trials = pd.read_parquet(res / "trials.parquet")
    assert sorted(zip(trials["gen"], trials["trial"])) == [(32, 1), (32, 2), (64, 1), (64, 2)]
    req = pd.read_parquet(res / "requests.parquet")
    assert req.groupby(["gen", "trial"]).size().to_dict() == {(32, 1): 20, (32, 2): 20, (64, 1): 20, (64, 2): 20}
    pair = pd.read_parquet(res / "default/llamacpp/trials.parquet")
    assert len(pair) == 4


def test_summary_row_pools_trials_with_intervals(generated_two_trials):
    res = generated_two_trials / "results"
    s = pd.read_parquet(res / "summary.parquet")
    t = pd.read_parquet(res / "trials.parquet")
    assert len(s) == 2 and (s["n_trials"] == 2).all() and (s["n_requests"] == 40).all()
    for _, row in s.iterrows():
        mine = t[t["gen"] == row["gen"]]
        for fig in ("output_tok_s_per_user_p50", "output_tok_s_per_user_avg", "prefill_tok_s_per_user_avg",
                    "output_token_throughput_tok_s", "decode_tok_per_j"):
            vals = mine[fig].to_numpy()
            assert row[fig] == pytest.approx(vals.mean()), fig
            # at least as wide as aiperf's between-trial t-interval, never narrower
            _, half, _ = I.between_trials(vals)
            assert row[f"{fig}_ci95_hi"] - row[fig] >= half * (1 - 1e-9), fig
            assert row[f"{fig}_ci95_lo"] <= row[fig] <= row[f"{fig}_ci95_hi"], fig
        # generated power: decode 5.6 W on VDD_IN; both trials' tok/J agree within a few %
        assert row["decode_tok_per_j_ci95_lo"] < row["decode_tok_per_j"] < row["decode_tok_per_j_ci95_hi"]


def test_every_analysis_job_leaves_its_benchmark(generated_two_trials):
    """rules' benchmark: one TSV per job under paths.BENCHMARKS (wall seconds, max RSS, ...)."""
    from joulebench.paths import BENCHMARKS

    bench = generated_two_trials / BENCHMARKS
    for tsv in (bench / "aggregate_all/all.tsv", bench / "aggregate_pair/default_llamacpp.tsv",
                bench / "parse_split_pair/default_llamacpp.tsv"):
        head, row = tsv.read_text().splitlines()[:2]
        assert head.split("\t")[0] == "s" and float(row.split("\t")[0]) > 0, tsv


def test_pooling_leaves_no_warning_in_the_users_terminal(generated_two_trials):
    """The aggregate runs in Snakemake's own process: a pandas warning there reaches the terminal
    (32 "DataFrame is highly fragmented" lines per default sweep before the intervals were added
    in one step)."""
    import warnings

    from joulebench.metrics.rowio import read_table
    from joulebench.metrics.trials import pool

    rows = read_table(generated_two_trials / "results/cells/default/llamacpp/trial_rows.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = pool(rows, Cell.columns(rows), 0.1)
        per_trial = pool(rows, Cell.columns(rows, Cell.ROW), 0.1)
    assert len(summary) == 2 and len(per_trial) == 4
    assert {"decode_tok_per_j_ci95_lo", "decode_tok_per_j_rerun95_hi", "decode_tok_per_j_rel_unc"} <= set(summary)
