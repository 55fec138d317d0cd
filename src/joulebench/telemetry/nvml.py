"""NVIDIA GPUs through NVML (nvidia-ml-py). pynvml is imported lazily: only the capture needs it.

Per GPU: the cumulative energy counter (mJ: the source of energy), the instantaneous power field,
the ~1 s averaged nvmlDeviceGetPowerUsage (kept to show what the seed's method would see), clocks,
temperature, power limit, clock-event reasons.

Sensor model: the driver refreshes the energy counter on its own clock (H100 ~70 ms, H200 100 ms)
and a poll returns the last refreshed value. A refresh happened after the previous poll and before
the read that first shows it ended, so `decode` places it inside that interval (half-poll
correction; each sample records how long its counter read took, `e_read_ns`), narrowed by the
refresh clock's regularity where it holds (`grid_refine`). Polling faster than
the refresh only re-reads the same value (and one read costs 3-6 ms on a virtualised H200), so the
sampler locks onto the refresh: once the period is known it sleeps until shortly before the next
expected refresh and polls at `interval_ms` only around it (meta `polling`).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .base import Sensor, Source, stamp
from .decoded import Rail, clean, rails_in, series, thermal_frame

FI_POWER_INSTANT = 186  # NVML_FI_DEV_POWER_INSTANT, used if the binding lacks the constant
THROTTLE_MASK = 0x4 | 0x8 | 0x40 | 0x80 | 0x100  # sw power cap, hw slowdown, sw/hw thermal, power brake
FULL_READ_S = 0.05  # power/clock/temperature fields at most this often (20 Hz); the counter every poll
LEARN_CHANGES = 6  # counter changes seen at the fine interval before the refresh period is trusted


def readable(root: str | None = None) -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        n = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
        return n > 0
    except Exception:
        return False


class RefreshLock:
    """Poll schedule locked onto a counter's refresh period: fine polls only near the next refresh.

    After every poll, `next_delay_s(started, now, changed)` (monotonic seconds: when the poll began,
    now, whether the counter changed) answers how long to sleep. Until LEARN_CHANGES changes have
    been seen it polls every fine interval; afterwards it sleeps until `guard` before the next
    expected refresh and polls finely until the change shows (a missed refresh: learn again). The
    guard covers where in the last fine interval the refresh fell, the period's jitter and the
    time a poll itself takes (3-15 ms measured on an H200)."""

    def __init__(self, fine_s: float):
        self.fine_s, self.changes, self.period_s, self.poll_s = fine_s, [], None, 0.0

    def guard_s(self) -> float:
        return self.fine_s + 0.05 * (self.period_s or 0.0) + self.poll_s

    def next_delay_s(self, started: float, now: float, changed: bool) -> float:
        self.poll_s = 0.9 * self.poll_s + 0.1 * (now - started) if self.poll_s else now - started
        fine = max(self.fine_s - (now - started), 0.0)  # a fixed schedule while polling finely
        if changed:
            self.changes = (self.changes + [started])[-LEARN_CHANGES:]
            if len(self.changes) == LEARN_CHANGES:
                self.period_s = float(np.median(np.diff(self.changes)))
        if self.period_s is None or self.period_s <= 3 * self.fine_s + self.guard_s():
            return fine  # learning, or a counter too fast for locking to save anything
        if now - self.changes[-1] > 2 * self.period_s:  # lost the lock (refresh missed): learn again
            self.changes, self.period_s = [], None
            return fine
        return max(self.changes[-1] + self.period_s - self.guard_s() - now, 0.0) if changed else fine

    def meta(self) -> dict:
        return {"mode": "refresh-locked", "fine_interval_ms": self.fine_s * 1e3,
                "refresh_period_ms_est": None if self.period_s is None else self.period_s * 1e3,
                "guard_ms": self.guard_s() * 1e3, "poll_ms": self.poll_s * 1e3}


class NvmlSource(Source):
    name = "nvml"

    def __init__(self, interval_ms: int, root: str | None = None, indices=None):
        super().__init__(interval_ms)
        import pynvml

        self.nv = pynvml
        pynvml.nvmlInit()
        n = pynvml.nvmlDeviceGetCount()
        self.idx = list(indices) if indices is not None else list(range(n))
        self.h = {f"gpu{i}": pynvml.nvmlDeviceGetHandleByIndex(i) for i in self.idx}
        self.fi = getattr(pynvml, "NVML_FI_DEV_POWER_INSTANT", FI_POWER_INSTANT)
        self.lock = RefreshLock(self.interval_ms / 1000.0)

    def _try(self, fn, *a):
        try:
            return fn(*a)
        except Exception:  # NVMLError_NotSupported etc.: recorded as missing, never fatal
            return None

    def meta(self) -> dict:
        nv, out = self.nv, {}
        for k, h in self.h.items():
            out[k] = {"name": self._try(nv.nvmlDeviceGetName, h),
                      "power_limit_mw": self._try(nv.nvmlDeviceGetEnforcedPowerLimit, h),
                      "uuid": self._try(nv.nvmlDeviceGetUUID, h)}
        return {"rails": sorted(self.h), "devices": out, "driver": self._try(nv.nvmlSystemGetDriverVersion),
                "polling": self.lock.meta(),
                "units": {"e_mj": "mJ (cumulative since driver load)", "e_read_ns": "ns (duration of the counter read)",
                          "p_mw": "mW instant", "p_avg_mw": "mW ~1 s average", "clk_mhz": "MHz", "temp_c": "C"}}

    def read(self, full: bool = True) -> dict:
        """One poll: the energy counters, and with `full` the power, clock, temperature and
        clock-event fields (each NVML call costs ms: the fine polls around a refresh skip them)."""
        nv, st = self.nv, stamp()
        rec = {**st, "e_mj": {}, "e_read_ns": {}}
        for k, h in self.h.items():  # the counters first: their read time bounds the refresh time
            t0 = time.monotonic_ns()
            rec["e_mj"][k] = self._try(nv.nvmlDeviceGetTotalEnergyConsumption, h)
            rec["e_read_ns"][k] = time.monotonic_ns() - t0
        if not full:
            return rec
        rec.update({"p_mw": {}, "p_avg_mw": {}, "clk_mhz": {}, "temp_c": {}, "throttle": {}})
        for k, h in self.h.items():
            fv = self._try(nv.nvmlDeviceGetFieldValues, h, [self.fi])
            if fv and getattr(fv[0], "nvmlReturn", 1) == 0:
                rec["p_mw"][k] = fv[0].value.uiVal
            rec["p_avg_mw"][k] = self._try(nv.nvmlDeviceGetPowerUsage, h)
            rec["clk_mhz"][k] = self._try(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM)
            rec["temp_c"][k] = self._try(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU)
            rec["throttle"][k] = self._try(nv.nvmlDeviceGetCurrentClocksEventReasons, h) \
                if hasattr(nv, "nvmlDeviceGetCurrentClocksEventReasons") else \
                self._try(nv.nvmlDeviceGetCurrentClocksThrottleReasons, h)
        return rec

    def samples(self, should_stop):
        first, last, last_full = next(iter(self.h), None), None, -1.0
        while not should_stop():
            started = time.monotonic()
            full = started - last_full >= FULL_READ_S
            last_full = started if full else last_full
            try:
                rec = self.read(full)
            except Exception as exc:  # a failed read is recorded, not fatal
                if len(self.errors) < 50:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(self.lock.fine_s)
                continue
            yield rec
            val = rec["e_mj"].get(first)
            changed = last is not None and val is not None and val != last
            last = val if val is not None else last
            time.sleep(self.lock.next_delay_s(started, time.monotonic(), changed))

    def close(self) -> None:
        try:
            self.nv.nvmlShutdown()
        except Exception:
            pass


def refresh_times(t: np.ndarray, e: np.ndarray, read_ns: np.ndarray):
    """(refresh time estimates, values, half-widths): one point per new counter value. The refresh
    that produced it happened after the previous poll began and before the read that first shows
    it ended: that interval is the half-poll correction. Where the refreshes keep a fixed clock
    (measured on an H200: 100.0 ms, one rigid grid over 120 refreshes), `grid_refine` narrows
    each interval to what all of them allow together. The first value (refreshed at an unknown
    time before the first poll) is dropped."""
    new = np.flatnonzero(np.diff(e) != 0) + 1
    lo, hi = t[new - 1].astype(float), (t[new] + read_ns[new]).astype(float)
    lo, hi, best = grid_refine(lo, hi)
    return best.astype(np.int64), e[new], (hi - lo) / 2.0


MIN_GRID_REFRESHES = 8
MAX_GRID_REFRESHES = 256  # one clock fit per ~25 s: slow drift between fits is allowed
GRID_SLOPES = 401


def grid_refine(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi, best) for intervals (lo, hi] each holding one refresh. Where one fixed period fits
    them all (some line r_k = c + s k passes through every interval), each refresh is narrowed to
    the range of r_k over every such line (slopes scanned around the midpoints' fit) and `best` is
    the line with the most slack, centred (else the midpoints); where none fits, the
    run is halved and each half tried, down to MIN_GRID_REFRESHES, below which the intervals stay
    as they are. Never widens an interval, and keeps the truth inside whenever the clock is fixed."""
    lo, hi = np.asarray(lo, float).copy(), np.asarray(hi, float).copy()
    if lo.size < MIN_GRID_REFRESHES:
        return lo, hi, (lo + hi) / 2
    if lo.size > MAX_GRID_REFRESHES:
        return _halves(lo, hi)
    mid = (lo + hi) / 2
    period = float(np.median(np.diff(mid)))
    k = np.round((mid - mid[0]) / period) if period > 0 else np.zeros(1)
    if not period > 0 or np.any(np.diff(k) < 1):  # two refreshes in one period: not a fixed clock
        return lo, hi, (lo + hi) / 2
    slope = np.polyfit(k, mid, 1)[0]
    span = 2.0 * float(np.median(hi - lo)) / max(k[-1], 1.0)
    slopes = slope + np.linspace(-span, span, GRID_SLOPES)[:, None]
    a = np.max(lo - slopes * k, axis=1)  # per slope: the intercepts that pass through every interval
    b = np.min(hi - slopes * k, axis=1)
    ok = a <= b
    if not ok.any():
        return _halves(lo, hi)
    new_lo = np.min(slopes[ok] * k + a[ok, None], axis=0)
    new_hi = np.max(slopes[ok] * k + b[ok, None], axis=0)
    i = int(np.argmax(np.where(ok, b - a, -np.inf)))
    best = slopes[i, 0] * k + (a[i] + b[i]) / 2
    return np.maximum(lo, new_lo), np.minimum(hi, new_hi), best


