"""95 % intervals for every tok/s and tok/J figure: within one trial, and across trials.

Within a trial (one capture of `requests` requests) an interval covers request sampling only:
- tok/s: bootstrap over the trial's requests (B resamples, fixed seed: the same raw data always
  gives the same interval) of the statistic the summary reports, as a relative 1-sigma;
- tok/J: the split's `*_tok_per_j_rel_unc` (request bootstrap plus sensor / estimator terms).
The half-width is q * sigma with q the Student-t quantile on (requests - 1) degrees of freedom:
1.96 for many requests, wider for few (at 5 requests a normal quantile covers ~88 %, not 95 %).

Across N >= 2 trials (separate captures) the centre is the mean of the trial values and the
between-trial interval is aiperf's multi-run one (aiperf/orchestrator/aggregation/confidence.py):
mean +- t(1 - alpha/2, N - 1) * sd(ddof=1) / sqrt(N). The reported half-width is the wider of that
and the pooled within-trial one (q * sqrt(sum sigma_i^2) / N). The trial values already carry their
within-trial noise, so adding both would count it twice; the within part is a floor because two or
three trials can agree by chance (sd near 0) while each is known to be uncertain.
"""
from __future__ import annotations

import math

import numpy as np

LEVEL = 0.95
N_BOOT = 1000
SEED = 12345


def t_quantile(df: float, level: float = LEVEL) -> float:
    """Two-sided Student-t quantile; df = inf gives the normal one (1.96 at 95 %)."""
    from scipy import stats

    if not df >= 1:
        return math.nan
    return float(stats.t.ppf(1 - (1 - level) / 2, df)) if math.isfinite(df) else float(
        stats.norm.ppf(1 - (1 - level) / 2))


def between_trials(values, level: float = LEVEL) -> tuple[float, float, int]:
    """aiperf's multi-run interval: (mean, half-width, n) over the finite values; n < 2 -> NaN width."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan, 0
    if v.size == 1:
        return float(v[0]), math.nan, 1
    return float(v.mean()), t_quantile(v.size - 1, level) * float(v.std(ddof=1)) / math.sqrt(v.size), int(v.size)


# --- within one trial: bootstrap over requests -------------------------------------------------

def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def _median(x, axis=-1):
    return np.percentile(x, 50, axis=axis)  # numpy linear, as aiperf's p50


STATISTICS = {"mean": _mean, "p50": _median}


def bootstrap_rel_sigma(values, statistic: str = "mean", seed: int = SEED, n_boot: int = N_BOOT) -> float:
    """Relative 1-sigma of `statistic` over the finite `values`, bootstrap over them; < 3 -> NaN."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 3:
        return math.nan
    point = STATISTICS[statistic](v)
    if not point:
        return math.nan
    idx = np.random.default_rng(seed).integers(0, v.size, size=(n_boot, v.size))
    return float(np.std(STATISTICS[statistic](v[idx], axis=1), ddof=1) / abs(point))


def bootstrap_ratio_rel_sigma(num, den, seed: int = SEED, n_boot: int = N_BOOT) -> float:
    """Relative 1-sigma of sum(num) / sum(den), bootstrap over request pairs; < 3 -> NaN."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    ok = np.isfinite(num) & np.isfinite(den)
    num, den = num[ok], den[ok]
    if num.size < 3 or den.sum() <= 0 or num.sum() <= 0:
        return math.nan
    idx = np.random.default_rng(seed).integers(0, num.size, size=(n_boot, num.size))
    r = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    return float(np.std(r, ddof=1) / (num.sum() / den.sum()))


# --- one figure over its trials -----------------------------------------------------------------

def pooled(values, rel_sigmas, n_requests, level: float = LEVEL) -> dict:
    """Centre, interval and how it was made for one figure over its trials.

    values / rel_sigmas / n_requests: one entry per trial (NaN where not measured). Returns
    `value`, `lo`, `hi`, `rel_sigma` (pooled within-trial 1-sigma), `n_trials`, `basis`.
    """
    v = np.asarray(values, dtype=float)
    rel = np.asarray(rel_sigmas, dtype=float)
    n = np.asarray(n_requests, dtype=float)
    ok = np.isfinite(v)
    v, rel, n = v[ok], rel[ok], n[ok]
    out = {"value": math.nan, "lo": math.nan, "hi": math.nan, "rel_sigma": math.nan, "n_trials": int(v.size),
           "basis": "not measured"}
    if v.size == 0:
        return out
    centre, between, _ = between_trials(v, level)
    sigma_abs = rel * np.abs(v)
    within_sigma = math.sqrt(float(np.sum(sigma_abs ** 2))) / v.size if np.all(np.isfinite(sigma_abs)) else math.nan
    dof = float(np.sum(n - 1)) if np.all(np.isfinite(n)) else math.nan
    within = t_quantile(dof, level) * within_sigma if math.isfinite(within_sigma) else math.nan
    pooled_rel = float(rel[0]) if v.size == 1 else (within_sigma / abs(centre) if centre else math.nan)
    out.update(value=centre, rel_sigma=pooled_rel)
    if v.size == 1:
        half, basis = within, "within-trial (1 trial)"
    elif not math.isfinite(within):
        half, basis = between, "between-trial t"
    else:
        half = max(between, within)
        basis = "between-trial t" if between >= within else "within-trial (wider than between-trial t)"
    if math.isfinite(half):
        out.update(lo=centre - half, hi=centre + half, basis=basis)
    else:
        out["basis"] = "no interval: one trial and no within-trial uncertainty (< 3 requests?)"
    return out


def rel_half_width(lo: float, hi: float, value: float) -> float:
    if not (math.isfinite(lo) and math.isfinite(hi) and value):
        return math.nan
    return (hi - lo) / 2 / abs(value)
