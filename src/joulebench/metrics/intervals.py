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

A confidence interval brackets the true mean; it is not where the next run lands. Run again, the
same config gives an independent estimate with its own error, so the difference of the two has
sqrt(2) times the spread of one: a 95 % CI holds a repeat's value only ~83 % of the time (normal
errors). The re-run interval (`rerun95`) is the prediction interval for an equal-size repeat,
centre +- sqrt(2) x the CI half-width: what a user who captures the cell again should expect.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

LEVEL = 0.95
N_BOOT = 1000
SEED = 12345
RERUN_FACTOR = math.sqrt(2.0)  # a repeat of equal size: var(A - B) = 2 var(A)


def t_quantile(df, level: float = LEVEL):
    """Two-sided Student-t quantile (scalar or array); df = inf gives the normal one (1.96 at 95 %),
    df < 1 gives NaN. scipy.special.stdtrit is what scipy.stats.t.ppf computes (the same values,
    bit for bit), without importing scipy.stats (~1.6 s in every analysis worker)."""
    from scipy.special import stdtrit

    q = stdtrit(np.where(np.asarray(df, dtype=float) >= 1, df, np.nan), 1 - (1 - level) / 2)
    return float(q) if np.ndim(q) == 0 else q


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


def small_sample(n: int) -> float:
    """sqrt(n / (n - 1)): a bootstrap resamples the sample's own (ddof=0) spread, so its sigma of a
    mean is sd * sqrt((n - 1) / n) / sqrt(n), 11 % short at 5 requests; this puts the sd back."""
    return math.sqrt(n / (n - 1))


@functools.lru_cache(maxsize=64)
def resample_index(seed: int, n_boot: int, n: int) -> np.ndarray:
    """The bootstrap's draws for n values: the same for every figure of a cell (and every cell with
    as many requests), so drawn once (read-only)."""
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    idx.flags.writeable = False
    return idx


def bootstrap_rel_sigma(values, statistic: str = "mean", seed: int = SEED, n_boot: int = N_BOOT) -> float:
    """Relative 1-sigma of `statistic` over the finite `values`, bootstrap over them; < 3 -> NaN."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 3:
        return math.nan
    point = STATISTICS[statistic](v)
    if not point:
        return math.nan
    idx = resample_index(seed, n_boot, v.size)
    return float(np.std(STATISTICS[statistic](v[idx], axis=1), ddof=1) / abs(point)) * small_sample(v.size)


def bootstrap_ratio_rel_sigma(num, den, seed: int = SEED, n_boot: int = N_BOOT) -> float:
    """Relative 1-sigma of sum(num) / sum(den), bootstrap over request pairs; < 3 -> NaN."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    ok = np.isfinite(num) & np.isfinite(den)
    num, den = num[ok], den[ok]
    if num.size < 3 or den.sum() <= 0 or num.sum() <= 0:
        return math.nan
    idx = resample_index(seed, n_boot, num.size)
    r = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    return float(np.std(r, ddof=1) / (num.sum() / den.sum())) * small_sample(num.size)


# --- analytic t-intervals (the sequential stopping rule, capture/adaptive.py) ---------------------

def mean_rel_halfwidth(values, level: float = LEVEL) -> float:
    """Relative half-width of the Student-t interval of the mean: t(n-1) * sd / sqrt(n) / mean.
    The efficient interval for a mean (a bootstrap estimates the same sd, with resampling noise,
    and a median's interval is ~25 % wider for near-normal data); < 3 finite values -> NaN."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 3 or not v.mean():
        return math.nan
    return t_quantile(v.size - 1, level) * float(v.std(ddof=1)) / math.sqrt(v.size) / abs(float(v.mean()))


def ratio_rel_halfwidth(num, den, level: float = LEVEL) -> float:
    """Relative half-width of sum(num) / sum(den) by the delta method (ratio estimator):
    se(R) = sd(num - R den) / (sqrt(n) mean(den)), times t(n-1); < 3 finite pairs -> NaN."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    ok = np.isfinite(num) & np.isfinite(den)
    num, den = num[ok], den[ok]
    if num.size < 3 or den.sum() <= 0 or num.sum() <= 0:
        return math.nan
    r = num.sum() / den.sum()
    se = float(np.std(num - r * den, ddof=1)) / math.sqrt(num.size) / float(den.mean())
    return t_quantile(num.size - 1, level) * se / r