def _halves(lo, hi):
    half = lo.size // 2
    parts = [grid_refine(lo[:half], hi[:half]), grid_refine(lo[half:], hi[half:])]
    return tuple(np.concatenate([p[j] for p in parts]) for j in range(3))


def decode(tr, samples, meta: dict, meta_path: Path) -> None:
    rails = rails_in(samples, "e_mj", "p_mw")
    for rail in rails:
        have = [s for s in samples if (s.get("e_mj") or {}).get(rail) is not None]
        read = np.array([(s.get("e_read_ns") or {}).get(rail) or 0 for s in have], dtype=np.int64)  # 0: older captures
        te, e, rd = clean(*series(have, "e_mj", rail, 1e-3), rail, tr.problems, read)
        ta, pa = clean(*series(samples, "p_avg_mw", rail, 1e-3), rail + " (avg power)", [])
        tr_, er, _ = refresh_times(te, e, rd) if te.size >= 2 else (te, e, None)
        if tr_.size >= 2:
            tr.rails[rail] = Rail(rail, "counter", tr_, er, ta, pa)
        else:  # no counter on this GPU: fall back to the instantaneous power field
            tp, p = clean(*series(samples, "p_mw", rail, 1e-3), rail, tr.problems)
            tr.problems.append(f"{rail}: no energy counter, integrating instantaneous power")
            tr.rails[rail] = Rail(rail, "power", tp, p, ta, pa)
    if rails:
        th = thermal_frame(samples, rails[0], {"temp_gpu_c": "temp_c", "gpu_clock_mhz": "clk_mhz",
                                               "throttle": "throttle"})
        codes = th["throttle"].to_numpy()
        ok = np.isfinite(codes)
        th["throttled"] = np.where(ok, (np.where(ok, codes, 0).astype(np.int64) & THROTTLE_MASK) != 0, np.nan)
        tr.thermal = th


SENSOR = Sensor(name="nvml", headline_rail="gpu0", default_interval_ms=50, make_source=NvmlSource, decode=decode,
                available=lambda root: True, platforms=("nvidia-gpu",), auto_reason="auto: NVIDIA GPU energy counter",
                value_keys=("e_mj",), meta_keys=("polling",))
