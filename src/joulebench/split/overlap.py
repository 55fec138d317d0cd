"""Energy when requests overlap (concurrency > 1): a power sample belongs to several requests.

Two figures (docs/energy-method.md, "Overlapping requests"):
- per-request prefill / decode energy by **equal share**: at every instant the rail's power is
  divided equally among the requests in flight (prefill or decode alike); each request's share is
  counted in the phase that request is in at that instant. Idle (no request in flight) belongs to
  no request. With one request at a time this is exactly the non-overlapping split.
  `overlap_phase` estimates it per phase, pooled and per request.
- **steady-state energy per output token** (ML.ENERGY's window): from the N-th first token to the
  (total - N)-th completion, N the cell's concurrency, tokens produced inside / rail energy inside
  (`steady_state`).
Both carry the estimate provenance of the non-overlapping split (method, samples, coverage) and a
relative 1-sigma from the sensor's own model plus the spread between requests (or between blocks
of the steady window).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import STEADY_COLUMNS
from . import integrate as I
from . import uncertainty as U
from .windows import count_in

MAX_STEADY_BLOCKS = 8  # batch means of the steady window: at most this many blocks, each >= R_DIRECT periods

OVERLAP_NOTE = "requests overlap: prefill/decode energy split in equal shares among the requests in flight"


def _rules():
    """The non-overlapping split's resolution rules (R_DIRECT, R_DIRECT_WINDOWED, Z95,
    MIN_PHASE_SAMPLES: one home, split/cell_energy.py; the gate is energy.max_rel_ci, passed in), imported when used
    because cell_energy imports this module."""
    from . import cell_energy

    return cell_energy


def cell_concurrency(meta: dict, req: pd.DataFrame) -> int:
    """N, the cell's concurrency (slots the load generator keeps busy): cell.json's cell, else the
    requests' column, else 1 (captures from before the concurrency axis ran one request at a time)."""
    n = (meta.get("cell") or {}).get("concurrency")
    if n is None and "concurrency" in req and len(req):
        n = req["concurrency"].iloc[0]
    return int(n) if n is not None and pd.notna(n) else 1


# ---- who is in flight when ------------------------------------------------------------------------
def segments(start, first, end):
    """Every request edge, sorted (x, float ns), and per segment [x_i, x_i+1]: requests in flight,
    in prefill, in decode (float arrays of length x.size - 1)."""
    x = np.unique(np.concatenate([start, first, end]).astype(float))
    mid = (x[:-1] + x[1:]) / 2.0
    n_pre = _active(mid, start, first)
    n_dec = _active(mid, first, end)
    return x, n_pre, n_dec


def _active(t, a, b):
    """How many windows [a_i, b_i) contain each t."""
    return (np.searchsorted(np.sort(a.astype(float)), t, side="right")
            - np.searchsorted(np.sort(b.astype(float)), t, side="right")).astype(float)


def share(x, n_pre, n_dec, phase):
    """g(t) on each segment: the share of the rail's power the phase receives (its requests / all in flight)."""
    n = n_pre + n_dec
    own = n_pre if phase == "prefill" else n_dec
    return np.where(n > 0, own / np.where(n > 0, n, 1.0), 0.0)


def _per_request_cumulative(x, values_per_segment, n):
    """S(x_j) = sum over earlier segments of value / requests in flight: S(b) - S(a) is one request's
    share over its window [a, b] (a and b are edges)."""
    per = np.where(n > 0, values_per_segment / np.where(n > 0, n, 1.0), 0.0)
    return np.concatenate([[0.0], np.cumsum(per)])


def _at(x, S, t):
    return S[np.searchsorted(x, np.asarray(t, dtype=float))]


def edge_energies(rail, x):
    """Cumulative rail energy at every edge x: a counter linear between refreshes; a windowed or
    instantaneous power rail edge-aware (integrate.edge_energy, the previous edge as the phase
    boundary before each)."""
    if rail.kind == "counter":
        cx, cy = I.curve(rail)
        return np.interp(x, cx, cy)
    return I.edge_energy(rail, x, after=np.concatenate([[-np.inf], x[:-1]]))


