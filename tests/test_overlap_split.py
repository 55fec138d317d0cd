"""Energy under overlapping requests (split/overlap.py): hand-computed known answers for the
equal-share rule, the steady-state window, the token count inside it, the SLO predicate
(metrics/slo.py) and the energy per good token; what cannot be measured is NaN with a reason."""
import numpy as np
import pandas as pd
import pytest

from joulebench.metrics.slo import good_requests, slo_of
from joulebench.metrics.trials import pool
from joulebench.split.simulate import default_max_rel_ci
from joulebench.split.overlap import good_token_energy, overlap_phase, steady_state, steady_window, tokens_between
from joulebench.telemetry.decoded import Rail

MS = 1_000_000
MAX_REL_CI = default_max_rel_ci()  # energy.max_rel_ci as a config without energy: has it


def counter_rail(power_w, total_ms):
    """A counter refreshed every 1 ms, power given per ms: the exact cumulative energy."""
    t = np.arange(total_ms + 1) * MS
    return Rail("r", "counter", t, np.concatenate([[0.0], np.cumsum(power_w) * 1e-3]))


# A: [0, 1000] ms, first token 100; B: [500, 1500], first token 600; 10 W throughout
A_B = dict(start=np.array([0, 500]) * MS, first=np.array([100, 600]) * MS, end=np.array([1000, 1500]) * MS)


def test_equal_share_by_hand():
    rail = counter_rail(np.full(1600, 10.0), 1600)
    cov = np.array([True, True])
    pre = overlap_phase(rail, A_B["start"], A_B["first"], A_B["end"], cov, np.array([100.0, 100.0]), "prefill", MAX_REL_CI)
    dec = overlap_phase(rail, A_B["start"], A_B["first"], A_B["end"], cov, np.array([50.0, 50.0]), "decode", MAX_REL_CI)
    # A prefill alone 0.1 s; B prefill beside A's decode 0.1 s / 2; A decode 0.4 s alone + 0.5 s / 2;
    # B decode 0.4 s / 2 + 0.5 s alone
    np.testing.assert_allclose(pre["per_request"], [1.0, 0.5], rtol=1e-9)
    np.testing.assert_allclose(dec["per_request"], [6.5, 7.0], rtol=1e-9)
    assert pre["e"] == pytest.approx(1.5) and dec["e"] == pytest.approx(13.5)
    assert pre["t"] == pytest.approx(0.15) and dec["t"] == pytest.approx(1.35)  # share-weighted seconds
    assert pre["e"] + dec["e"] == pytest.approx(10.0 * 1.5)  # busy time x power: nothing lost or doubled
    assert pre["resolved"] and dec["method"] == "counter"


def test_equal_share_follows_power_not_time():
    """Power doubles while both run: the shared segment's energy doubles, split in two."""
    p = np.full(1600, 10.0)
    p[500:1000] = 20.0
    rail = counter_rail(p, 1600)
    cov = np.array([True, True])
    dec = overlap_phase(rail, A_B["start"], A_B["first"], A_B["end"], cov, np.array([50.0, 50.0]), "decode", MAX_REL_CI)
    # A decode: 0.4 s x 10 W + 0.5 s x 20 W / 2; B prefill 500-600 takes half of 2 J; B decode 0.4 x 20 / 2 + 0.5 x 10
    np.testing.assert_allclose(dec["per_request"], [4.0 + 5.0, 4.0 + 5.0], rtol=1e-9)


def test_steady_window_and_tokens_by_hand():
    first = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    end = np.array([100.0, 110.0, 120.0, 130.0, 140.0])
    assert steady_window(first, end, 2) == (20.0, 120.0)  # 2nd first token .. (5 - 2) = 3rd completion
    assert steady_window(first, end, 5) == (None, None)  # not more requests than slots
    # one request, 11 tokens: the first at 0, ten more evenly over (0, 100]: half of them by 50
    assert tokens_between(np.array([0.0]), np.array([100.0]), np.array([11.0]), 0.0, 50.0) == pytest.approx(6.0)
    assert tokens_between(np.array([0.0]), np.array([100.0]), np.array([11.0]), 50.0, 100.0) == pytest.approx(5.0)


def _req(first_ms, end_ms, osl=11):
    n = len(first_ms)
    return pd.DataFrame({"start_ns": (np.array(first_ms) - 5) * MS, "first_token_ns": np.array(first_ms) * MS,
                         "end_ns": np.array(end_ms) * MS, "osl": [osl] * n})


