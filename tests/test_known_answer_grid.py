"""Known-answer grid over many seeds (issue 12 goals), run through the real split: every cell draws
its own rail time constant (5-20 ms), shape (steps/ramp/spike) and, for NVML, poll interval
(10/20/50 ms); INA3221 readings are conversion-window averages on jittered polls, tegrastats lines
arrive late at times, NVML refreshes on a ~100 ms clock and a read takes 3-6 ms. Each scenario's
grid is simulated once per session and shared; the full grid with tables is
benchmarks/known_answer.py."""
import numpy as np
import pytest

from joulebench.split.simulate import grid_profile, known_answer_case

SEEDS = range(10)
SHORT, MID, LONG = (20, 50), (50, 80), (250, 350)
DEC_SHORT, DEC_LONG = (300, 600), (1500, 2500)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    cache = {}

    def get(source, prefill_ms, decode_ms):
        key = (source, prefill_ms, decode_ms)
        if key not in cache:
            d = tmp_path_factory.mktemp(f"{source}-{prefill_ms[0]}-{decode_ms[0]}")
            cache[key] = [known_answer_case(d / str(s), source, grid_profile(source, s, prefill_ms, decode_ms))
                          for s in SEEDS]
        return cache[key]
    get.cache = cache
    return get


def test_ina3221_prefill_and_decode_within_1pct_at_50ms(grid):
    rows = grid("ina3221", MID, DEC_SHORT)
    pre = np.array([r["prefill_energy_err"] for r in rows])
    dec = np.array([r["decode_energy_err"] for r in rows])
    assert all(r["prefill_resolved"] and r["decode_resolved"] for r in rows)
    assert all(r["prefill_method"] == "window_integral" for r in rows)
    assert abs(pre.mean()) < 0.005 and np.mean(np.abs(pre) < 0.01) >= 0.9, pre
    assert np.all(np.abs(dec) < 0.01), dec


@pytest.mark.parametrize("source,prefill", [("ina3221", SHORT), ("tegrastats", LONG), ("nvml", SHORT)])
def test_decode_tok_per_j_within_3pct_for_long_decode_windows(grid, source, prefill):
    rows = grid(source, prefill, DEC_LONG)
    err = np.array([r["decode_tok_per_j_err"] for r in rows])
    assert all(r["decode_resolved"] for r in rows)
    assert np.all(np.abs(err) < 0.03), err


@pytest.mark.parametrize("source,prefill", [("ina3221", SHORT), ("nvml", SHORT), ("tegrastats", LONG)])
def test_decode_tok_per_j_within_3pct_at_300ms(grid, source, prefill):
    rows = grid(source, prefill, DEC_SHORT)
    err = np.array([r["decode_tok_per_j_err"] for r in rows])
    assert all(r["decode_resolved"] for r in rows)
    assert np.all(np.abs(err) < 0.03), err


def test_tegrastats_prefill_within_10pct_or_flagged(grid):
    rows = grid("tegrastats", LONG, DEC_LONG)
    for r in rows:
        assert (not r["prefill_resolved"] and np.isnan(r["prefill_energy_err"])) or abs(r["prefill_energy_err"]) < 0.10, r
    assert sum(r["prefill_resolved"] for r in rows) >= 4  # flagging is not the only answer
    short = grid("tegrastats", SHORT, DEC_LONG)
    assert not any(r["prefill_resolved"] for r in short)  # 20-50 ms under 500 ms readings: never a number


@pytest.mark.parametrize("source", ["ina3221", "tegrastats", "nvml"])
def test_rel_unc_is_calibrated(grid, source):
    """+-1.96 rel_unc around each resolved estimate contains the truth in >= 90 % of phases, over
    every scenario this module simulated for the source (and one more with short decodes)."""
    grid(source, LONG if source == "tegrastats" else SHORT, DEC_SHORT)
    rows = [r for (src, _, _), rs in grid.cache.items() if src == source for r in rs]
    hits = []
    for r in rows:
        for ph in ("prefill", "decode"):
            if r[f"{ph}_resolved"]:
                hits.append(abs(r[f"{ph}_tok_per_j_err"]) <= 1.96 * r[f"{ph}_rel_unc"])
        if np.isfinite(r["total_rel_unc"]):
            hits.append(abs(r["total_tok_per_j_err"]) <= 1.96 * r["total_rel_unc"])
    assert len(hits) >= 20 and np.mean(hits) >= 0.9, hits


def test_sensor_gate_follows_energy_max_rel_ci(tmp_path):
    """The split reads energy.max_rel_ci (passed by the split rule), not a constant of its own: an
    NVML prefill of 20-50 ms the counter pins to +-20 % is unresolved at 0.10, reported at 0.25."""
    from joulebench.split.cell_energy import split_cell
    from joulebench.split.simulate import make_cell

    meta, req, truth = make_cell(tmp_path, "nvml", grid_profile("nvml", 5, SHORT, DEC_SHORT))
    _, strict = split_cell(tmp_path, meta, req, 0.10)
    _, loose = split_cell(tmp_path, meta, req, 0.25)
    assert not strict["prefill_resolved"] and np.isnan(strict["prefill_tok_per_j"])
    assert "95 % sensor interval +-20% > 10%" in strict["energy_reason"]
    assert loose["prefill_resolved"] and loose["prefill_method"] == "counter_regression"
    assert abs(loose["e_prefill_j"] / truth["e_prefill_j"] - 1) < 0.25
    assert strict["decode_tok_per_j"] == loose["decode_tok_per_j"]  # a resolved phase is untouched