# ---- (b) per-request phase energy by equal share ----------------------------------------------------
def overlap_phase(rail, start, first, end, cov, tokens, phase: str, max_rel_ci: float) -> dict:
    """One phase on one rail under overlap: the dict `cell_energy._phase` returns (per_request, e,
    rel, method, resolved, reason, samples, window_over_period) plus `t` (the phase's share-weighted
    time, s: what p_<phase>_w and the above-idle energy divide by)."""
    R = _rules()
    a, b = (start, first) if phase == "prefill" else (first, end)
    s_, f_, e_ = start[cov], first[cov], end[cov]
    x, n_pre, n_dec = segments(s_, f_, e_)
    n = n_pre + n_dec
    g = share(x, n_pre, n_dec, phase)
    seg_s = np.diff(x) / 1e9
    t_eff = float(np.sum(g * seg_s))
    per = I.period_ns(rail)
    cx, _ = I.curve(rail)
    dur = (b - a) / 1e9
    n_pts = count_in(cx if rail.kind == "counter" else rail.t_ns, a, b)
    med = float(np.median(dur[cov])) * 1e9 if cov.any() else 0.0
    ratio = med / per if per > 0 else np.nan
    out = {"n_samples": n_pts, "period_ms": per / 1e6, "window_over_period": ratio, "t": t_eff,
           "samples_per_window": float(np.mean(n_pts[cov])) if cov.any() else np.nan,
           "per_request": np.full(len(a), np.nan)}
    if not cov.any():
        return {**out, "e": np.nan, "method": "none", "rel": np.nan, "resolved": False,
                "reason": f"{phase}: no window covered by samples"}
    tok = tokens[cov]
    if rail.sparse:
        return _sparse_phase(rail, out, x, g, n, seg_s, t_eff, a[cov], b[cov], cov, tok, phase, per, max_rel_ci)
    method = ("counter" if rail.kind == "counter" else "window_integral" if rail.window_ns > 0 else "step")
    need = R.R_DIRECT_WINDOWED if method == "window_integral" else R.R_DIRECT
    ex = edge_energies(rail, x)
    de = np.diff(ex)
    S = _per_request_cumulative(x, de, n)
    per_req = _at(x, S, b[cov]) - _at(x, S, a[cov])
    out["per_request"][cov] = per_req
    e = float(np.sum(g * de))
    if not (np.isfinite(ratio) and ratio >= need):
        return {**out, "e": np.nan, "method": "none", "rel": np.nan, "resolved": False,
                "reason": f"{phase}: overlap split needs windows of >= {need:g} sensor periods for {method} "
                          f"(median {med / 1e6:.0f} ms, period {per / 1e6:.0f} ms)"}
    # each edge misplaces up to P x T of energy (uniform); the phase receives the change of its share there
    p = e / t_eff if t_eff > 0 else np.nan
    jumps = np.abs(np.diff(np.concatenate([[0.0], g, [0.0]])))
    sensor = p * (per / 1e9) / np.sqrt(12) * float(np.sqrt(np.sum(jumps ** 2))) / e if e > 0 else np.nan
    rel = U.quad(U.bootstrap_rel(per_req, tok), sensor)
    ok = e > 0 and R.Z95 * sensor <= max_rel_ci
    return {**out, "e": e if ok else np.nan, "method": method if ok else "none", "rel": rel if ok else np.nan,
            "resolved": bool(ok), "reason": None if ok else
            f"{phase}: overlap split not resolved: 95 % sensor interval +-{R.Z95 * sensor:.0%} > {max_rel_ci:.0%}"}


