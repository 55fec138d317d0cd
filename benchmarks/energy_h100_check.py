"""Decode tok/J three ways on a real NVML capture: the pipeline, the counter truth, the seed method.

For each cell: the pipeline's `decode_tok_per_j` (summary.parquet); the "counter truth" computed
here independently of the split code — NVML's cumulative energy counter interpolated linearly at
every decode window's edges [first token, end], differenced and pooled (sum of tokens / sum of
joules); and the seed's published method (median instantaneous power of samples in (ack, end] x
median (end - ack)), `seed_decode_tok_per_j`.

    .venv/bin/python benchmarks/energy_h100_check.py RESULTS_DIR [--out docs/energy-h100.md]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from joulebench.config import Cell  # noqa: E402
from joulebench.paths import cell_suffix  # noqa: E402


def counter_truth(raw_cell: Path, req: pd.DataFrame) -> tuple[float, float, int]:
    t, e = [], []
    with open(raw_cell / "telemetry.jsonl") as fh:
        for line in fh:
            try:
                s = json.loads(line)
            except json.JSONDecodeError:
                continue
            v = (s.get("e_mj") or {}).get("gpu0")
            if v is not None:
                t.append(s["t_ns"])
                e.append(v / 1000.0)
    t, e = np.asarray(t, dtype=np.int64), np.asarray(e)
    order = np.argsort(t, kind="stable")
    t, e = t[order], e[order]
    # NVML refreshes the counter every ~70 ms while it is polled every 10 ms: keep the first poll
    # that saw each new value (the refresh happened in the poll interval before it; half an
    # interval is subtracted), so the curve is not a staircase lagging by up to one refresh.
    new = np.r_[True, np.diff(e) != 0]
    step = np.median(np.diff(t)) if len(t) > 1 else 0
    t, e = t[new] - int(step // 2), e[new]
    a = req["first_token_ns"].astype("int64").to_numpy()
    b = req["end_ns"].astype("int64").to_numpy()
    joules = np.interp(b, t, e) - np.interp(a, t, e)
    tokens = (req["osl"].astype(int) - 1).sum()  # tokens after the first, as the decode window holds
    return float(tokens / joules.sum()), float(joules.sum()), int(len(t))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    s = pd.read_parquet(args.results / "summary.parquet")
    r = pd.read_parquet(args.results / "requests.parquet")
    rows = []
    for _, c in s[(s.ctx == 2048) & (s.gen.isin([256, 2048]))].sort_values(["model", "gen"]).iterrows():
        req = r[(r.model == c.model) & (r.ctx == c.ctx) & (r.gen == c.gen)]
        raw = args.results / "raw" / cell_suffix(Cell.from_row(c))
        truth, joules, n = counter_truth(raw, req)
        # the pipeline pools OSL over decode J; the truth above uses OSL-1: compare like with like
        pipe = c["decode_tok_per_j"] * (req["osl"].astype(int) - 1).sum() / req["osl"].astype(int).sum()
        seed = c["seed_decode_tok_per_j"] * (req["osl"].astype(int) - 1).sum() / req["osl"].astype(int).sum()
        rows.append({
            "model": c.model, "ctx": c.ctx, "gen": c.gen, "requests": len(req),
            "decode window p50 s": float(((req.end_ns - req.first_token_ns.astype("int64")) / 1e9).median()),
            "pipeline tok/J": pipe, "± (rel)": c["decode_tok_per_j_rel_unc"],
            "counter truth tok/J": truth, "seed method tok/J": seed,
            "pipeline vs truth": pipe / truth - 1, "seed vs truth": seed / truth - 1,
            "method": c["energy_method"],
        })
    df = pd.DataFrame(rows)
    text = df.to_markdown(index=False, floatfmt=".4g")
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