# --- one figure over its trials -----------------------------------------------------------------

BASIS = {
    "one": "within-trial (1 trial)",
    "between": "between-trial t",
    "within": "within-trial (wider than between-trial t)",
    "none": "no interval: one trial and no within-trial uncertainty (< 3 requests?)",
    "unmeasured": "not measured",
}


def pooled_groups(keys, values, rel_sigmas, n_requests, level: float = LEVEL) -> pd.DataFrame:
    """Centre, interval and how it was made for one figure, per group of trials (vectorized).

    keys: group label per trial row; values / rel_sigmas / n_requests: per trial (NaN where not
    measured). Returns one row per key: value, lo, hi, rel_sigma (pooled within-trial 1-sigma,
    relative), n_trials, basis, and the re-run interval rerun_lo / rerun_hi.
    """
    v = np.asarray(values, dtype=float)
    rel = np.asarray(rel_sigmas, dtype=float)
    n = np.asarray(n_requests, dtype=float)
    keys = pd.Series(list(keys)) if not isinstance(keys, pd.Series) else keys.reset_index(drop=True)
    ok = np.isfinite(v)
    var = (rel * np.abs(v)) ** 2
    columns = {"v": np.where(ok, v, np.nan), "ok": ok, "var": np.where(ok, var, np.nan),
               "dof": np.where(ok, n - 1, np.nan), "unknown": ok & ~(np.isfinite(var) & np.isfinite(n)),
               "rel": np.where(ok, rel, np.nan)}
    if keys.is_unique:  # one trial per group (the usual sweep): what the group-bys give, without them
        index = pd.Index(keys.tolist(), tupleize_cols=False, name="k")
        # pandas' group sum and mean start a (compensated) sum at 0.0: 0.0 + x, NaN where no value
        count, centre, sd = columns["ok"].astype(np.int64), 0.0 + columns["v"], np.full(len(v), np.nan)
        unknown, var_sum, dof_sum, rel_first = columns["unknown"], 0.0 + columns["var"], 0.0 + columns["dof"], columns["rel"]
    else:
        g = pd.DataFrame({"k": keys, **columns}).groupby("k", sort=False)
        index = g["ok"].sum().index
        count = g["ok"].sum().astype(np.int64).to_numpy()
        centre, sd = g["v"].mean().to_numpy(), g["v"].std(ddof=1).to_numpy()
        unknown = g["unknown"].any().to_numpy()
        var_sum, dof_sum = g["var"].sum(min_count=1).to_numpy(), g["dof"].sum(min_count=1).to_numpy()
        rel_first = g["rel"].first().to_numpy()
    within_sigma = np.where(~unknown, np.sqrt(var_sum), np.nan) / np.where(count > 0, count, np.nan)
    within = t_quantile(np.where(~unknown, dof_sum, np.nan), level) * within_sigma
    between = t_quantile(count - 1, level) * sd / np.sqrt(count)
    half = np.where(count == 1, within, np.where(np.isfinite(within), np.fmax(between, within), between))
    basis = np.select(
        [count == 0, ~np.isfinite(half), count == 1, np.isfinite(within) & (within > between)],
        [BASIS["unmeasured"], BASIS["none"], BASIS["one"], BASIS["within"]], BASIS["between"])
    rel_sigma = np.where(count == 1, rel_first, within_sigma / np.where(centre != 0, np.abs(centre), np.nan))
    return pd.DataFrame({"value": centre, "lo": centre - half, "hi": centre + half,
                         "rerun_lo": centre - RERUN_FACTOR * half, "rerun_hi": centre + RERUN_FACTOR * half,
                         "rel_sigma": rel_sigma, "n_trials": count, "basis": basis}, index=index)


def pooled(values, rel_sigmas, n_requests, level: float = LEVEL) -> dict:
    """pooled_groups for the trials of one figure: a dict of value, lo, hi, rel_sigma, n_trials, basis."""
    out = pooled_groups([0] * len(values), values, rel_sigmas, n_requests, level).iloc[0].to_dict()
    out["n_trials"] = int(out["n_trials"])
    return out
