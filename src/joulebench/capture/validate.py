"""A cell is accepted only if every request succeeded with exactly the target lengths."""
from __future__ import annotations

import pandas as pd


def problems(df: pd.DataFrame, ctx: int, gen: int, expected: int) -> list[str]:
    out = []
    if len(df) != expected:
        out.append(f"{len(df)} profiling records, expected {expected}")
    for _, r in df.iterrows():
        tag = f"request {r['request_idx']}"
        if r.get("error"):
            out.append(f"{tag}: error {r['error'][:300]}")
            continue
        if r.get("cancelled"):
            out.append(f"{tag}: cancelled (timeout?)")
        if pd.isna(r["isl"]) or int(r["isl"]) != ctx:
            out.append(f"{tag}: ISL {r['isl']} != target {ctx} (server count)")
        if pd.isna(r["osl"]) or int(r["osl"]) != gen:
            out.append(f"{tag}: OSL {r['osl']} != target {gen} (server count)")
        ft = r["first_token_ns"]
        if pd.isna(ft) or not (r["start_ns"] < ft < r["end_ns"]):
            out.append(f"{tag}: first token {ft} not strictly inside [{r['start_ns']}, {r['end_ns']}]")
    return out
