"""Energy from one rail's samples: a cumulative energy curve E(t) evaluated at window edges, and the
phase-conditional estimators used when windows are too short for the sensor.

- counter rails (NVML, RAPL): E(t) = the counter at the times it was produced (NVML: refresh times
  estimated by its decoder), kept only where it changed, linear between (= the mean power of each
  refresh interval held over that interval).
- power rails (INA3221, tegrastats): each reading is the mean power over [t - window, t]; E(t) is the
  integral of a step function that holds each reading from half-way to its neighbours' window
  centres. A window edge between two readings then takes each side's own power, where a trapezoid
  or a straight line through the cumulative energy would blend them (undercounting a short
  high-power window by up to one reading's worth at each edge).
"""
from __future__ import annotations

import numpy as np

from .trace import Rail


def _once(fn):
    """fn(rail) computed once per rail, kept in rail.derived (read-only arrays)."""
    def cached(rail: Rail):
        if fn.__name__ not in rail.derived:
            value = fn(rail)
            for a in value if isinstance(value, tuple) else ():
                a.flags.writeable = False
            rail.derived[fn.__name__] = value
        return rail.derived[fn.__name__]
    cached.__doc__, cached.__name__ = fn.__doc__, fn.__name__
    return cached


@_once
def curve(rail: Rail) -> tuple[np.ndarray, np.ndarray]:
    t, v = rail.t_ns, rail.value
    if rail.kind == "counter":
        keep = np.concatenate([[True], np.diff(v) != 0])
        keep[-1] = True
        return t[keep], v[keep]
    if t.size < 2:
        return t, np.zeros(t.size)
    c = t - rail.window_ns / 2.0  # the middle of the interval each reading averages
    x = np.concatenate([[c[0]], (c[1:] + c[:-1]) / 2.0, [c[-1]]])
    return x, np.concatenate([[0.0], np.cumsum(v * np.diff(x) / 1e9)])


@_once
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


@_once
def exact_points(rail: Rail) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative energy at the start and end of every reading window (power rails): a window's
    energy is exact (reading x window); a gap between windows takes the mean of its two readings."""
    t, v, w = rail.t_ns.astype(float), rail.value, rail.window_ns
    lo = np.maximum(t - w, np.concatenate([[t[0] - w], t[:-1]]))  # overlapping windows: count once
    gap_w = np.concatenate([[0.0], (v[1:] + v[:-1]) / 2.0])
    gap = (lo - np.concatenate([[lo[0]], t[:-1]])) / 1e9
    win = (t - lo) / 1e9
    x = np.column_stack([lo, t]).ravel()
    y = np.cumsum(np.column_stack([gap_w * gap, v * win]).ravel())
    return x, y


def edge_energy(rail: Rail, s: np.ndarray, after: np.ndarray | None = None) -> np.ndarray:
    """Cumulative energy at window edges s (power rails), edge-aware. From the last exact point
    before s, the power up to s is extrapolated from the readings completed before s (the last
    one, and the line through the last two when both lie after `after`, the previous phase edge),
    never taken from the reading that straddles s: phases change power *at* the edges. The
    straddling reading's energy past s then follows from its exact window."""
    x, y = exact_points(rail)
    s = np.asarray(s, dtype=float)
    t, v, w = rail.t_ns.astype(float), rail.value, rail.window_ns
    i = np.searchsorted(x, s, side="right") - 1
    j = np.searchsorted(t, s, side="right") - 1
    ok = (i >= 0) & (j >= 0) & (s <= x[-1])
    ic, jc = np.clip(i, 0, None), np.clip(j, 0, None)
    p_left = v[jc]
    if after is not None and t.size >= 2:  # a slope from two readings of the same phase (rail lag)
        j2 = np.clip(jc - 1, 0, None)
        same = (jc >= 1) & (t[j2] - w >= np.asarray(after, dtype=float))
        c1, c2 = t[jc] - w / 2, t[j2] - w / 2
        slope = np.where(same & (c1 > c2), (v[jc] - v[j2]) / np.where(c1 > c2, c1 - c2, 1.0), 0.0)
        p_left = p_left + slope * ((x[ic] + s) / 2 - c1)
    return np.where(ok, y[ic] + p_left * (s - x[ic]) / 1e9, np.nan)


