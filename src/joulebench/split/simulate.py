"""Synthetic cells with exactly known energy per window, for the known-answer tests.

The truth is a power trace on a 1 ms grid (piecewise constant per ms, so window integrals are
exact at any time: the cumulative energy is piecewise linear). It is then "measured" the way each
real sensor measures (telemetry/<sensor>.py describes each model):
- tegrastats: point readings (the INA3221 conversion window, as for INA3221) every `tegra_period_ms` (the print loop drifts a little), whole-second
  labels, stamped on arrival ~1-4 ms later; a share `tegra_late_frac` of lines arrives late;
- INA3221: polls every `poll_ms` (+ jitter); a reading is the mean power over its conversion
  cycle [t - ina_window_ms, t] (recorded in the meta as hwmon `update_interval`);
- NVML: an energy counter refreshed on a fixed clock (period drawn from `nvml_refresh_ms` per cell,
  +-0.2 ms jitter; an H200 kept one rigid 100.0 ms grid over 120 refreshes), polled every
  `nvml_poll_ms`; a counter read takes `nvml_read_ms` and returns the last refresh before the
  moment it samples; 1 s averaged power for the seed method.
The result is a raw cell directory in the capture format (docs/raw-format.md) plus the requests
table aiperf parsing would give, and the exact energies per window.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

T0_NS = 1_795_526_400_000_000_000  # an epoch-ns origin like aiperf's (2026-11)
MS = 1_000_000
RAIL_SHARE = {"VDD_IN": 1.0, "VDD_CPU_GPU_CV": 0.45, "VDD_SOC": 0.2}
RAPL_RAIL = "package-0"


@dataclass
class Profile:
    n: int = 20
    idle_w: float = 2.0
    prefill_w: float = 9.0
    decode_w: float = 5.6
    prefill_ms: tuple = (250, 350)  # uniform range per request (integer ms)
    decode_ms: tuple = (1500, 2500)
    gap_ms: tuple = (20, 60)
    idle_s: float = 3.0
    shape: str = "steps"  # steps | ramp (decode drifts 0.8x -> 1.2x) | spike (2x for 15 ms at prefill start)
    tau_ms: float = 20.0  # rail response (first-order)
    noise: float = 0.03  # relative, per reading
    seed: int = 1
    poll_ms: float = 10.0  # INA3221 poll interval
    poll_jitter_ms: float = 1.0  # INA3221 poll lateness, uniform [0, x]
    ina_window_ms: float = 6.6  # INA3221 conversion cycle a reading averages over
    tegra_period_ms: float = 500.0
    tegra_late_frac: float = 0.0  # share of tegrastats lines that arrive late
    tegra_late_ms: tuple = (20, 150)
    nvml_refresh_ms: tuple = (65, 76)
    nvml_poll_ms: float = 10.0
    nvml_read_ms: tuple = (0.0, 0.0)  # duration of one counter read (uniform range)
    rapl_poll_ms: float = 50.0  # RAPL energy_uj poll interval (the counter itself updates every ~1 ms)
    rapl_range_uj: int = 2 ** 28  # max_energy_range_uj: small enough that a cell's counter wraps


def truth_trace(pf: Profile):
    rng = np.random.default_rng(pf.seed)
    pre = rng.integers(*pf.prefill_ms, size=pf.n, endpoint=True)
    dec = rng.integers(*pf.decode_ms, size=pf.n, endpoint=True)
    gap = rng.integers(*pf.gap_ms, size=pf.n, endpoint=True)
    idle_ms = int(pf.idle_s * 1000)
    starts, t = [], idle_ms + 500
    for i in range(pf.n):
        starts.append(t)
        t += pre[i] + dec[i] + gap[i]
    total = t + 1500
    target = np.full(total, pf.idle_w)
    for s, p, d in zip(starts, pre, dec):
        target[s:s + p] = pf.prefill_w
        if pf.shape == "spike":
            target[s:s + 15] = 2 * pf.prefill_w
        target[s + p:s + p + d] = pf.decode_w if pf.shape != "ramp" else pf.decode_w * np.linspace(0.8, 1.2, d)
    starts = np.array(starts)
    return rail_response(target, pf), starts, starts + pre, starts + pre + dec, idle_ms


def rail_response(target: np.ndarray, pf: Profile) -> np.ndarray:
    """The power the rail draws for a target level per ms: first-order response of time constant
    tau_ms (exact per 1 ms step), starting from idle."""
    if pf.tau_ms <= 0:
        return target
    a = 1 - np.exp(-1.0 / pf.tau_ms)
    p = np.empty_like(target)
    acc = pf.idle_w
    for k, x in enumerate(target):
        acc += a * (x - acc)
        p[k] = acc
    return p


def _cum(p):  # cumulative energy (J) at each integer ms edge
    return np.concatenate([[0.0], np.cumsum(p) * 1e-3])


def _energy_at(cum, t_ms):
    """Exact cumulative energy (J) at any time (ms, float): piecewise linear between ms edges."""
    t = np.clip(np.asarray(t_ms, dtype=float), 0.0, cum.size - 1.0)
    i = np.minimum(np.floor(t).astype(int), cum.size - 2)
    return cum[i] + (cum[i + 1] - cum[i]) * (t - i)


def _tegra_line(label: str, p_w: float, rng) -> str:
    r = {k: int(round(p_w * s * 1000)) for k, s in RAIL_SHARE.items()}
    return (f"{label} RAM 3645/7620MB (lfb 63x4MB) SWAP 236/3810MB (cached 0MB) "
            f"CPU [11%@1510,9%@1510,8%@1510,12%@1510,10%@1510,9%@1510] GR3D_FREQ 60%@[1020] "
            f"cpu@{50 + rng.random():.3f}C gpu@{48 + rng.random():.3f}C tj@{51 + rng.random():.3f}C "
            + " ".join(f"{k} {v}mW/{v}mW" for k, v in r.items()))


def sample(source: str, p: np.ndarray, pf: Profile, rng, stop_after_ms: int | None = None) -> list[dict]:
    total = p.size
    end = min(total, stop_after_ms) if stop_after_ms else total
    cum = _cum(p)
    noisy = lambda x: x * (1 + pf.noise * rng.standard_normal())
    stamp = lambda t_ms: int(T0_NS + round(t_ms * MS))
    recs = []
    if source == "tegrastats":
        tz = time.localtime(T0_NS / 1e9).tm_gmtoff
        win = pf.ina_window_ms
        t, last_arr = 100.0, 0
        while t < end - 1:
            w = noisy((_energy_at(cum, t) - _energy_at(cum, t - win)) / win * 1e3)
            label = time.strftime("%m-%d-%Y %H:%M:%S", time.gmtime(T0_NS / 1e9 + t / 1000 + tz))
            delay = 1 + 3 * rng.random()  # pipe + reader wake-up
            if rng.random() < pf.tegra_late_frac:
                delay += rng.uniform(*pf.tegra_late_ms)
            arr = max(stamp(t + delay), last_arr + 1000)  # a pipe keeps line order
            last_arr = arr
            recs.append({"t_ns": arr, "mono_ns": arr - T0_NS, "line": _tegra_line(label, w, rng)})
            t += pf.tegra_period_ms + 2 * rng.random()  # sleep(interval) + work: the loop drifts
    elif source == "ina3221":
        win = pf.ina_window_ms
        for t in np.arange(max(win, 1.0), end - 1, pf.poll_ms):
            t = t + pf.poll_jitter_ms * rng.random()
            w = noisy((_energy_at(cum, t) - _energy_at(cum, t - win)) / win * 1e3)
            recs.append({"t_ns": stamp(t), "mono_ns": stamp(t) - T0_NS,
                         "p_mw": {k: w * s * 1000 for k, s in RAIL_SHARE.items()}})
    elif source == "nvml":
        # the driver's refresh clock: a fixed period per device (drawn per cell), +-0.2 ms jitter
        period = rng.uniform(*pf.nvml_refresh_ms)
        upd = rng.uniform(0, period) + period * np.arange(int(total / period) + 2) + rng.uniform(-0.2, 0.2, int(total / period) + 2)
        upd = upd[upd < end - 1]
        t = 0.0
        while t < end - 1:
            read = rng.uniform(*pf.nvml_read_ms)
            seen = t + read * rng.random()  # the moment within the read that samples the counter
            k = np.searchsorted(upd, seen, side="right") - 1
            u = float(upd[k]) if k >= 0 else 0.0
            e_mj = int(_energy_at(cum, u) * 1000)
            iu = int(u)
            avg = float(np.mean(p[max(0, iu - 1000):iu])) if iu > 0 else float(p[0])
            recs.append({"t_ns": stamp(t), "mono_ns": stamp(t) - T0_NS, "e_mj": {"gpu0": e_mj},
                         "e_read_ns": {"gpu0": int(read * MS)},
                         "p_mw": {"gpu0": int(p[iu] * 1000)}, "p_avg_mw": {"gpu0": int(avg * 1000)},
                         "clk_mhz": {"gpu0": 1980}, "temp_c": {"gpu0": 40}, "throttle": {"gpu0": 0}})
            t += max(pf.nvml_poll_ms, read + 0.2)
    elif source == "rapl":
        # energy_uj updates every 1 ms (the value at the last whole ms), wraps at rapl_range_uj
        t = float(pf.poll_jitter_ms * rng.random())
        while t < end - 1:
            e_uj = int(_energy_at(cum, np.floor(t)) * 1e6) % pf.rapl_range_uj
            recs.append({"t_ns": stamp(t), "mono_ns": stamp(t) - T0_NS, "e_uj": {RAPL_RAIL: e_uj}})
            t += pf.rapl_poll_ms + pf.poll_jitter_ms * rng.random()
    return recs


def telemetry_meta(source: str, pf: Profile) -> dict:
    """What the sampler would write beside the samples (telemetry_meta.json)."""
    rails = ["gpu0"] if source == "nvml" else [RAPL_RAIL] if source == "rapl" else list(RAIL_SHARE)
    meta = {"source": source, "rails": rails}
    if source == "rapl":
        meta["max_energy_range_uj"] = {RAPL_RAIL: pf.rapl_range_uj}
    if source in ("ina3221", "tegrastats"):  # tegrastats reads the same chip (its sampler records the cycle)
        meta["update_interval_ms"] = {"hwmon0": pf.ina_window_ms}
    return meta


def make_cell(out_dir: Path, source: str, pf: Profile | None = None, stop_after_ms: int | None = None,
              isl: int = 2048, osl: int = 256):
    """Write a raw cell (telemetry.jsonl + telemetry_meta.json) and return (meta, requests, truth)."""
    pf = pf or Profile()
    rng = np.random.default_rng(pf.seed + 7)
    p, s, f, e, idle_ms = truth_trace(pf)
    cum = _cum(p)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recs = sample(source, p, pf, rng, stop_after_ms)
    with open(out_dir / "telemetry.jsonl", "w") as fh:
        for r in recs:
            fh.write(json.dumps(r) + "\n")
    (out_dir / "telemetry_meta.json").write_text(json.dumps(telemetry_meta(source, pf)))
    ns = lambda ms: T0_NS + np.asarray(ms, dtype=np.int64) * MS
    req = pd.DataFrame({"request_idx": range(pf.n), "start_ns": ns(s), "ack_ns": pd.array(ns(s + 5), dtype="Int64"),
                        "first_token_ns": pd.array(ns(f), dtype="Int64"), "end_ns": ns(e),
                        "ttft_ms": (f - s).astype(float), "latency_ms": (e - s).astype(float),
                        "isl": pd.array([isl] * pf.n, dtype="Int64"), "osl": pd.array([osl] * pf.n, dtype="Int64")})
    meta = {"telemetry": {"source": source},
            "timestamps": {"telemetry_start_ns": int(T0_NS), "idle_end_ns": int(ns(idle_ms)),
                           "aiperf_start_ns": int(ns(idle_ms)), "aiperf_end_ns": int(ns(e[-1] + 100))}}
    scale = 1.0  # headline rail: VDD_IN (share 1.0) or gpu0
    truth = {"e_prefill_j": float(np.sum(cum[f] - cum[s])) * scale, "e_decode_j": float(np.sum(cum[e] - cum[f])) * scale,
             "per_request_prefill_j": (cum[f] - cum[s]) * scale, "per_request_decode_j": (cum[e] - cum[f]) * scale,
             "idle_w": pf.idle_w}
    return meta, req, truth


# Sensor settings the known-answer grid draws from (issue 12): per source, the profile fields that
# make it that sensor, and the scenario ranges every cell draws its own values from.
SENSOR_PROFILES = {
    "ina3221": dict(poll_ms=10.0, poll_jitter_ms=1.0, ina_window_ms=6.6),
    "tegrastats": dict(tegra_period_ms=500.0, tegra_late_frac=0.1),
    "nvml": dict(nvml_refresh_ms=(98, 101), nvml_read_ms=(3.0, 6.0), idle_w=130.0, prefill_w=230.0,
                 decode_w=220.0, gap_ms=(5, 15)),
    "rapl": dict(rapl_poll_ms=50.0, poll_jitter_ms=1.0, idle_w=8.0, prefill_w=45.0, decode_w=30.0),
}


def grid_profile(source: str, seed: int, prefill_ms: tuple, decode_ms: tuple, n: int = 20) -> Profile:
    """One known-answer cell: the rail time constant (5-20 ms), shape, NVML poll (10-50 ms),
    tegrastats' conversion cycle (1.1-13.2 ms) and late-line share (0-20 %) drawn from the seed, so
    a grid over seeds is not tuned to one trace."""
    rng = np.random.default_rng([seed, 12])
    extra = dict(SENSOR_PROFILES.get(source, {}))
    if source == "nvml":
        extra["nvml_poll_ms"] = float(rng.choice([10.0, 20.0, 50.0]))
    if source == "tegrastats":  # the chip's conversion cycle (averaging 1-16) and late lines vary by board
        more = np.random.default_rng([seed, 13])
        extra.update(ina_window_ms=float(more.choice([1.1, 3.3, 6.6, 13.2])), tegra_late_frac=float(more.uniform(0, 0.2)))
    return Profile(n=n, seed=seed, prefill_ms=prefill_ms, decode_ms=decode_ms, tau_ms=float(rng.uniform(5, 20)),
                   shape=("steps", "ramp", "spike")[seed % 3], **extra)


def default_max_rel_ci() -> float:
    """energy.max_rel_ci as a config without an `energy:` section gets it (the schema's default)."""
    from ..config import load_schema

    return float(load_schema()["properties"]["energy"]["properties"]["max_rel_ci"]["default"])


def phase_errors(row: dict, req: pd.DataFrame, truth: dict) -> dict:
    """Per phase, the split's pooled figures against the truth: relative errors of the energy and of
    tok/J, the stated 1-sigma, resolved, method."""
    out = {}
    for ph in ("prefill", "decode"):
        tok = float(req["isl" if ph == "prefill" else "osl"].astype(float).sum())
        out[f"{ph}_energy_err"] = row[f"e_{ph}_j"] / truth[f"e_{ph}_j"] - 1
        out[f"{ph}_tok_per_j_err"] = row[f"{ph}_tok_per_j"] / (tok / truth[f"e_{ph}_j"]) - 1
        out[f"{ph}_rel_unc"] = row[f"{ph}_tok_per_j_rel_unc"]
        out[f"{ph}_resolved"] = bool(row[f"{ph}_resolved"])
        out[f"{ph}_method"] = row[f"{ph}_method"]
    return out


def known_answer_case(out_dir: Path, source: str, pf: Profile, max_rel_ci: float | None = None) -> dict:
    """Run the real split on one simulated cell: relative errors of the pooled figures against the
    exact truth, the stated 1-sigma, resolution and methods. max_rel_ci: energy.max_rel_ci (None:
    the schema's default)."""
    from .cell_energy import split_cell

    meta, req, truth = make_cell(out_dir, source, pf)
    _, row = split_cell(out_dir, meta, req, default_max_rel_ci() if max_rel_ci is None else max_rel_ci)
    out = {"source": source, "seed": pf.seed, "prefill_ms": pf.prefill_ms, "decode_ms": pf.decode_ms,
           "tau_ms": pf.tau_ms, "shape": pf.shape}
    out.update(phase_errors(row, req, truth))
    tot = truth["e_prefill_j"] + truth["e_decode_j"]
    tok = float(req["isl"].astype(float).sum() + req["osl"].astype(float).sum())
    out["total_tok_per_j_err"] = row["total_tok_per_j"] / (tok / tot) - 1
    out["total_rel_unc"] = row["total_tok_per_j_rel_unc"]
    return out
