"""Known-answer grid: every source's energy estimators against exact truth, over many seeds.

Each cell is a simulated capture (split/simulate.py: 20 requests, rail time constant 5-20 ms and
shape steps/ramp/spike drawn per seed; INA3221 conversion-window readings on jittered 10 ms polls;
tegrastats 500 ms point readings with 10 % late lines; NVML counter refreshed every ~100 ms, polled
at 10/20/50 ms, reads taking 3-6 ms) run through the real split (split/cell_energy.py). Printed per
source and scenario: bias and percentiles of the relative error of prefill/decode energy and decode
tok/J, the share resolved, the share within the issue-12 goal, and the coverage of +-1.96 rel_unc.

With --overlap: the grid under overlapping requests instead (split/simulate_overlap.py: N = 1, 2,
4, 8 closed-loop streams, base + per-request power increments with sub-linear batched decode, every
sensor kind including RAPL): bias, spread and coverage of the equal-share prefill/decode split and of
the steady-state tok/J per source and N.

    .venv/bin/python benchmarks/known_answer.py [--seeds 40] [--overlap] [--no-publish]
"""
from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from joulebench.split.simulate import grid_profile, known_answer_case  # noqa: E402
from joulebench.split.simulate_overlap import known_answer_overlap_case, overlap_profile  # noqa: E402

# (source, prefill ms, decode ms, goal): the scenarios issue 12 states goals for, plus longer ones
SCENARIOS = [
    ("ina3221", (20, 50), (300, 600), "none (under 50 ms)"),
    ("ina3221", (50, 80), (300, 600), "prefill and decode energy within 1 %"),
    ("ina3221", (250, 350), (1500, 2500), "prefill and decode energy within 1 %"),
    ("tegrastats", (20, 50), (1500, 2500), "prefill flagged"),
    ("tegrastats", (250, 350), (300, 600), "prefill within 10 % or flagged; decode tok/J within 3 %"),
    ("tegrastats", (250, 350), (1500, 2500), "prefill within 10 % or flagged; decode tok/J within 3 %"),
    ("nvml", (20, 50), (300, 600), "decode tok/J within 3 %"),
    ("nvml", (250, 350), (1500, 2500), "decode tok/J within 3 %"),
]


def pct(x, q):
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return np.percentile(x, q) * 100 if x.size else np.nan


def summarise(rows: pd.DataFrame) -> dict:
    out = {}
    for ph in ("prefill", "decode"):
        ok = rows[f"{ph}_resolved"]
        e = rows.loc[ok, f"{ph}_energy_err"]
        out[f"{ph} resolved"] = f"{ok.mean():.0%}"
        out[f"{ph} E bias %"] = e.mean() * 100 if len(e) else np.nan
        out[f"{ph} E p5/p50/p95 %"] = f"{pct(e, 5):+.2f} / {pct(e, 50):+.2f} / {pct(e, 95):+.2f}" if len(e) else "—"
        out[f"{ph} E max abs %"] = e.abs().max() * 100 if len(e) else np.nan
        hit = (rows.loc[ok, f"{ph}_tok_per_j_err"].abs() <= 1.96 * rows.loc[ok, f"{ph}_rel_unc"])
        out[f"{ph} coverage"] = f"{hit.mean():.0%}" if len(hit) else "—"
    d = rows.loc[rows["decode_resolved"], "decode_tok_per_j_err"].abs()
    out["decode tok/J within 3 %"] = f"{(d < 0.03).mean():.0%}" if len(d) else "—"
    p = rows["prefill_energy_err"].abs()
    out["prefill within 1 % / 10 %"] = f"{(p < 0.01).mean():.0%} / {(p < 0.10).mean():.0%}"
    return out


OVERLAP_SOURCES = ("ina3221", "tegrastats", "nvml", "rapl")
OVERLAP_NS = (1, 2, 4, 8)


def _err_cell(rows, resolved, err, unc) -> str:
    """'resolved share; bias, p5 … p95, max abs (%); coverage' of one figure over a scenario's cells."""
    ok = rows[resolved].astype(bool)
    e, u = rows.loc[ok, err], rows.loc[ok, unc]
    if not len(e):
        return "0 % (flagged)"
    return (f"{ok.mean():.0%}; {e.mean() * 100:+.2f}, {pct(e, 5):+.2f} … {pct(e, 95):+.2f}, "
            f"{e.abs().max() * 100:.2f}; {(e.abs() <= 1.96 * u).mean():.0%}")