def test_steady_state_known_answer_and_nan_reasons():
    rail = counter_rail(np.full(3000, 8.0), 3000)
    first = np.array([100, 110, 600, 610, 1100, 1110]) * MS
    end = np.array([600, 610, 1100, 1110, 2000, 2010]) * MS
    req = _req(first // MS, end // MS)
    ok = np.ones(6, bool)
    row = steady_state(rail, req, first, end, ok, ok, 2, MAX_REL_CI)
    # window 110 .. 1110 ms (the 2nd first token to the 4th completion): 8 J over 1 s
    assert row["steady_window_s"] == pytest.approx(1.0) and row["steady_e_j"] == pytest.approx(8.0)
    tokens = tokens_between(first, end, np.full(6, 11.0), 110 * MS, 1110 * MS)
    assert row["steady_tok_per_j"] == pytest.approx(tokens / 8.0) and row["steady_resolved"]
    assert row["steady_method"] == "counter" and row["steady_samples"] == 1001 and row["steady_concurrency"] == 2
    empty = steady_state(rail, req, first, end, ok, ok, 6, MAX_REL_CI)
    assert np.isnan(empty["steady_tok_per_j"]) and "no interval where all 6 slot(s) are busy" in empty["steady_reason"]
    slow = Rail("r", "counter", rail.t_ns[::400], rail.value[::400])  # a 400 ms counter: 1 s < 4 periods
    short = steady_state(slow, req, first, end, ok, ok, 2, MAX_REL_CI)
    assert np.isnan(short["steady_tok_per_j"]) and not short["steady_resolved"]
    assert "shorter than 4 sensor periods" in short["steady_reason"]


def test_slo_predicate():
    req = pd.DataFrame({"ttft_ms": [100.0, 300.0, 100.0, np.nan], "itl_ms": [20.0, 20.0, 60.0, 20.0]})
    assert good_requests(req, {"ttft_ms": 200, "itl_ms": 50}).tolist() == [True, False, False, False]
    assert good_requests(req, {"itl_ms": 50}).tolist() == [True, True, False, True]  # unset limit: not checked
    assert good_requests(req, {}) is None
    assert slo_of({"settings": {"slo": {"ttft_ms": 500, "itl_ms": None}}}) == {"ttft_ms": 500.0}


def test_energy_per_good_token():
    req = pd.DataFrame({"e_prefill_j": [1.0, 1.0, 1.0], "e_decode_j": [9.0, 9.0, 9.0], "osl": [100, 100, 100],
                        "ttft_ms": [100.0, 100.0, 900.0], "itl_ms": [10.0, 10.0, 10.0]})
    out = good_token_energy(req, np.ones(3, bool), {"ttft_ms": 500})
    assert out["energy_per_good_token_j"] == pytest.approx(30.0 / 200) and out["good_requests"] == 2
    none = good_token_energy(req, np.ones(3, bool), {})
    assert np.isnan(none["energy_per_good_token_j"]) and "no slo" in none["good_reason"]


def test_steady_gate_reason_goes_to_its_own_column():
    rows = pd.DataFrame({"mode": ["m"] * 2, "backend": ["b"] * 2, "model": ["x"] * 2, "ctx": [1] * 2, "gen": [1] * 2,
                         "trial": [1, 2], "n_requests": [20, 20], "energy_reason": [None, None],
                         "steady_tok_per_j": [10.0, 14.0], "steady_tok_per_j_rel_unc": [0.01, 0.01],
                         "steady_resolved": [True, True], "steady_reason": [None, None]})
    out = pool(rows, ("mode", "backend", "model", "ctx", "gen"), 0.10).iloc[0]
    assert np.isnan(out["steady_tok_per_j"]) and not out["steady_resolved"]
    assert "steady: 95 % interval" in out["steady_reason"] and out["energy_reason"] is None
    assert out["steady_tok_per_j_ci95_lo"] < 10.0 and out["steady_tok_per_j_ci95_hi"] > 14.0


def test_split_cell_under_overlap_end_to_end(tmp_path):
    """A simulated INA3221 cell of 4 concurrent streams through split_cell: the overlap note, share-
    weighted power, every rail split alike, per-request shares summing to the pooled figure."""
    from joulebench.split.cell_energy import split_cell
    from joulebench.split.simulate import RAIL_SHARE
    from joulebench.split.simulate_overlap import make_concurrent_cell, overlap_profile

    meta, req, truth = make_concurrent_cell(tmp_path, "ina3221", overlap_profile("ina3221", 3, 4), 4)
    out, row = split_cell(tmp_path, meta, req, MAX_REL_CI)
    assert "equal shares among the requests in flight" in row["energy_reason"]
    assert row["e_decode_j"] == pytest.approx(truth["e_decode_j"], rel=0.005)
    assert out["e_decode_j"].sum() == pytest.approx(row["e_decode_j"], rel=1e-9)
    s, e = req["start_ns"].to_numpy(), req["end_ns"].to_numpy()
    grid = np.arange(s.min(), e.max(), MS)  # busy time on a 1 ms grid (windows are whole ms)
    busy_s = np.sum(((grid[:, None] >= s) & (grid[:, None] < e)).any(axis=1)) / 1e3
    assert row["p_active_w"] == pytest.approx(row["e_total_j"] / busy_s, rel=1e-6)  # not the sum of overlapping times
    assert row["rail_VDD_SOC_decode_j"] == pytest.approx(RAIL_SHARE["VDD_SOC"] * row["e_decode_j"], rel=0.02)
    assert row["steady_resolved"] and row["steady_concurrency"] == 4 and 0.3 < row["steady_coverage"] < 1