def mean_power_between(rail: Rail, a: int, b: int) -> tuple[float, int]:
    """Mean power over [a, b] (idle baseline): counter difference / time, or the power curve integral / time.
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
    t, v = rail.t_ns - rail.window_ns / 2.0, rail.value
    idx = np.concatenate([np.arange(lo, hi) for lo, hi in
                          zip(np.searchsorted(t, a, "left"), np.searchsorted(t, b, "right"))] or [np.array([], int)])
    idx = np.unique(idx.astype(int))
    n = idx.size
    if n == 0:
        return np.nan, np.nan, 0
    p = v[idx]
    se = float(np.std(p, ddof=1) / np.sqrt(n)) if n > 1 else np.nan
    return float(np.mean(p)), se, n


def rail_intervals(rail: Rail, t_lo: float, t_hi: float):
    """(t0, t1, energy J) of the intervals the sensor measured exactly, within [t_lo, t_hi]:
    a counter's refresh-to-refresh increments, or each windowed power reading x its window."""
    if rail.kind == "counter":
        cx, cy = curve(rail)
        m = (cx >= t_lo) & (cx <= t_hi)
        x, y = cx[m], cy[m]
        return x[:-1], x[1:], np.diff(y)
    m = (rail.t_ns - rail.window_ns >= t_lo) & (rail.t_ns <= t_hi)
    t1 = rail.t_ns[m].astype(float)
    return t1 - rail.window_ns, t1, rail.value[m] * rail.window_ns / 1e9


LAG_TAUS_S = (0.0, 0.002, 0.005, 0.01, 0.02, 0.05)  # rail response time constants tried (first order)
_CHUNK = 4096
TILT_MIN_INTERVALS = 2.0
MAX_CONDITION = 1e8  # design matrices worse than this give no standard error (the caller falls back)
TILT_MIN_READINGS = 5  # readings inside a phase's windows before its within-window trend is fitted


