"""Load a cell's raw telemetry into clean per-rail series. Pure numpy/pandas: no sensor library.

Cleaning is counted, never silent: out-of-order stamps are sorted, duplicated stamps keep the
first reading, rejected tegrastats lines are counted with their reasons, wall-clock steps
(time.time_ns vs time.monotonic_ns drifting apart) are reported.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..telemetry.base import META_FILE, SAMPLES_FILE, read_samples

CLOCK_STEP_NS = 5_000_000  # >5 ms disagreement between the two clocks = the wall clock stepped


@dataclass
class Rail:
    name: str
    kind: str  # "power" (W at stamps) or "counter" (cumulative J at stamps)
    t_ns: np.ndarray
    value: np.ndarray
    seed_t_ns: np.ndarray | None = None  # power as a seed-style poller would see it (NVML: 1 s avg)
    seed_w: np.ndarray | None = None


@dataclass
class Trace:
    source: str
    rails: dict[str, Rail] = field(default_factory=dict)
    thermal: pd.DataFrame = field(default_factory=pd.DataFrame)
    problems: list[str] = field(default_factory=list)
    rejected_lines: int = 0
    n_samples: int = 0


def _clean(t: np.ndarray, v: np.ndarray, name: str, problems: list[str]):
    ok = np.isfinite(v)
    t, v = t[ok], v[ok]
    if t.size and np.any(np.diff(t) < 0):
        problems.append(f"{name}: {int(np.sum(np.diff(t) < 0))} out-of-order stamps (sorted)")
        o = np.argsort(t, kind="stable")
        t, v = t[o], v[o]
    if t.size:
        keep = np.concatenate([[True], np.diff(t) != 0])
        if not keep.all():
            problems.append(f"{name}: {int((~keep).sum())} duplicated stamps (first kept)")
        t, v = t[keep], v[keep]
    return t, v


def _series(samples, group, key, scale):
    t = np.array([s["t_ns"] for s in samples if (s.get(group) or {}).get(key) is not None], dtype=np.int64)
    v = np.array([s[group][key] for s in samples if (s.get(group) or {}).get(key) is not None], dtype=float)
    return t, v * scale


def unwrap(v: np.ndarray, max_range: float | None) -> np.ndarray:
    """Counter wraparound (RAPL energy_uj resets at max_energy_range_uj)."""
    if v.size < 2 or not max_range:
        return v
    d = np.diff(v)
    d[d < 0] += max_range
    return np.concatenate([[v[0]], v[0] + np.cumsum(d)])


def load(raw_dir: Path, meta: dict | None = None) -> Trace:
    raw_dir = Path(raw_dir)
    tmeta = (meta or {}).get("telemetry") or {}
    child = {}
    if (raw_dir / META_FILE).exists():
        child = json.loads((raw_dir / META_FILE).read_text())
    source = tmeta.get("source") or child.get("source", "none")
    samples, problems = read_samples(raw_dir / SAMPLES_FILE)
    tr = Trace(source=source, problems=list(problems), n_samples=len(samples))
    if samples:
        off = np.array([s["t_ns"] - s.get("mono_ns", s["t_ns"] - 0) for s in samples], dtype=np.int64)
        if "mono_ns" in samples[0] and off.max() - off.min() > CLOCK_STEP_NS:
            tr.problems.append(f"wall clock stepped by {(off.max() - off.min()) / 1e6:.1f} ms during capture")
    loader = {"tegrastats": _tegrastats, "ina3221": _ina3221, "nvml": _nvml, "rapl": _rapl}.get(source)
    if loader and samples:
        loader(tr, samples, child)
    return tr


def _tegrastats(tr, samples, child):
    from ..telemetry.tegrastats import parse_stream

    ok, rej = parse_stream([s.get("line", "") for s in samples])
    tr.rejected_lines = len(rej)
    for reason in sorted({r for _, r in rej}):
        tr.problems.append(f"tegrastats: {sum(1 for _, r in rej if r == reason)} line(s) rejected: {reason}")
    if not ok:
        return
    t = np.array([samples[i]["t_ns"] for i, _ in ok], dtype=np.int64)
    for rail in ok[0][1]["rails_mw"]:
        v = np.array([p["rails_mw"].get(rail, np.nan) for _, p in ok], dtype=float) / 1000.0
        tt, vv = _clean(t, v, rail, tr.problems)
        tr.rails[rail] = Rail(rail, "power", tt, vv, tt, vv)
    th = pd.DataFrame({"t_ns": t,
                       "temp_cpu_c": [p["temps_c"].get("cpu", np.nan) for _, p in ok],
                       "temp_gpu_c": [p["temps_c"].get("gpu", np.nan) for _, p in ok],
                       "temp_tj_c": [p["temps_c"].get("tj", np.nan) for _, p in ok],
                       "gpu_clock_mhz": [p.get("gpu_mhz", np.nan) for _, p in ok]})
    tr.thermal = th.sort_values("t_ns").drop_duplicates("t_ns")


def _ina3221(tr, samples, child):
    rails = sorted({k for s in samples for k in (s.get("p_mw") or {})})
    for rail in rails:
        t, v = _clean(*_series(samples, "p_mw", rail, 1e-3), rail, tr.problems)
        tr.rails[rail] = Rail(rail, "power", t, v, t, v)


def _nvml(tr, samples, child):
    rails = sorted({k for s in samples for k in (s.get("e_mj") or {})} | {k for s in samples for k in (s.get("p_mw") or {})})
    for rail in rails:
        te, e = _clean(*_series(samples, "e_mj", rail, 1e-3), rail, tr.problems)
        ta, pa = _clean(*_series(samples, "p_avg_mw", rail, 1e-3), rail + " (avg power)", [])
        if te.size >= 2:
            tr.rails[rail] = Rail(rail, "counter", te, e, ta, pa)
        else:  # no counter on this GPU: fall back to the instantaneous power field
            tp, p = _clean(*_series(samples, "p_mw", rail, 1e-3), rail, tr.problems)
            tr.problems.append(f"{rail}: no energy counter, integrating instantaneous power")
            tr.rails[rail] = Rail(rail, "power", tp, p, ta, pa)
    if rails:
        r0 = rails[0]
        t = np.array([s["t_ns"] for s in samples], dtype=np.int64)
        g = lambda grp: [float((s.get(grp) or {}).get(r0)) if (s.get(grp) or {}).get(r0) is not None else np.nan for s in samples]
        th = pd.DataFrame({"t_ns": t, "temp_gpu_c": g("temp_c"), "gpu_clock_mhz": g("clk_mhz"),
                           "throttle": g("throttle")})
        tr.thermal = th.sort_values("t_ns").drop_duplicates("t_ns")


def _rapl(tr, samples, child):
    ranges = child.get("max_energy_range_uj") or {}
    for rail in sorted({k for s in samples for k in (s.get("e_uj") or {})}):
        t, v = _clean(*_series(samples, "e_uj", rail, 1.0), rail, tr.problems)
        e = unwrap(v, ranges.get(rail)) * 1e-6
        tr.rails[rail] = Rail(rail, "counter", t, e)
