"""One cell's energy: per request and pooled, per phase and rail, with how it was measured.

Estimator per phase, chosen from what the sensor's readings mean (`estimator`; the full account
is docs/energy-method.md):
- direct ("counter" / "window_integral" / "step"): the cumulative energy at each window's edges,
  differenced and summed over requests (ratio of sums), for windows long against the sensor;
- "point_regression" (sparse point readings, tegrastats): per-phase power levels, rail lag and a
  within-window trend fitted to all of the cell's readings (integrate.phase_regression);
- "phase_mean" (instantaneous power too sparse to integrate, or a tegrastats phase whose fit is
  singular because another phase has no readings): mean power of the readings inside the phase x
  its time;
- "counter_regression" / "window_regression": per-phase power levels fitted to every exactly
  measured interval (integrate.phase_regression), for windows short against the sensor;
- a phase the sensor pins no better than `max_rel_ci` (config key energy.max_rel_ci, passed in by
  the split rule) is unresolved: NaN figures, *_resolved False, energy_reason says why.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import integrate as I
from . import uncertainty as U
from ..telemetry import headline_rails
from .seed_method import seed_figures
from .trace import load
from .overlap import OVERLAP_NOTE, cell_concurrency, good_token_energy, overlap_phase, steady_state
from .windows import count_in, occupancy, overlapping, request_windows
from ..metrics.slo import slo_of

R_DIRECT = 4.0
R_DIRECT_WINDOWED = 2.0
Z95 = 1.96
MIN_PHASE_SAMPLES = 5
MAX_GAP_PERIODS = 3.0
MIN_COVERAGE = 0.5


def headline_rail(rails, wanted: str | None) -> str | None:
    if wanted and wanted in rails:
        return wanted
    for r in headline_rails():
        if r in rails:
            return r
    return sorted(rails)[0] if rails else None


def estimator(rail, window_over_period: float) -> str:
    """The estimator that fits the sensor's semantics (docs/energy-method.md):
    sparse point readings (tegrastats) -> point_regression; conversion-window averages (INA3221) ->
    window_integral (edge-aware, integrate.edge_energy) for windows of >= R_DIRECT readings, else
    window_regression; a counter -> direct differences (`counter`) for windows of >= R_DIRECT
    refreshes, else counter_regression; instantaneous power (NVML without counter) -> `step`
    integration for long windows, else phase_mean."""
    long = np.isfinite(window_over_period) and window_over_period >= R_DIRECT
    if rail.kind == "counter":
        return "counter" if long else "counter_regression"
    if rail.sparse:
        return "point_regression"
    if rail.window_ns > 0:  # edges are read without blending: direct from R_DIRECT_WINDOWED readings
        ok = np.isfinite(window_over_period) and window_over_period >= R_DIRECT_WINDOWED
        return "window_integral" if ok else "window_regression"
    return "step" if long else "phase_mean"


def _phase(rail, a, b, cov, tokens, occs, phase, span, before_a, max_rel_ci):
    """Energy of one phase on one rail over the covered requests. `before_a`: the phase edge
    preceding each window's start (the power just before `a` belongs to the phase since then)."""
    cx, cy = I.curve(rail)
    per = I.period_ns(rail)
    direct = (I.window_energy(cx, cy, a, b) if rail.kind == "counter" else
              I.edge_energy(rail, b, after=a) - I.edge_energy(rail, a, after=before_a))
    direct[~cov] = np.nan
    dur = (b - a) / 1e9
    n_pts = count_in(cx if rail.kind == "counter" else rail.t_ns, a, b)
    out = {"per_request": direct, "n_samples": n_pts, "period_ms": per / 1e6,
           "samples_per_window": float(np.mean(n_pts[cov])) if cov.any() else np.nan}
    d_cov, tok_cov = dur[cov], tokens[cov]
    med = float(np.median(d_cov)) * 1e9 if d_cov.size else 0.0
    ratio = med / per if per > 0 else np.nan
    out["window_over_period"] = ratio
    if not cov.any():
        return {**out, "e": np.nan, "method": "none", "rel": np.nan, "resolved": False,
                "reason": f"{phase}: no window covered by samples"}
    method = estimator(rail, ratio)
    if method in ("counter", "window_integral", "step"):
        e = float(np.nansum(direct[cov]))
        p = e / d_cov.sum() if d_cov.sum() > 0 else np.nan
        rel = U.quad(U.bootstrap_rel(direct[cov], tok_cov), U.edge_rel(p, per / 1e9, int(cov.sum()), e))
        return {**out, "e": e, "method": method, "rel": rel, "resolved": e > 0,
                "reason": None if e > 0 else f"{phase}: zero energy"}
    sparse = f"{phase}: sparse point readings ({per / 1e6:.0f} ms apart)"
    why = {"phase_mean": sparse, "point_regression": sparse,
           "window_regression": f"{phase}: conversion-window readings"}.get(
        method, f"{phase}: median window {med / 1e6:.0f} ms < {R_DIRECT:g} sensor periods ({per / 1e6:.0f} ms)")
    if method in ("phase_mean", "point_regression"):  # the phase's own readings, not only its neighbours'
        p, se, n = I.phase_mean_power(rail, a[cov], b[cov])
        if n < MIN_PHASE_SAMPLES:
            return {**out, "e": np.nan, "method": "none", "rel": np.nan, "resolved": False,
                    "reason": f"{why}; only {n} sample(s) inside (< {MIN_PHASE_SAMPLES})"}
    if method != "phase_mean":
        fits, n_fit, _ = I.phase_regression(rail, occs, {phase: (a[cov], b[cov])}, *span)
        e, se_e = fits.get(phase, (np.nan, np.nan))
        rel_p = se_e / e if e > 0 else np.nan
        if method == "point_regression" and not (Z95 * rel_p <= max_rel_ci):
            # another phase without readings of its own leaves the fit singular: this phase's own
            # readings still give its mean power
            method = "phase_mean"
        else:
            n = n_fit
    if method == "phase_mean":
        e, rel_p = p * float(d_cov.sum()), se / p if p > 0 else np.nan
    else:
        if not (e > 0):
            return {**out, "e": np.nan, "method": "none", "rel": np.nan, "resolved": False,
                    "reason": f"{why}; {method} found no positive energy (E={e:.3g} J, {n} intervals)"}
    if not (Z95 * rel_p <= max_rel_ci):  # the sensor alone pins it no better than energy.max_rel_ci
        return {**out, "e": np.nan, "method": "none", "rel": np.nan, "resolved": False,
                "reason": f"{why}; {method} not resolved: 95 % sensor interval +-{Z95 * rel_p:.0%} "
                          f"> {max_rel_ci:.0%} ({n} readings)"}
    rel = U.quad(rel_p, U.bootstrap_rel(d_cov, tok_cov))
    return {**out, "e": e, "method": method, "rel": rel, "resolved": True, "reason": None}