def _sparse_phase(rail, out, x, g, n, seg_s, t_eff, a, b, cov, tok, phase, per, max_rel_ci):
    """Point readings (tegrastats), readings at moments unrelated to the requests: the phase's energy
    is the busy time x the mean over the busy readings of power x the phase's share at that moment
    (zero where the phase is not running), its standard error from the spread of those products.
    (The ratio form, mean power of the phase's readings x its time, understates its error when a
    handful of readings happen to miss the moments many prefills run at once.)"""
    R = _rules()
    t = rail.t_ns - rail.window_ns / 2.0
    k = np.searchsorted(x, t, side="right") - 1
    busy = (k >= 0) & (k < g.size)
    busy[busy] = n[k[busy]] > 0
    w, pw = g[k[busy]], rail.value[busy]
    t_busy = float(np.sum(seg_s * (n > 0)))
    n_in = int(np.sum(w > 0))
    why = f"{phase}: sparse point readings ({per / 1e6:.0f} ms apart), overlap share-weighted"
    if n_in < R.MIN_PHASE_SAMPLES:
        return {**out, "e": np.nan, "method": "none", "rel": np.nan, "resolved": False,
                "reason": f"{why}; only {n_in} sample(s) inside (< {R.MIN_PHASE_SAMPLES})"}
    vals = pw * w
    e = t_busy * float(vals.mean())
    rel_p = float(vals.std(ddof=1) / np.sqrt(vals.size) / vals.mean()) if vals.mean() > 0 else np.nan
    # per request: the phase's mean power x the request's share-weighted time in its own window
    S = _per_request_cumulative(x, seg_s, n)
    t_req = _at(x, S, b) - _at(x, S, a)
    out["per_request"][cov] = e / t_eff * t_req if t_eff > 0 else np.nan
    if not (R.Z95 * rel_p <= max_rel_ci):
        return {**out, "e": np.nan, "method": "none", "rel": np.nan, "resolved": False,
                "reason": f"{why}; phase_mean not resolved: 95 % sensor interval +-{R.Z95 * rel_p:.0%} "
                          f"> {max_rel_ci:.0%} ({n_in} of {vals.size} busy readings in the phase)"}
    rel = U.quad(rel_p, U.bootstrap_rel(t_req, tok))
    return {**out, "e": e, "method": "phase_mean", "rel": rel, "resolved": True, "reason": None}


# ---- (a) steady-state energy per output token -------------------------------------------------------
def tokens_between(first, end, osl, t0: float, t1: float) -> float:
    """Output tokens produced in [t0, t1]: each request's first token at its first_token time, the
    other OSL - 1 spread evenly over (first_token, end] (a constant inter-token time per request)."""
    first, end, osl = first.astype(float), end.astype(float), osl.astype(float)
    one = ((first >= t0) & (first <= t1)).astype(float)
    span = end - first
    over = np.clip(np.minimum(end, t1) - np.maximum(first, t0), 0.0, None)
    frac = np.where(span > 0, over / np.where(span > 0, span, 1.0), ((end >= t0) & (end <= t1)).astype(float))
    return float(np.sum(one * (osl > 0) + np.clip(osl - 1, 0, None) * frac))


def steady_window(first, end, concurrency: int):
    """(t0, t1): from the N-th first token to the (total - N)-th completion (None, None if there are
    not more requests than slots)."""
    n, total = int(concurrency), first.size
    if n < 1 or total - n < 1:
        return None, None
    return float(np.sort(first)[n - 1]), float(np.sort(end)[total - n - 1])


def _rail_energy(rail, t0, t1):
    """(energy J, sensor 1-sigma J, readings inside, method) of [t0, t1] on one rail."""
    R = _rules()
    per = I.period_ns(rail)
    if rail.sparse:
        t = rail.t_ns - rail.window_ns / 2.0
        v = rail.value[(t >= t0) & (t <= t1)]
        if v.size < R.MIN_PHASE_SAMPLES:
            return np.nan, np.nan, int(v.size), "phase_mean"
        dur = (t1 - t0) / 1e9
        return float(v.mean() * dur), float(v.std(ddof=1) / np.sqrt(v.size) * dur), int(v.size), "phase_mean"
    cx, cy = I.curve(rail)
    e = float(I.window_energy(cx, cy, np.array([t0]), np.array([t1]))[0])
    n = int(count_in(cx if rail.kind == "counter" else rail.t_ns, np.array([t0]), np.array([t1]))[0])
    p = e / ((t1 - t0) / 1e9) if t1 > t0 else np.nan
    method = "counter" if rail.kind == "counter" else "window_integral" if rail.window_ns > 0 else "step"
    return e, p * (per / 1e9) / np.sqrt(12) * np.sqrt(2), n, method


