"""The sensor registry and each sensor's decoder: RAPL ranges in either shape and clear meta errors,
NVML refresh-time estimates and refresh-locked polling, tegrastats late lines, INA3221 settings."""
import json

import numpy as np
import pytest

from joulebench.errors import ParseError
from joulebench.split.cell_energy import split_cell
from joulebench.split.simulate import Profile, make_cell, default_max_rel_ci
from joulebench.split.trace import load
from joulebench.telemetry import SENSORS, headline_rails, sensor
from joulebench.telemetry.nvml import RefreshLock, grid_refine, refresh_times
from joulebench.telemetry.tegrastats import read_times


def test_registry_owns_every_sensor():
    assert list(SENSORS) == ["ina3221", "tegrastats", "nvml", "rapl", "none"]
    assert headline_rails() == ("VDD_IN", "VDD_IN", "gpu0", "package-0")
    assert sensor("tegrastats").interval_key == "tegrastats_interval_ms"
    from joulebench.errors import ConfigError
    with pytest.raises(ConfigError, match="telemetry.source"):
        sensor("bogus")


def _rapl_cell(tmp_path, meta):
    rows = [{"t_ns": 10**18 + i * 10**7, "mono_ns": i * 10**7, "e_uj": {"package-0": v}}
            for i, v in enumerate([900, 990, 20, 60])]
    (tmp_path / "telemetry.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if meta is not None:
        (tmp_path / "telemetry_meta.json").write_text(json.dumps({"source": "rapl", **meta}))
    return tmp_path


@pytest.mark.parametrize("rng", [1000, {"package-0": 1000}, "1000"])
def test_rapl_range_scalar_or_per_rail(tmp_path, rng):
    tr = load(_rapl_cell(tmp_path, {"max_energy_range_uj": rng}), {"telemetry": {"source": "rapl"}})
    assert (tr.rails["package-0"].value * 1e6).round().tolist() == [900, 990, 1020, 1060]


@pytest.mark.parametrize("meta,match", [(None, "telemetry_meta.json: file missing"),
                                        ({}, "key 'max_energy_range_uj' .package-0. missing"),
                                        ({"max_energy_range_uj": "lots"}, "not a number"),
                                        ({"max_energy_range_uj": {"package-0": -5}}, "must be > 0")])
def test_rapl_bad_meta_is_a_clear_error_never_negative_energy(tmp_path, meta, match):
    with pytest.raises(ParseError, match=match):
        load(_rapl_cell(tmp_path, meta), {"telemetry": {"source": "rapl"}})


def test_nvml_refresh_half_poll_correction():
    t = np.array([0, 10, 20, 30, 40, 50]) * 10**6
    e = np.array([1.0, 1.0, 2.0, 2.0, 2.0, 3.0])
    read = np.array([0, 0, 4, 0, 0, 2]) * 10**6
    rt, val, half = refresh_times(t, e, read)
    assert rt.tolist() == [17 * 10**6, 46 * 10**6] and val.tolist() == [2.0, 3.0]  # (10+24)/2, (40+52)/2
    assert half.tolist() == [7e6, 6e6]


def test_grid_refine_uses_the_refresh_clock():
    """Refreshes on a fixed ~100 ms clock seen through 10 ms polls: the common grid pins each
    refresh far tighter than its own poll interval; a clock that jumps is left alone."""
    rng = np.random.default_rng(0)
    true = 5e6 + 100.37e6 * np.arange(40)  # not a multiple of the poll: phases sweep
    poll = np.arange(0, 4.1e9, 10e6) + rng.uniform(0, 1e6, 410)
    hi_idx = np.searchsorted(poll, true)
    lo, hi = poll[hi_idx - 1], poll[hi_idx]
    glo, ghi, best = grid_refine(lo, hi)
    assert np.all((glo <= true) & (true <= ghi)) and np.median(ghi - glo) < 0.7 * np.median(hi - lo)
    assert np.mean(np.abs(best - true)) < 0.6 * np.mean(np.abs((lo + hi) / 2 - true))
    jumped = np.concatenate([lo[:20], lo[20:] + 37e6]), np.concatenate([hi[:20], hi[20:] + 37e6])
    jlo, jhi, _ = grid_refine(*jumped)
    assert np.all(jlo >= jumped[0]) and np.all(jhi <= jumped[1])


def test_refresh_lock_sleeps_between_refreshes():
    """A 100 ms counter, polls taking 4 ms: once locked, every refresh is still seen within one
    fine interval, with far fewer polls than a plain 10 ms loop."""
    lock, t, polls, last_refresh, lags = RefreshLock(0.010), 0.003, 0, -1, []
    period, poll = 0.100, 0.004
    while t < 5.0:
        polls += 1
        cur = int(t // period)
        changed = cur != last_refresh and last_refresh != -1
        if changed and t > 1.0:
            lags.append(t - cur * period)
        last_refresh = cur
        t += poll + lock.next_delay_s(t, t + poll, changed)
    assert lock.meta()["refresh_period_ms_est"] == pytest.approx(100, abs=11)
    assert polls < 0.5 * 5.0 / 0.010 and max(lags) <= 0.010 + 1e-9


def test_tegrastats_late_lines_go_back_on_schedule():
    rng = np.random.default_rng(3)
    read = 10**18 + np.cumsum(500e6 + rng.uniform(0, 2e6, 60)).astype(np.int64)
    arr = read + 1_000_000
    late = [5, 6, 30]
    arr[late] += np.array([120, 80, 60]) * 10**6
    fixed, moved = read_times(arr)
    assert moved == 3
    assert np.all(np.abs(fixed - read - 1_000_000) < 8 * 10**6)


def test_ina3221_decoder_uses_recorded_conversion_window(tmp_path):
    meta, req, truth = make_cell(tmp_path, "ina3221", Profile(prefill_ms=(50, 60), seed=4))
    assert load(tmp_path, meta).rails["VDD_IN"].window_ns == pytest.approx(6.6e6)
    _, row = split_cell(tmp_path, meta, req, default_max_rel_ci())
    assert row["prefill_method"] == "window_integral"
    assert abs(row["e_prefill_j"] / truth["e_prefill_j"] - 1) < 0.01


def test_seed_columns_use_seed_rail_when_captured(tmp_path):
    meta, req, _ = make_cell(tmp_path, "tegrastats", Profile(seed=3))
    meta["settings"] = {"telemetry": {"seed_rail": "VDD_CPU_GPU_CV"}}
    _, row = split_cell(tmp_path, meta, req, default_max_rel_ci())
    _, head = split_cell(tmp_path, {**meta, "settings": {"telemetry": {"seed_rail": "NOPE"}}}, req, default_max_rel_ci())
    assert row["seed_rail"] == "VDD_CPU_GPU_CV" and head["seed_rail"] == "VDD_IN"
    assert row["seed_p_decode_w"] == pytest.approx(0.45 * head["seed_p_decode_w"], rel=0.01)  # rail share 0.45
