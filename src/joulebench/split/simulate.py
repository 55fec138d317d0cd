"""Synthetic cells with exactly known energy per window, for the known-answer tests.

The truth is a power trace on a 1 ms grid (piecewise constant per ms, so window integrals on ms
edges are exact). It is then "measured" the way each real sensor measures: tegrastats (500 ms
lines, whole-second labels, stamped on arrival), INA3221 (10 ms polls), NVML (energy counter
updated every ~70 ms, polled every 10 ms; 1 s averaged power). The result is a raw cell directory
in the capture format (docs/raw-format.md) plus the requests table aiperf parsing would give.
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
    if pf.tau_ms > 0:  # first-order rail response, exact per 1 ms step
        a = 1 - np.exp(-1.0 / pf.tau_ms)
        p = np.empty_like(target)
        acc = pf.idle_w
        for k, x in enumerate(target):
            acc += a * (x - acc)
            p[k] = acc
    else:
        p = target
    starts = np.array(starts)
    return p, starts, starts + pre, starts + pre + dec, idle_ms


def _cum(p):  # cumulative energy (J) at each integer ms edge
    return np.concatenate([[0.0], np.cumsum(p) * 1e-3])


def _tegra_line(label: str, p_w: float, rng) -> str:
    r = {k: int(round(p_w * s * 1000)) for k, s in RAIL_SHARE.items()}
    return (f"{label} RAM 3645/7620MB (lfb 63x4MB) SWAP 236/3810MB (cached 0MB) "
            f"CPU [11%@1510,9%@1510,8%@1510,12%@1510,10%@1510,9%@1510] GR3D_FREQ 60%@[1020] "
            f"cpu@{50 + rng.random():.3f}C gpu@{48 + rng.random():.3f}C tj@{51 + rng.random():.3f}C "
            + " ".join(f"{k} {v}mW/{v}mW" for k, v in r.items()))


def sample(source: str, p: np.ndarray, pf: Profile, rng, stop_after_ms: int | None = None) -> list[dict]:
    total = p.size
    end = min(total, stop_after_ms) if stop_after_ms else total
    noisy = lambda x: x * (1 + pf.noise * rng.standard_normal())
    recs = []
    if source == "tegrastats":
        tz = time.localtime(T0_NS / 1e9).tm_gmtoff
        for t in np.arange(100, end - 1, 500):
            tr = int(t + rng.integers(0, 5))
            label = time.strftime("%m-%d-%Y %H:%M:%S", time.gmtime(T0_NS / 1e9 + tr / 1000 + tz))
            arr = T0_NS + tr * MS + MS  # the line reaches the reader ~1 ms after the read
            recs.append({"t_ns": arr, "mono_ns": arr - T0_NS, "line": _tegra_line(label, noisy(p[tr]), rng)})
    elif source == "ina3221":
        for t in np.arange(0, end - 1, 10):
            w = noisy(p[t])
            recs.append({"t_ns": T0_NS + int(t) * MS + 200_000, "mono_ns": int(t) * MS,
                         "p_mw": {k: w * s * 1000 for k, s in RAIL_SHARE.items()}})
    elif source == "nvml":
        cum = _cum(p)
        upd = np.cumsum(rng.integers(65, 76, size=total // 60))
        upd = upd[upd < end - 1]
        for t in range(0, end - 1, 10):
            k = np.searchsorted(upd, t, side="right") - 1
            u = int(upd[k]) if k >= 0 else 0
            e_mj = int(cum[u] * 1000)
            avg = float(np.mean(p[max(0, u - 1000):u])) if u > 0 else float(p[0])
            recs.append({"t_ns": T0_NS + t * MS + 300_000, "mono_ns": t * MS, "e_mj": {"gpu0": e_mj},
                         "p_mw": {"gpu0": int(p[u] * 1000)}, "p_avg_mw": {"gpu0": int(avg * 1000)},
                         "clk_mhz": {"gpu0": 1980}, "temp_c": {"gpu0": 40}, "throttle": {"gpu0": 0}})
    return recs


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
    rails = ["gpu0"] if source == "nvml" else list(RAIL_SHARE)
    (out_dir / "telemetry_meta.json").write_text(json.dumps({"source": source, "rails": rails}))
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