def overlap_grid(seeds: int, tmp: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = pd.DataFrame([known_answer_overlap_case(tmp / f"ovl-{src}-{n}-{s}", src, overlap_profile(src, s, n), n)
                         for src in OVERLAP_SOURCES for n in OVERLAP_NS for s in range(seeds)])
    table = []
    for (src, n), g in rows.groupby(["source", "concurrency"], sort=False):
        table.append({"source": src, "N": n,
                      **{what: _err_cell(g, f"{what}_resolved", err, f"{what}_rel_unc")
                         for what, err in (("prefill", "prefill_energy_err"), ("decode", "decode_energy_err"),
                                           ("steady", "steady_err"))},
                      "per-request decode p90 abs %": g["decode_per_request_p90_abs_err"].median() * 100})
    return rows, pd.DataFrame(table)


def main_overlap(args) -> None:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        rows, df = overlap_grid(args.seeds, Path(tmp))
    wall = time.monotonic() - t0
    why = rows.loc[~rows["steady_resolved"], ["source", "concurrency"]].astype(str).agg(" N=".join, axis=1)
    text = "\n".join([
        f"## Known-answer energy grid under overlap — {time.strftime('%Y-%m-%d %H:%M')} on {socket.gethostname()}", "",
        f"Command: `.venv/bin/python benchmarks/known_answer.py --overlap --seeds {args.seeds}` ({len(rows)} simulated "
        f"cells, {wall:.0f} s). N closed-loop streams (max(20, 6N) requests, prefill 50-150 ms, decode 1-2 s), power "
        "= idle + busy base + per-prefill increment + decode increment x n_decode^0.6, rail lag 5-20 ms. Truth: "
        "each ms's energy in equal shares among the requests in flight (prefill / decode errors: pooled energy) and "
        "the steady window's exact tok/J. Each figure: resolved share; bias, p5 … p95, max abs error (%, over "
        "resolved cells); coverage of +-1.96 x rel_unc. Per-request: median over cells of the 90th percentile of "
        "|error| of each request's decode share.", "",
        df.to_markdown(index=False, floatfmt=".2f"), "",
        "Steady window unresolved (95 % sensor interval wider than 10 %): "
        + (", ".join(f"{k} ({v} of {args.seeds})" for k, v in why.value_counts().items()) if len(why) else "none")
        + ".", ""])
    if args.no_publish:
        print(text)
    else:
        from _results import publish

        publish(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--overlap", action="store_true", help="the grid under overlapping requests (N = 1, 2, 4, 8)")
    ap.add_argument("--no-publish", action="store_true")
    args = ap.parse_args()
    if args.overlap:
        return main_overlap(args)
    t0 = time.monotonic()
    tables, allrows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for source, pre, dec, goal in SCENARIOS:
            rows = pd.DataFrame([known_answer_case(Path(tmp) / f"{source}-{pre}-{dec}-{s}", source,
                                                   grid_profile(source, s, pre, dec))
                                 for s in range(args.seeds)])
            allrows.append(rows)
            methods = ", ".join(sorted({f"{a}/{b}" for a, b in zip(rows.prefill_method, rows.decode_method)}))
            tables.append({"source": source, "prefill ms": f"{pre[0]}-{pre[1]}", "decode ms": f"{dec[0]}-{dec[1]}",
                           "goal": goal, "methods (prefill/decode)": methods, **summarise(rows)})
    df = pd.DataFrame(tables)
    allr = pd.concat(allrows)
    cov = []
    for source, g in allr.groupby("source"):
        hits = [abs(r[f"{ph}_tok_per_j_err"]) <= 1.96 * r[f"{ph}_rel_unc"]
                for _, r in g.iterrows() for ph in ("prefill", "decode") if r[f"{ph}_resolved"]]
        cov.append(f"{source} {np.mean(hits):.1%} of {len(hits)}")
    wall = time.monotonic() - t0
    text = "\n".join([
        f"## Known-answer energy grid — {time.strftime('%Y-%m-%d %H:%M')} on {socket.gethostname()}", "",
        f"Command: `.venv/bin/python benchmarks/known_answer.py --seeds {args.seeds}` ({len(allr)} simulated cells, "
        f"{wall:.0f} s). Errors are relative to the exact truth of each cell; bias/percentiles over resolved "
        "cells; coverage = share of resolved phases whose truth lies within +-1.96 x `*_tok_per_j_rel_unc`.", "",
        df.to_markdown(index=False, floatfmt="+.2f"), "",
        "Coverage of the 95 % within-run interval per source (all scenarios, prefill and decode): "
        + "; ".join(cov) + ".",
        ""])
    if args.no_publish:
        print(text)
    else:
        from _results import publish

        publish(text)


if __name__ == "__main__":
    main()
