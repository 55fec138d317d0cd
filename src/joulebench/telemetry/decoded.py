"""Analysis-side form of a capture: clean per-rail series. Pure numpy/pandas, no sensor library.

Each sensor module's `decode(trace, samples, meta)` fills a Trace with Rails in one of two shapes:
- `counter`: cumulative energy (J) at the times the sensor produced it (NVML refresh times
  estimated from the polls, RAPL reads);
- `power`: mean power (W) over `[t - window_ns, t]` for each stamp t (INA3221: its conversion
  window; tegrastats: a point reading, window ~ one conversion, sparse).
Cleaning is counted, never silent: out-of-order stamps are sorted, duplicated stamps keep the first
reading (telemetry problems list).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Rail:
    name: str
    kind: str  # "power" (W averaged over [t - window_ns, t]) or "counter" (cumulative J at t)
    t_ns: np.ndarray
    value: np.ndarray
    seed_t_ns: np.ndarray | None = None  # power as a seed-style poller would see it (NVML: 1 s avg)
    seed_w: np.ndarray | None = None
    window_ns: float = 0.0  # power: averaging window ending at each stamp (0: instantaneous)
    sparse: bool = False  # power: readings too far apart to integrate across window edges
    # what split/integrate.py derives from the series (energy curve, period), computed once per
    # rail: a cell's split asks for it ~40 times (read-only arrays: the series never change)
    derived: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass
class Trace:
    source: str
    rails: dict[str, Rail] = field(default_factory=dict)
    thermal: pd.DataFrame = field(default_factory=pd.DataFrame)
    problems: list[str] = field(default_factory=list)
    rejected_lines: int = 0
    n_samples: int = 0


def clean(t: np.ndarray, v: np.ndarray, name: str, problems: list[str], *extra: np.ndarray):
    """Drop non-finite values, sort out-of-order stamps, keep the first of duplicated stamps.
    `extra` arrays (same length, e.g. read durations) follow the same selection."""
    ok = np.isfinite(v)
    t, v, extra = t[ok], v[ok], [x[ok] for x in extra]
    if t.size and np.any(np.diff(t) < 0):
        problems.append(f"{name}: {int(np.sum(np.diff(t) < 0))} out-of-order stamps (sorted)")
        o = np.argsort(t, kind="stable")
        t, v, extra = t[o], v[o], [x[o] for x in extra]
    if t.size:
        keep = np.concatenate([[True], np.diff(t) != 0])
        if not keep.all():
            problems.append(f"{name}: {int((~keep).sum())} duplicated stamps (first kept)")
        t, v, extra = t[keep], v[keep], [x[keep] for x in extra]
    return (t, v, *extra)


def series(samples, group: str, key: str, scale: float):
    """(t_ns, value x scale) of samples[group][key] where present."""
    try:  # every sample has it (the usual capture): two plain passes
        v = [s[group][key] for s in samples]
        if None not in v:
            return np.array([s["t_ns"] for s in samples], dtype=np.int64), np.array(v, dtype=float) * scale
    except (KeyError, TypeError):
        pass
    have = [s for s in samples if (s.get(group) or {}).get(key) is not None]
    t = np.array([s["t_ns"] for s in have], dtype=np.int64)
    v = np.array([s[group][key] for s in have], dtype=float)
    return t, v * scale


def rails_in(samples, *groups: str) -> list[str]:
    names = set()
    for g in groups:
        for s in samples:
            names.update(s.get(g) or ())
    return sorted(names)


def thermal_frame(samples, rail: str, columns: dict[str, str]) -> pd.DataFrame:
    """{column: sample group} of per-rail scalars (NaN where absent), one row per sample."""
    get = lambda s, g: (s.get(g) or {}).get(rail)
    th = pd.DataFrame({"t_ns": np.array([s["t_ns"] for s in samples], dtype=np.int64),
                       **{c: [float(get(s, g)) if get(s, g) is not None else np.nan for s in samples]
                          for c, g in columns.items()}})
    return th.sort_values("t_ns").drop_duplicates("t_ns")
