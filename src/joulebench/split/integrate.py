"""Energy from one rail's samples: a cumulative energy curve E(t) evaluated at window edges, and the
phase-conditional estimators used when windows are too short for the sensor.

- counter rails (NVML, RAPL): E(t) = the counter itself, kept only where it changed (a 10 ms poll of a
  70 ms counter repeats values; the first poll showing a new value is its best time), linear between.
- power rails (tegrastats, INA3221): E(t) = trapezoid integral of the stamped power samples.
"""
from __future__ import annotations

import numpy as np

from .trace import Rail


def curve(rail: Rail) -> tuple[np.ndarray, np.ndarray]:
    t, v = rail.t_ns, rail.value
    if rail.kind == "counter":
        keep = np.concatenate([[True], np.diff(v) != 0])
        keep[-1] = True
        return t[keep], v[keep]
    if t.size < 2:
        return t, np.zeros(t.size)
    dt = np.diff(t) / 1e9
    return t, np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * dt)])


def period_ns(rail: Rail) -> float:
    """Sensor update period: median spacing of the curve's points (change points for counters)."""
    t, _ = curve(rail)
    return float(np.median(np.diff(t))) if t.size >= 3 else np.nan


def covered(t: np.ndarray, a: np.ndarray, b: np.ndarray, max_gap_ns: float) -> np.ndarray:
    """Window [a, b] is covered when samples bracket it and no gap inside exceeds max_gap_ns
    (a sensor that stopped half-way leaves later windows uncovered)."""
    if t.size < 2:
        return np.zeros(np.shape(a), dtype=bool)
    ia = np.searchsorted(t, a, side="right") - 1
    ib = np.searchsorted(t, b, side="left")
    ok = (ia >= 0) & (ib < t.size)
    gaps = np.diff(t)
    # largest gap between the bracketing samples: cumulative max over a sparse table is overkill here
    out = np.zeros(np.shape(a), dtype=bool)
    for k in np.flatnonzero(ok):
        out[k] = gaps[ia[k]:ib[k]].max(initial=0) <= max_gap_ns
    return out


def window_energy(cx: np.ndarray, cy: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if cx.size < 2:
        return np.full(np.shape(a), np.nan)
    return np.interp(b, cx, cy) - np.interp(a, cx, cy)


def mean_power_between(rail: Rail, a: int, b: int) -> tuple[float, int]:
    """Mean power over [a, b] (idle baseline): counter difference / time, or trapezoid / time.
    NaN unless at least two curve points lie inside (so it is measured, not extrapolated)."""
    cx, cy = curve(rail)
    n = int(np.sum((cx >= a) & (cx <= b)))
    if n < 2 or b <= a:
        return np.nan, n
    inside = (cx >= a) & (cx <= b)
    x, y = cx[inside], cy[inside]
    return float((y[-1] - y[0]) / ((x[-1] - x[0]) / 1e9)), n


def phase_mean_power(rail: Rail, a: np.ndarray, b: np.ndarray):
    """Power samples whose stamp lies in any [a_i, b_i]: (mean W, standard error W, n).
    Used for sparse sensors: mean power of the phase x the phase's total time does not smear
    power across window edges the way integration between 500 ms-apart samples does."""
    t, v = rail.t_ns, rail.value
    idx = np.concatenate([np.arange(lo, hi) for lo, hi in
                          zip(np.searchsorted(t, a, "left"), np.searchsorted(t, b, "right"))] or [np.array([], int)])
    idx = np.unique(idx.astype(int))
    n = idx.size
    if n == 0:
        return np.nan, np.nan, 0
    p = v[idx]
    se = float(np.std(p, ddof=1) / np.sqrt(n)) if n > 1 else np.nan
    return float(np.mean(p)), se, n


def counter_regression(rail: Rail, occs: dict, t_lo: int, t_hi: int):
    """Per-phase mean power from a counter's increments: dE_k = sum_phase P_phase * time_in_phase_k.
    Least squares over the counter's update intervals within [t_lo, t_hi] (windows shorter than the
    update period still constrain P through their share of each interval).
    Returns ({phase: (P, SE)}, n_intervals)."""
    from .windows import time_in

    cx, cy = curve(rail)
    m = (cx >= t_lo) & (cx <= t_hi)
    x, y = cx[m], cy[m]
    if x.size < 4:
        return {}, 0
    t0, t1, de = x[:-1], x[1:], np.diff(y)
    cols = {ph: time_in(o, t0, t1) for ph, o in occs.items()}
    busy = sum(cols.values())
    cols["idle"] = np.maximum((t1 - t0) / 1e9 - busy, 0.0)
    names = [k for k in cols if cols[k].sum() > 0]
    X = np.column_stack([cols[k] for k in names])
    coef, *_ = np.linalg.lstsq(X, de, rcond=None)
    dof = max(len(de) - len(names), 1)
    resid = de - X @ coef
    s2 = float(resid @ resid) / dof
    try:
        cov = s2 * np.linalg.inv(X.T @ X)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        se = np.full(len(names), np.nan)
    return {k: (float(c), float(s)) for k, c, s in zip(names, coef, se)}, len(de)