def _phase_edges(occ) -> tuple[np.ndarray, np.ndarray]:
    """A phase indicator as steps: edge times (ns) and signs (+1 window start, -1 window end)."""
    x = np.asarray(occ[0], dtype=float)
    return x, np.tile([1.0, -1.0], x.size // 2)


def _response(t: np.ndarray, edges: np.ndarray, signs: np.ndarray, tau: float, integral: bool) -> np.ndarray:
    """The phase indicator seen through a first-order rail response of time constant tau (s): its
    value at t (s), or its integral from the start up to t. Closed form per step, chunked."""
    out = np.empty(t.size)
    for i in range(0, t.size, _CHUNK):
        x = np.maximum(t[i:i + _CHUNK, None] - edges[None, :], 0.0)
        if integral:
            r = x if tau == 0 else x - tau * -np.expm1(-x / tau)
        else:
            r = (x > 0).astype(float) if tau == 0 else -np.expm1(-x / tau)
        out[i:i + _CHUNK] = r @ signs
    return out


def _tilt(t0: np.ndarray, t1: np.ndarray, a: np.ndarray, b: np.ndarray, point: bool) -> np.ndarray:
    """A within-window trend, (t - a) / (b - a) - 1/2 inside each window [a, b] (zero mean over a
    window), at points t1 or integrated over [t0, t1] (s; times in s)."""
    out = np.zeros(t1.size)
    L = np.maximum(b - a, 1e-12)
    for i in range(0, t1.size, _CHUNK):
        x1 = t1[i:i + _CHUNK, None]
        if point:
            inside = (x1 >= a) & (x1 <= b)
            out[i:i + _CHUNK] = np.sum(np.where(inside, (x1 - a) / L - 0.5, 0.0), axis=1)
            continue
        u0, u1 = np.clip(t0[i:i + _CHUNK, None], a, b), np.clip(x1, a, b)
        F = lambda u: (u - a) ** 2 / (2 * L) - 0.5 * u
        out[i:i + _CHUNK] = np.sum(F(u1) - F(u0), axis=1)
    return out


def phase_regression(rail: Rail, occs: dict, windows: dict, t_lo: float, t_hi: float):
    """Energy of each phase's windows from a least-squares fit of per-phase power levels.

    Each exactly measured interval (counter refreshes, INA3221 conversion windows; a sparse point
    reading is an interval of zero length) satisfies dE_k = sum_phase P_phase x (time the phase
    occupies interval k, as the rail sees it). "As the rail sees it": power follows a change of
    phase with a first-order lag tau (regulators, clocks ramping), so the phase indicators are
    passed through that response; tau is picked from LAG_TAUS_S by least residual (tau = 0 is the
    plain time-share regression). The energy of a phase's windows is then the fitted power curve
    integrated over those windows, so energy that lags into the next phase is counted where it
    is drawn, as the truth counts it. An interval straddling an edge constrains both phases.
    A phase whose windows span >= TILT_MIN_INTERVALS of the sensor's intervals (or any phase, under
    sparse readings) also gets a trend column (power drifting through the window, e.g. decode slowing as the context grows): it has
    zero integral over each window, so it changes no phase's energy directly, only keeps a drift
    from being mistaken for lag or for another phase's level.
    `windows`: {phase: (a, b)} the covered windows (ns). Returns ({phase: (E J, SE J)}, n, tau s)."""
    t0, t1, de = rail_intervals(rail, t_lo, t_hi)
    if de.size < 4:
        return {}, 0, np.nan
    point = rail.kind == "power" and rail.window_ns == 0
    if point:  # a point reading is the power at its stamp, not an energy
        t1 = rail.t_ns[(rail.t_ns >= t_lo) & (rail.t_ns <= t_hi)].astype(float)
        de, t0 = rail.value[(rail.t_ns >= t_lo) & (rail.t_ns <= t_hi)], t1
    sec = lambda t: (np.asarray(t, dtype=float) - t_lo) / 1e9
    phases = [ph for ph in occs if np.asarray(occs[ph][0]).size]
    edges = {ph: _phase_edges(occs[ph]) for ph in phases}
    step = float(np.median(t1 - t0)) if not point and t1.size else float(np.median(np.diff(t1))) if t1.size > 1 else 0.0
    tilts = []
    for ph in phases:
        a, b = sec(edges[ph][0][0::2]), sec(edges[ph][0][1::2])
        # sparse readings fall at scattered positions inside the windows: a trend is identifiable
        # across requests even when a window holds less than one reading
        if rail.sparse or (step > 0 and np.median(b - a) * 1e9 >= TILT_MIN_INTERVALS * step):
            col = _tilt(sec(t0), sec(t1), a, b, point)
            # a trend needs readings at several places in the windows: with one or two (a short
            # phase under sparse readings) it and the phase's level are one unknown, and the fit
            # hands that phase an arbitrary level whose lag then leaks into its neighbours' energy
            if np.count_nonzero(col) >= TILT_MIN_READINGS:
                tilts.append(col)
    fits = []
    for tau in LAG_TAUS_S:
        cols = []
        for ph in phases:
            e, sg = sec(edges[ph][0]), edges[ph][1]
            cols.append(_response(sec(t1), e, sg, tau, False) if point else
                        _response(sec(t1), e, sg, tau, True) - _response(sec(t0), e, sg, tau, True))
        busy = np.sum(cols, axis=0)
        cols.append((1.0 - busy) if point else (sec(t1) - sec(t0)) - busy)  # idle: the rest of the time
        X = np.column_stack(cols + tilts)
        coef, *_ = np.linalg.lstsq(X, de, rcond=None)
        fits.append((float(np.sum((de - X @ coef) ** 2)), tau, X, coef))
    dof = max(de.size - len(phases) - 1 - len(tilts), 1)
    rss_min = min(f[0] for f in fits)
    # lags the data cannot tell from the best one (F test, 1 extra parameter, 95 %): their spread
    # of answers is part of the uncertainty, so an unidentifiable lag widens the interval
    plausible = [f for f in fits if f[0] <= rss_min * (1 + 3.84 / dof)]
    rss, tau, X, coef = min(fits, key=lambda f: f[0])
    try:
        if np.linalg.cond(X) > MAX_CONDITION:  # some combination of levels is not pinned by the data
            raise np.linalg.LinAlgError
        cov = rss / dof * np.linalg.inv(X.T @ X)
    except np.linalg.LinAlgError:
        cov = np.full((X.shape[1], X.shape[1]), np.nan)
    out = {}
    for ph, (a, b) in windows.items():
        answers = []
        for _, tau_f, _, coef_f in plausible:
            w = []
            for q in phases:
                e, sg = sec(edges[q][0]), edges[q][1]
                w.append(float(np.sum(_response(sec(b), e, sg, tau_f, True) - _response(sec(a), e, sg, tau_f, True))))
            w.append(float(np.sum(sec(b) - sec(a))) - sum(w))
            w = np.array(w + [0.0] * len(tilts))  # trends integrate to zero over whole windows
            answers.append(float(w @ coef_f))
            if tau_f == tau:
                energy, se = float(w @ coef_f), float(np.sqrt(max(w @ cov @ w, 0.0)))
        spread = (max(answers) - min(answers)) / 2.0
        out[ph] = (energy, float(np.hypot(se, spread)))
    return out, int(de.size), tau
