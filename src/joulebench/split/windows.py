"""Request windows and phase occupancy. prefill = [start, first_token], decode = [first_token, end],
idle = outside every request window. first_token = start + TTFT (not aiperf's request_ack_ns)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def request_windows(req: pd.DataFrame):
    """(start, first, end) int64 arrays and a validity mask (first token known and ordered)."""
    start = req["start_ns"].to_numpy(dtype=np.int64)
    end = req["end_ns"].to_numpy(dtype=np.int64)
    ft = pd.array(req["first_token_ns"], dtype="Int64")
    valid = ~np.asarray(ft.isna())
    first = np.where(valid, ft.fillna(0).to_numpy(dtype=np.int64), start)
    valid &= (start <= first) & (first <= end)
    return start, first, end, valid


def occupancy(a: np.ndarray, b: np.ndarray):
    """C(t): total time (ns) inside the windows [a_i, b_i] before t, as a piecewise-linear function
    (x, y) for np.interp. Overlapping windows are merged first."""
    o = np.argsort(a)
    a, b = a[o].astype(float), b[o].astype(float)
    xs, ys, acc, cur_a, cur_b = [], [], 0.0, None, None
    for lo, hi in zip(a, b):
        if cur_b is not None and lo <= cur_b:
            cur_b = max(cur_b, hi)
            continue
        if cur_b is not None:
            xs += [cur_a, cur_b]; ys += [acc, acc + cur_b - cur_a]; acc += cur_b - cur_a
        cur_a, cur_b = lo, hi
    if cur_b is not None:
        xs += [cur_a, cur_b]; ys += [acc, acc + cur_b - cur_a]
    return np.array(xs), np.array(ys)


def time_in(occ, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """Seconds of [t0, t1] spent inside the windows described by `occ`."""
    x, y = occ
    if x.size == 0:
        return np.zeros(np.shape(t0))
    return (np.interp(t1, x, y) - np.interp(t0, x, y)) / 1e9


def count_in(t: np.ndarray, a: np.ndarray, b: np.ndarray, closed_left=True) -> np.ndarray:
    """Samples with a <= t <= b (or a < t <= b) per window."""
    lo = np.searchsorted(t, a, side="left" if closed_left else "right")
    return np.searchsorted(t, b, side="right") - lo


def overlapping(start: np.ndarray, end: np.ndarray) -> bool:
    o = np.argsort(start)
    return bool(np.any(start[o][1:] < end[o][:-1]))
