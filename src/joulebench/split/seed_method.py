"""The seed's published method, reproduced for comparison only (labelled seed_* columns).

P_pre / P_dec = median of all power samples stamped in any [start, ack] / (ack, end] window;
prefill_J = P_pre x TTFT_p50, decode_J = P_dec x median(end - ack); tok/J from p50 token counts.
Known flaws (docs/energy-method.md): median power x median time is not an energy, ack is the HTTP
header not the first token, and an averaged sensor (NVML 1 s) reads low in short bursts.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def seed_figures(t_ns: np.ndarray, p_w: np.ndarray, req: pd.DataFrame) -> dict:
    nan = {k: np.nan for k in ("seed_p_prefill_w", "seed_p_decode_w", "seed_prefill_tok_per_j",
                               "seed_decode_tok_per_j", "seed_total_tok_per_j", "power_w_seed_median")}
    if t_ns is None or len(t_ns) == 0:
        return nan
    start = req["start_ns"].to_numpy(np.int64)
    end = req["end_ns"].to_numpy(np.int64)
    ack = pd.array(req["ack_ns"] if "ack_ns" in req else req["first_token_ns"], dtype="Int64")
    ack = np.where(ack.isna(), start, ack.fillna(0).to_numpy(np.int64))
    pre, dec = [], []
    for s, a, e in zip(start, ack, end):
        pre.append(p_w[(t_ns >= s) & (t_ns <= a)])
        dec.append(p_w[(t_ns > a) & (t_ns <= e)])
    pre, dec = np.concatenate(pre), np.concatenate(dec)
    whole = p_w[(t_ns >= start.min()) & (t_ns <= end.max())]
    p_pre = float(np.median(pre)) if pre.size else np.nan
    p_dec = float(np.median(dec)) if dec.size else np.nan
    ttft = float(np.median(req["ttft_ms"])) / 1e3
    dec_s = float(np.median(end - ack)) / 1e9
    isl, osl = float(np.median(req["isl"].astype(float))), float(np.median(req["osl"].astype(float)))
    e_pre, e_dec = p_pre * ttft, p_dec * dec_s
    return {"seed_p_prefill_w": p_pre, "seed_p_decode_w": p_dec,
            "seed_prefill_tok_per_j": isl / e_pre if e_pre > 0 else np.nan,
            "seed_decode_tok_per_j": osl / e_dec if e_dec > 0 else np.nan,
            "seed_total_tok_per_j": (isl + osl) / (e_pre + e_dec) if e_pre + e_dec > 0 else np.nan,
            "power_w_seed_median": float(np.median(whole)) if whole.size else np.nan}


def seed_decode_tok_per_j(p_dec_w, decode_s, osl) -> float:
    """OSL_p50 / (median power x median decode time), from per-request arrays."""
    return float(np.median(osl) / (np.median(p_dec_w) * np.median(decode_s)))
