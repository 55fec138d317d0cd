"""Concurrent request streams with exactly known per-request phase energy (known-answer suite
under overlap). The sensors are simulated as in split/simulate.py; this module makes the load.

Load: N clients in a closed loop (as aiperf --concurrency N): each sends its next request when its
previous one ended plus a think gap; the first N start within 20 ms of each other. Prefill and
decode durations are drawn per request as in the single-stream simulator.

Power model (W, per ms, then the rail's first-order response of time constant tau_ms):

    P(t) = idle_w + [n(t) > 0] * base + n_prefill(t) * prefill_inc + decode_inc * n_decode(t) ** DECODE_BATCH_EXPONENT

with base = BASE_SHARE x (decode_w - idle_w) (the server's static cost while busy), prefill_inc =
prefill_w - idle_w - base and decode_inc = decode_w - idle_w - base, so one request alone draws
prefill_w / decode_w as in the single-stream model; batched decode is sub-linear (k decodes cost
k ** 0.6 times one).

Truth: each ms's energy divided equally among the requests in flight in that ms, counted in each
request's phase (the attribution rule of split/overlap.py), and the steady window's exact energy.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .overlap import steady_window, tokens_between
from .simulate import (MS, SENSOR_PROFILES, T0_NS, Profile, _cum, default_max_rel_ci, phase_errors, rail_response, sample,
                       telemetry_meta)

BASE_SHARE = 0.5
DECODE_BATCH_EXPONENT = 0.6
START_SPREAD_MS = 20


def requests_for(n_slots: int) -> int:
    """Requests per simulated cell: enough that the steady window holds several requests per slot."""
    return max(20, 6 * n_slots)


def concurrent_trace(pf: Profile, concurrency: int):
    """(power per ms, start, first, end (ms), idle_ms, requests in prefill per ms, in decode per ms)."""
    rng = np.random.default_rng([pf.seed, concurrency, 14])
    pre = rng.integers(*pf.prefill_ms, size=pf.n, endpoint=True)
    dec = rng.integers(*pf.decode_ms, size=pf.n, endpoint=True)
    gap = rng.integers(*pf.gap_ms, size=pf.n, endpoint=True)
    idle_ms = int(pf.idle_s * 1000)
    free = list(idle_ms + 500 + rng.integers(0, START_SPREAD_MS, size=concurrency))
    s, f, e = (np.empty(pf.n, dtype=np.int64) for _ in range(3))
    for i in range(pf.n):
        c = int(np.argmin(free))
        s[i] = free[c]
        f[i], e[i] = s[i] + pre[i], s[i] + pre[i] + dec[i]
        free[c] = e[i] + gap[i]
    total = int(e.max()) + 1500
    n_pre, n_dec = np.zeros(total + 1), np.zeros(total + 1)
    np.add.at(n_pre, s, 1), np.add.at(n_pre, f, -1), np.add.at(n_dec, f, 1), np.add.at(n_dec, e, -1)
    n_pre, n_dec = np.cumsum(n_pre)[:total], np.cumsum(n_dec)[:total]
    base = BASE_SHARE * (pf.decode_w - pf.idle_w)
    target = (pf.idle_w + (n_pre + n_dec > 0) * base + n_pre * (pf.prefill_w - pf.idle_w - base)
              + (pf.decode_w - pf.idle_w - base) * n_dec ** DECODE_BATCH_EXPONENT)
    return rail_response(target, pf), s, f, e, idle_ms, n_pre, n_dec


def make_concurrent_cell(out_dir: Path, source: str, pf: Profile, concurrency: int, isl: int = 2048, osl: int = 256):
    """Write a raw cell of N concurrent streams; return (meta, requests, truth)."""
    rng = np.random.default_rng([pf.seed, concurrency, 7])
    p, s, f, e, idle_ms, n_pre, n_dec = concurrent_trace(pf, concurrency)
    cum = _cum(p)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "telemetry.jsonl", "w") as fh:
        for r in sample(source, p, pf, rng):
            fh.write(json.dumps(r) + "\n")
    (out_dir / "telemetry_meta.json").write_text(json.dumps(telemetry_meta(source, pf)))
    ns = lambda ms: T0_NS + np.asarray(ms, dtype=np.int64) * MS  # noqa: E731
    req = pd.DataFrame({"request_idx": range(pf.n), "concurrency": concurrency, "start_ns": ns(s),
                        "ack_ns": pd.array(ns(s + 5), dtype="Int64"), "first_token_ns": pd.array(ns(f), dtype="Int64"),
                        "end_ns": ns(e), "ttft_ms": (f - s).astype(float), "latency_ms": (e - s).astype(float),
                        "itl_ms": (e - f) / (osl - 1.0),
                        "isl": pd.array([isl] * pf.n, dtype="Int64"), "osl": pd.array([osl] * pf.n, dtype="Int64")})
    meta = {"cell": {"concurrency": concurrency}, "telemetry": {"source": source},
            "timestamps": {"telemetry_start_ns": int(T0_NS), "idle_end_ns": int(ns(idle_ms)),
                           "aiperf_start_ns": int(ns(idle_ms)), "aiperf_end_ns": int(ns(e.max() + 100))}}
    n = n_pre + n_dec
    share = np.concatenate([[0.0], np.cumsum(np.where(n > 0, p / np.where(n > 0, n, 1.0), 0.0) * 1e-3)])
    truth = {"per_request_prefill_j": share[f] - share[s], "per_request_decode_j": share[e] - share[f],
             "idle_w": pf.idle_w}
    truth["e_prefill_j"] = float(truth["per_request_prefill_j"].sum())
    truth["e_decode_j"] = float(truth["per_request_decode_j"].sum())
    t0, t1 = steady_window(f.astype(float), e.astype(float), concurrency)
    if t0 is not None and t1 > t0:
        tokens = tokens_between(f, e, np.full(pf.n, float(osl)), t0, t1)
        truth["steady_tok_per_j"] = tokens / float(cum[int(t1)] - cum[int(t0)])
    else:
        truth["steady_tok_per_j"] = np.nan
    return meta, req, truth


def overlap_profile(source: str, seed: int, concurrency: int, prefill_ms=(50, 150), decode_ms=(1000, 2000)) -> Profile:
    """One known-answer cell under overlap: rail time constant 5-20 ms and (NVML) poll drawn from the seed."""
    rng = np.random.default_rng([seed, concurrency, 12])
    extra = dict(SENSOR_PROFILES.get(source, {}))
    if source == "nvml":
        extra["nvml_poll_ms"] = float(rng.choice([10.0, 20.0, 50.0]))
    return Profile(n=requests_for(concurrency), seed=seed, prefill_ms=prefill_ms, decode_ms=decode_ms,
                   tau_ms=float(rng.uniform(5, 20)), **extra)


def known_answer_overlap_case(out_dir: Path, source: str, pf: Profile, concurrency: int) -> dict:
    """Run the real split on one simulated concurrent cell: relative errors of the pooled phase
    figures, the per-request split and the steady-state tok/J against the exact truth."""
    from .cell_energy import split_cell

    meta, req, truth = make_concurrent_cell(out_dir, source, pf, concurrency)
    out_req, row = split_cell(out_dir, meta, req, default_max_rel_ci())
    out = {"source": source, "seed": pf.seed, "concurrency": concurrency, "prefill_ms": pf.prefill_ms,
           "decode_ms": pf.decode_ms, "tau_ms": pf.tau_ms}
    out.update(phase_errors(row, req, truth))
    for ph in ("prefill", "decode"):  # each request's share, not only the pooled sum
        per = out_req[f"e_{ph}_j"].to_numpy(dtype=float) / truth[f"per_request_{ph}_j"] - 1
        out[f"{ph}_per_request_p90_abs_err"] = float(np.nanpercentile(np.abs(per), 90)) if np.isfinite(per).any() else np.nan
    out["steady_err"] = row["steady_tok_per_j"] / truth["steady_tok_per_j"] - 1
    out["steady_rel_unc"] = row["steady_tok_per_j_rel_unc"]
    out["steady_resolved"] = bool(row["steady_resolved"])
    out["steady_method"] = row["steady_method"]
    out["steady_reason"] = row["steady_reason"]
    return out