def rail_split(rail, req, meta, start, first, end, valid, max_rel_ci):
    per = I.period_ns(rail)
    cx, _ = I.curve(rail)
    cov = valid & I.covered(cx, start, end, MAX_GAP_PERIODS * per if np.isfinite(per) else 0)
    occs = {"prefill": occupancy(start[valid], first[valid]), "decode": occupancy(first[valid], end[valid])}
    pad = int(2 * per) if np.isfinite(per) else 0
    span = (int(start.min()) - pad, int(end.max()) + pad)
    isl = req["isl"].astype(float).to_numpy()
    osl = req["osl"].astype(float).to_numpy()
    o = np.argsort(start, kind="stable")
    prev_end = np.empty_like(end)
    prev_end[o] = np.concatenate([[np.iinfo(np.int64).min // 2], end[o][:-1]])
    if overlapping(start[valid], end[valid]):  # a sample belongs to several requests: equal share
        pre = overlap_phase(rail, start, first, end, cov, isl, "prefill", max_rel_ci)
        dec = overlap_phase(rail, start, first, end, cov, osl, "decode", max_rel_ci)
    else:
        pre = _phase(rail, start, first, cov, isl, occs, "prefill", span, prev_end, max_rel_ci)
        dec = _phase(rail, first, end, cov, osl, occs, "decode", span, start, max_rel_ci)
    ts = meta.get("timestamps") or {}
    idle_w, n_idle = np.nan, 0
    if ts.get("telemetry_start_ns") and ts.get("idle_end_ns"):
        idle_w, n_idle = I.mean_power_between(rail, int(ts["telemetry_start_ns"]), int(ts["idle_end_ns"]))
    return {"cov": cov, "pre": pre, "dec": dec, "idle_w": idle_w, "n_idle": n_idle, "isl": isl, "osl": osl}


def _div(a, b):
    return a / b if (b and np.isfinite(b) and b > 0 and np.isfinite(a)) else np.nan


def thermal(tr, t0, t1) -> dict:
    th = tr.thermal
    out = {"temp_cpu_mean_c": np.nan, "temp_gpu_mean_c": np.nan, "temp_tj_peak_c": np.nan,
           "throttled": pd.NA, "gpu_clock_mhz_mean": np.nan}
    if th.empty:
        return out
    w = th[(th["t_ns"] >= t0) & (th["t_ns"] <= t1)]
    col = lambda c, f: float(getattr(w[c], f)()) if c in w and w[c].notna().any() else np.nan
    out.update(temp_cpu_mean_c=col("temp_cpu_c", "mean"), temp_gpu_mean_c=col("temp_gpu_c", "mean"),
               temp_tj_peak_c=col("temp_tj_c", "max"), gpu_clock_mhz_mean=col("gpu_clock_mhz", "mean"))
    if "throttled" in w and w["throttled"].notna().any():  # decoded by the sensor (NVML); Jetson: unknown
        out["throttled"] = bool(w["throttled"].max() > 0)
    return out


def split_cell(raw_dir, meta: dict, req: pd.DataFrame, max_rel_ci: float):
    """max_rel_ci: config key energy.max_rel_ci (largest 95 % relative half-width still reported)."""
    from . import REQUEST_ENERGY_COLUMNS, no_energy

    tr = load(Path(raw_dir), meta)
    start, first, end, valid = request_windows(req)
    tcfg = (meta.get("settings") or {}).get("telemetry") or {}
    head = headline_rail(list(tr.rails), tcfg.get("headline_rail"))
    base = {"energy_rejected_lines": tr.rejected_lines, "energy_problems": "; ".join(tr.problems) or None,
            "energy_samples": tr.n_samples}
    if head is None:
        req = req.copy()
        for c in REQUEST_ENERGY_COLUMNS:
            req[c] = np.nan
        req["energy_covered"] = False
        row = no_energy("telemetry produced no usable samples" + (f" ({tr.problems[0]})" if tr.problems else ""),
                        tr.source)
        return req, {**row, **base, **thermal(tr, start.min(), end.max())}
    results = {name: rail_split(r, req, meta, start, first, end, valid, max_rel_ci) for name, r in tr.rails.items()}
    h = results[head]
    pre, dec, cov = h["pre"], h["dec"], h["cov"]
    per_request = {"e_prefill_j": pre["per_request"], "e_decode_j": dec["per_request"],
                   "n_prefill_samples": pre["n_samples"], "n_decode_samples": dec["n_samples"], "energy_covered": cov}
    if any(c in req for c in per_request):  # split again: overwritten in place
        req = req.copy()
        for c, v in per_request.items():
            req[c] = v
    else:  # one step, not five inserts
        req = pd.concat([req, pd.DataFrame(per_request, index=req.index)], axis=1)
    coverage = float(cov.sum() / len(cov)) if len(cov) else 0.0
    reasons = [x for x in (pre["reason"], dec["reason"]) if x]
    if coverage < MIN_COVERAGE:
        reasons.insert(0, f"only {cov.sum()} of {len(cov)} requests covered by samples (sensor stopped?)")
        for ph in (pre, dec):
            ph.update(e=np.nan, resolved=False, rel=np.nan)
    elif coverage < 1:
        reasons.insert(0, f"{len(cov) - cov.sum()} of {len(cov)} requests not covered (excluded from pooled figures)")
    isl, osl = h["isl"][cov].sum(), h["osl"][cov].sum()
    t_pre = pre.get("t", float(((first - start)[cov]).sum()) / 1e9)  # overlap: share-weighted time
    t_dec = dec.get("t", float(((end - first)[cov]).sum()) / 1e9)
    e_pre = pre["e"] if pre["resolved"] else np.nan
    e_dec = dec["e"] if dec["resolved"] else np.nan
    e_tot = e_pre + e_dec
    idle = h["idle_w"]
    rel_tot = np.sqrt((pre["rel"] * e_pre) ** 2 + (dec["rel"] * e_dec) ** 2) / e_tot if e_tot > 0 else np.nan
    methods = {pre["method"], dec["method"]}
    row = {
        "e_prefill_j": e_pre, "e_decode_j": e_dec, "e_total_j": e_tot, "e_idle_baseline_w": idle,
        "e_prefill_above_idle_j": e_pre - idle * t_pre, "e_decode_above_idle_j": e_dec - idle * t_dec,
        "p_prefill_w": _div(e_pre, t_pre), "p_decode_w": _div(e_dec, t_dec), "p_active_w": _div(e_tot, t_pre + t_dec),
        "prefill_tok_per_j": _div(isl, e_pre), "decode_tok_per_j": _div(osl, e_dec),
        "total_tok_per_j": _div(isl + osl, e_tot), "mj_per_output_token": _div(1000.0 * e_dec, osl),
        "prefill_tok_per_j_rel_unc": pre["rel"] if pre["resolved"] else np.nan,
        "decode_tok_per_j_rel_unc": dec["rel"] if dec["resolved"] else np.nan,
        "total_tok_per_j_rel_unc": rel_tot,
        "prefill_resolved": bool(pre["resolved"]), "decode_resolved": bool(dec["resolved"]),
        "prefill_samples_per_window": pre["samples_per_window"], "decode_samples_per_window": dec["samples_per_window"],
        "sensor_period_ms": pre["period_ms"],
        "prefill_window_over_period": pre["window_over_period"], "decode_window_over_period": dec["window_over_period"],
        "prefill_method": pre["method"], "decode_method": dec["method"],
        "energy_coverage": coverage, "idle_baseline_samples": h["n_idle"],
        "energy_source": tr.source, "energy_rail": head,
        "energy_method": methods.pop() if len(methods) == 1 else f"prefill={pre['method']};decode={dec['method']}",
        "energy_reason": "; ".join(reasons) or None,
        **base,
    }
    if overlapping(start[valid], end[valid]):
        row["energy_reason"] = "; ".join(filter(None, [row["energy_reason"], OVERLAP_NOTE]))
    row.update(steady_state(tr.rails[head], req, first, end, valid, cov, cell_concurrency(meta, req), max_rel_ci))
    row.update(good_token_energy(req, cov, slo_of(meta)))
    seed_rail = tcfg.get("seed_rail") if tcfg.get("seed_rail") in tr.rails else head  # the seed's rail if captured
    r = tr.rails[seed_rail]
    row.update(seed_figures(r.seed_t_ns, r.seed_w, req) if r.seed_w is not None else
               seed_figures(None, None, req))
    row["seed_rail"] = seed_rail
    row.update(thermal(tr, int(start.min()), int(end.max())))
    for name, res in results.items():  # every rail kept, not only the headline one
        row[f"rail_{name}_prefill_j"] = res["pre"]["e"] if res["pre"]["resolved"] else np.nan
        row[f"rail_{name}_decode_j"] = res["dec"]["e"] if res["dec"]["resolved"] else np.nan
        row[f"rail_{name}_idle_w"] = res["idle_w"]
    return req, row
