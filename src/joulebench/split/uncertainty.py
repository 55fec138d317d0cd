"""Uncertainty of the pooled tok/J figures.

Two independent parts, added in quadrature (reported as a relative 1-sigma):
- request-to-request variation: bootstrap over requests of the ratio of sums (fixed seed, so the
  same raw data always gives the same number);
- sensor resolution: each window edge falls at a random point of the sensor's update period, so
  each edge misplaces up to P x T of energy (uniform: sigma = P*T/sqrt(12)); 2N independent edges.
For the phase-conditional estimators the sensor part is the standard error of the phase's power.
Not included: the sensor's calibration/gain error (INA3221 ~1-2 %, NVML +-5 % spec), which is
common to all cells of a device and cancels in comparisons on that device.
"""
from __future__ import annotations

import numpy as np

from ..metrics.intervals import resample_index

B = 1000


def bootstrap_rel(num: np.ndarray, den: np.ndarray, seed: int = 12345) -> float:
    num, den = np.asarray(num, float), np.asarray(den, float)
    n = num.size
    if n < 3 or den.sum() <= 0:
        return np.nan
    idx = resample_index(seed, B, n)
    r = num[idx].sum(1) / den[idx].sum(1)
    return float(np.std(r, ddof=1) / (num.sum() / den.sum()))


def edge_rel(p_w: float, period_s: float, n_windows: int, e_total_j: float) -> float:
    if not (e_total_j > 0) or not np.isfinite(period_s):
        return np.nan
    return float(p_w * period_s / np.sqrt(12) * np.sqrt(2 * n_windows) / e_total_j)


def quad(*rels) -> float:
    vals = [r for r in rels if r is not None and np.isfinite(r)]
    return float(np.sqrt(sum(r * r for r in vals))) if vals else np.nan