def steady_state(rail, req: pd.DataFrame, first, end, valid, cov, concurrency: int, max_rel_ci: float) -> dict:
    """The steady-state columns (STEADY_COLUMNS) of one cell on its headline rail."""
    R = _rules()
    out = {c: np.nan for c in STEADY_COLUMNS}
    out.update(steady_resolved=False, steady_method="none", steady_concurrency=int(concurrency), steady_reason=None)
    use = valid & cov
    osl = req["osl"].astype(float).to_numpy()
    f, e, o = first[use], end[use], osl[use]
    t0, t1 = steady_window(f, e, concurrency)
    if t0 is None or not (t1 > t0):
        why = (f"{use.sum()} covered requests for {concurrency} slot(s)" if t0 is None else
               f"the {concurrency}. first token comes {(t0 - t1) / 1e6:.0f} ms after the "
               f"({use.sum()} - {concurrency}). completion")
        return {**out, "steady_reason": f"steady: no interval where all {concurrency} slot(s) are busy ({why})"}
    per = I.period_ns(rail)
    dur = t1 - t0
    out.update(steady_window_s=dur / 1e9)
    if not (per > 0 and dur >= R.R_DIRECT * per):
        return {**out, "steady_reason": f"steady: window {dur / 1e6:.0f} ms shorter than {R.R_DIRECT:g} sensor "
                                        f"periods ({per / 1e6:.0f} ms): not resolved"}
    energy, sensor_sd, n_in, method = _rail_energy(rail, t0, t1)
    tokens = tokens_between(f, e, o, t0, t1)
    out.update(steady_samples=n_in, steady_method=method, steady_tokens=tokens, steady_e_j=energy,
               steady_coverage=tokens / o.sum() if o.sum() > 0 else np.nan)
    if not (energy > 0 and tokens > 0):
        return {**out, "steady_method": "none",
                "steady_reason": f"steady: no energy or tokens in the window ({n_in} readings, {tokens:.0f} tokens)"}
    rel_sensor = sensor_sd / energy
    if not (R.Z95 * rel_sensor <= max_rel_ci):
        return {**out, "steady_method": "none", "steady_reason": f"steady: 95 % sensor interval "
                f"+-{R.Z95 * rel_sensor:.0%} > {max_rel_ci:.0%} ({n_in} readings)"}
    rel = U.quad(rel_sensor, _block_rel(rail, f, e, o, t0, t1, per))
    out.update(steady_tok_per_j=tokens / energy, steady_tok_per_j_rel_unc=rel, steady_resolved=True)
    return out


def _block_rel(rail, first, end, osl, t0, t1, per) -> float:
    """Spread between parts of the steady window (different requests in flight): batch means over K
    equal blocks of >= R_DIRECT sensor periods each; fewer than 3 blocks: NaN (not estimated)."""
    R = _rules()
    k = int(min(MAX_STEADY_BLOCKS, (t1 - t0) // (R.R_DIRECT * per)))
    if k < 3:
        return np.nan
    edges = np.linspace(t0, t1, k + 1)
    vals = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        e_j, _, _, _ = _rail_energy(rail, lo, hi)
        tok = tokens_between(first, end, osl, lo, hi)
        if not (e_j > 0):
            return np.nan
        vals.append(tok / e_j)
    vals = np.array(vals)
    return float(np.std(vals, ddof=1) / np.sqrt(k) / np.mean(vals))


# ---- energy per good token --------------------------------------------------------------------------
def good_token_energy(req: pd.DataFrame, cov, slo: dict) -> dict:
    """Energy of every covered request (its equal-share prefill + decode) over the output tokens of
    the covered requests that met the SLO (metrics/slo.py): what a good token costs when the energy
    spent on bad requests is counted against the good ones."""
    from ..metrics.slo import good_requests

    out = {"energy_per_good_token_j": np.nan, "energy_per_good_token_j_rel_unc": np.nan, "good_requests": np.nan}
    good = good_requests(req, slo)
    if good is None:
        return {**out, "good_reason": "no slo (ttft_ms / itl_ms) configured for the cell"}
    e = (pd.to_numeric(req["e_prefill_j"], errors="coerce") + pd.to_numeric(req["e_decode_j"], errors="coerce")).to_numpy()
    tok = np.where(good, req["osl"].astype(float).to_numpy(), 0.0)
    ok = cov & np.isfinite(e)
    out["good_requests"] = int(good[ok].sum())
    if not ok.any() or tok[ok].sum() <= 0:
        return {**out, "good_reason": f"no covered request met the slo ({int(good.sum())} good of {len(good)})"}
    out["energy_per_good_token_j"] = float(e[ok].sum() / tok[ok].sum())
    with np.errstate(divide="ignore", invalid="ignore"):  # a resample with no good request: no figure
        out["energy_per_good_token_j_rel_unc"] = U.bootstrap_rel(e[ok], tok[ok])
    return {**out, "good_reason": None}
