"""Trials on the real pipeline (llama-server, aiperf 0.13, the real GGUF, block capture): each trial
is its own aiperf run on its own server process, trial 2 runs its cells in reverse order, per-trial rows are kept and the
summary row pools them with 95 % intervals."""
import json

import pandas as pd
import pytest
import yaml

from test_integration_pipeline import REPO, free_port, snakemake

pytestmark = pytest.mark.integration

GEN = (8, 16)
REQUESTS = 3


def captured_pair(wd, top=None, **sweep):
    """The default config on a free port with these sweep keys (and `top`: top-level keys), its pair
    captured and analysed."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg.update(top or {})
    cfg["backends"]["llamacpp"]["port"] = free_port()
    cfg["sweep"].update(prompt_tokens=[32], warmup_requests=1, **sweep)
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(wd, "--cores", "1", "results/default/llamacpp/")
    return wd


@pytest.fixture(scope="module")
def trials_dir(tmp_path_factory):  # the default config captures in blocks
    return captured_pair(tmp_path_factory.mktemp("trials"), gen_tokens=list(GEN), requests=REQUESTS, trials=2)


def test_each_trial_is_its_own_run_in_alternating_order(trials_dir):
    model_dir = trials_dir / "results/raw/default/llamacpp/gemma3-270m"
    assert sorted(p.parent.name for p in model_dir.glob("ctx*/cell.json")) == [
        "ctx32_gen16", "ctx32_gen16_t2", "ctx32_gen8", "ctx32_gen8_t2"]
    metas = {p.parent.name: json.loads(p.read_text()) for p in model_dir.glob("ctx*/cell.json")}
    assert len(list(model_dir.glob("block-*"))) == 2
    assert metas["ctx32_gen8"]["block"]["id"] == metas["ctx32_gen16"]["block"]["id"]
    assert metas["ctx32_gen8"]["block"]["id"] != metas["ctx32_gen8_t2"]["block"]["id"]
    assert metas["ctx32_gen8_t2"]["cell"]["trial"] == 2
    # ABBA: trial 1 runs gen 8 then 16, trial 2 runs 16 then 8
    assert (metas["ctx32_gen8"]["block"]["position"], metas["ctx32_gen16"]["block"]["position"]) == (0, 1)
    assert (metas["ctx32_gen16_t2"]["block"]["position"], metas["ctx32_gen8_t2"]["block"]["position"]) == (0, 1)
    t1 = metas["ctx32_gen8"]["timestamps"]["aiperf_start_ns"]
    t2 = metas["ctx32_gen8_t2"]["timestamps"]["aiperf_start_ns"]
    assert t1 != t2
    # each trial has its own llama-server process (capture.trial_server: per_trial, the default)
    srv = {name: m["trial_server"] for name, m in metas.items()}
    assert {s["policy"] for s in srv.values()} == {"per_trial"}
    assert srv["ctx32_gen8"]["server_pid"] == srv["ctx32_gen16"]["server_pid"]  # one block, one server
    assert srv["ctx32_gen8"]["server_pid"] != srv["ctx32_gen8_t2"]["server_pid"]
    assert srv["ctx32_gen8"]["server_started_ns"] < t1 < srv["ctx32_gen8_t2"]["server_started_ns"] < t2
    # nothing measured before the load here (no sensor, no cool-down): aiperf started while the
    # server loaded, only once the previous trial's server was gone (steps._claimed)
    for name in ("ctx32_gen8", "ctx32_gen8_t2"):
        assert "--wait-for-model-timeout" in metas[name]["aiperf_argv"]
        assert metas[name]["timestamps"]["aiperf_start_ns"] < metas[name]["timestamps"]["idle_end_ns"]
    assert srv["ctx32_gen8_t2"]["fresh_for_trial"] and metas["ctx32_gen8_t2"]["backend"]["server_reused"] is False


def test_per_trial_rows_and_pooled_row_with_intervals(trials_dir):
    pair = trials_dir / "results/default/llamacpp"
    req = pd.read_parquet(pair / "requests.parquet")
    assert req.groupby(["gen", "trial"]).size().to_dict() == {(g, t): REQUESTS for g in GEN for t in (1, 2)}
    assert (req["osl"].astype(int) == req["gen"]).all()
    trials = pd.read_parquet(pair / "trials.parquet")
    assert sorted(zip(trials["gen"], trials["trial"])) == [(g, t) for g in GEN for t in (1, 2)]
    s = pd.read_parquet(pair / "summary.parquet")
    assert len(s) == 2 and (s["n_trials"] == 2).all() and (s["n_requests"] == 2 * REQUESTS).all()
    for _, row in s.iterrows():
        mine = trials[trials["gen"] == row["gen"]]
        for fig in ("output_tok_s_per_user_avg", "output_tok_s_per_user_p50", "prefill_tok_s_per_user_avg",
                    "output_token_throughput_tok_s"):
            assert row[fig] == pytest.approx(mine[fig].mean()), fig
            assert row[f"{fig}_ci95_lo"] < row[fig] < row[f"{fig}_ci95_hi"], fig
        # no power sensor here: tok/J not measured, no interval claimed, the reason kept
        assert pd.isna(row["decode_tok_per_j"]) and pd.isna(row["decode_tok_per_j_ci95_lo"])
        assert row["energy_reason"] == "no power sensor"


@pytest.fixture(scope="module")
def auto_dir(tmp_path_factory):
    # loose targets: the run must stop at min_requests, well before max_requests
    # a fixed cool-down: aiperf starts only once the server is up (capture/steps.client_beside_server_start)
    return captured_pair(tmp_path_factory.mktemp("auto"), top={"cooldown": {"method": "fixed", "fixed_s": 0.2}},
                         gen_tokens=[8], requests="auto",
                         precision={"tok_s_rel": 0.9, "min_requests": 3, "max_requests": 12})


def test_requests_auto_stops_the_run_early(auto_dir):
    meta = json.loads((auto_dir / "results/raw/default/llamacpp/gemma3-270m/ctx32_gen8/cell.json").read_text())
    stop = meta["adaptive"]
    assert stop["reason"] == "precision reached" and stop["stopped_at_requests"] == 3
    assert "block" not in meta  # auto captures a cell per aiperf run
    assert 3 <= meta["n_requests"] < 12
    assert meta["cooldown"]["method"] == "fixed" and "--wait-for-model-timeout" not in meta["aiperf_argv"]
    assert meta["timestamps"]["aiperf_start_ns"] >= meta["timestamps"]["idle_end_ns"]
    s = pd.read_parquet(auto_dir / "results/default/llamacpp/summary.parquet")
    assert s.loc[0, "n_requests"] == meta["n_requests"] and bool(s.loc[0, "aiperf_cancelled"])
    req = pd.read_parquet(auto_dir / "results/default/llamacpp/requests.parquet")
    assert len(req) == meta["n_requests"] and req["error"].isna().all()
    assert (req["osl"].astype(int) == 8).all()
