"""Harness fidelity: client-side decode tok/s (aiperf: (OSL-1) / decode time) against llama-server's
own `timings.predicted_per_second` for the same requests (target: within 3 %).

Reads any results tree the pipeline produced (requests.parquet carries both numbers per request)
and prints the distribution of the per-request ratio, per pinning setting found in the tree.

    .venv/bin/python benchmarks/harness_fidelity.py results [examples/h100 ...]
"""
from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import publish  # noqa: E402


def fidelity(root: Path) -> dict:
    req_path = root / "requests.parquet"
    if not req_path.exists():
        req_path = next(root.rglob("requests.parquet"))
    r = pd.read_parquet(req_path)
    s = pd.read_parquet(req_path.with_name("summary.parquet"))
    client = (r["osl"].astype(float) - 1) / (r["decode_ms"] / 1000.0)
    ratio = (client / r["server_predicted_per_second"]).dropna()
    dev = (ratio - 1).abs()
    return {"tree": str(root), "device": ", ".join(sorted(s["device"].dropna().astype(str).unique()))[:60],
            "pinned": ", ".join(sorted(s["pinned"].astype(str).unique())), "requests": int(ratio.size),
            "median": float(ratio.median()), "p5": float(np.percentile(ratio, 5)),
            "p95": float(np.percentile(ratio, 95)), "max_dev": float(dev.max()),
            "within_3pct": int((dev <= 0.03).sum())}


def main(argv) -> None:
    rows = [fidelity(Path(a)) for a in (argv or ["results"])]
    lines = [f"## Harness fidelity — {time.strftime('%Y-%m-%d %H:%M')} on {socket.gethostname()}", "",
             f"Command: `.venv/bin/python benchmarks/harness_fidelity.py {' '.join(argv or ['results'])}`; "
             "ratio = client decode tok/s ((OSL-1)/decode time, aiperf stamps) / llama-server "
             "`predicted_per_second`, per request.", "",
             "| tree | device | pinned | requests | median ratio | p5 | p95 | max deviation | requests within 3 % |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['tree']} | {r['device']} | {r['pinned']} | {r['requests']} | {r['median']:.4f} | "
                     f"{r['p5']:.4f} | {r['p95']:.4f} | {100 * r['max_dev']:.2f} % | "
                     f"{r['within_3pct']} of {r['requests']} ({100 * r['within_3pct'] / r['requests']:.1f} %) |")
    text = "\n".join(lines) + "\n"
    publish(text)


if __name__ == "__main__":
    main(sys.argv[1:])
