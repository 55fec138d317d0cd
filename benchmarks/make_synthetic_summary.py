"""Generate a SYNTHETIC seed-scale summary (768 cells: 4 modes x 2 backends x 8 models x 4 prompts x
3 gens, plus the canonical cell at concurrency 2, 4, 8) with plausible values and energies, to prove
the figures' layouts hold at full size.

NOT a measurement. Every row carries `synthetic = True` and model_source {"synthetic": true}, and the
config written beside it sets figures.synthetic_label = "SYNTHETIC DATA", so every figure says so.

    python benchmarks/make_synthetic_summary.py OUT_DIR [--seed 0] [--requests 5]

writes OUT_DIR/summary.parquet, OUT_DIR/requests.parquet and OUT_DIR/config.yaml.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

LABEL = "SYNTHETIC DATA"
MODES = {  # throughput factor, rail power W (VDD_CPU_GPU_CV-like), GPU MHz
    "7W": (0.45, 5.0, 408), "15W": (0.75, 8.5, 612), "25W": (0.93, 12.5, 918), "MAXN": (1.0, 15.5, 1020),
}
BACKENDS = {"llamacpp": (1.0, 1.0), "ollama": (0.86, 1.06)}  # speed factor, power factor
MODELS = {  # params (M), GGUF bytes
    "smollm2-135m": (135, 105_000_000), "smollm2-360m": (360, 270_000_000), "qwen2.5-0.5b": (500, 398_000_000),
    "lfm2.5-350m": (350, 230_000_000), "lfm2.5-1.2b": (1200, 730_000_000), "qwen3-0.6b": (600, 484_000_000),
    "llama3.2-1b": (1000, 808_000_000), "gemma3-1b": (1000, 806_000_000),
}
PROMPTS = [128, 512, 1024, 2048]
GENS = [64, 128, 256]
STATS = ["avg", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "min", "max", "std"]
PREFIXES = {"ttft_ms": "ttft_ms", "ttst_ms": "ttst_ms", "itl_ms": "itl_ms", "latency_ms": "latency_ms",
            "output_tok_s_per_user": "output_tok_s_per_user", "e2e_output_tok_s": "e2e_output_tok_s",
            "prefill_tok_s_per_user": "prefill_tok_s_per_user", "isl": "isl", "osl": "osl", "decode_ms": "decode_ms"}
PEAK_GBS = 102.4
RAIL = "VDD_CPU_GPU_CV"  # the seed's rail; energy and seed-method columns both on it here


def _stats(v: np.ndarray) -> dict:
    out = {"avg": v.mean(), "min": v.min(), "max": v.max(), "std": v.std(ddof=1) if v.size > 1 else 0.0}
    for p in (1, 5, 10, 25, 50, 75, 90, 95, 99):
        out[f"p{p}"] = np.percentile(v, p)
    return out


def make(seed: int = 0, n_requests: int = 5):
    rng = np.random.default_rng(seed)
    cells, reqs = [], []
    for mode, (mf, pw, mhz) in MODES.items():
        for backend, (bf, pf) in BACKENDS.items():
            for model, (params, size) in MODELS.items():
                for ctx in PROMPTS:
                    for gen in GENS:
                        ident = {"mode": mode, "backend": backend, "model": model, "ctx": ctx, "gen": gen}
                        itl0 = (size / (0.42 * PEAK_GBS * 1e9 * mf) + 0.003) * 1000 / bf * (1 + 0.06 * ctx / 2048)
                        pre0 = 2600 * mf * bf * (500 / params) ** 0.75 * (1 - 0.08 * ctx / 2048)
                        rows = []
                        for i in range(n_requests):
                            j = lambda s: 1 + rng.normal(0, s)  # noqa: E731
                            itl = itl0 * j(0.03)
                            ttft = (ctx / pre0 * 1000 + 15) * j(0.04)
                            decode = itl * (gen - 1) * j(0.01)
                            lat = ttft + decode
                            rows.append({**ident, "request_idx": i, "benchmark_phase": "profiling", "error": None,
                                         "ttft_ms": ttft, "ttst_ms": itl * j(0.05), "itl_ms": itl, "latency_ms": lat,
                                         "decode_ms": decode, "output_tok_s_per_user": 1000 / itl,
                                         "e2e_output_tok_s": gen / lat * 1000, "prefill_tok_s_per_user": ctx / ttft * 1000,
                                         "isl": ctx, "osl": gen})
                        r = pd.DataFrame(rows)
                        row = {**ident, "quant": "Q4_K_M", "params_m": params, "model_size_bytes": size,
                               "model_source": json.dumps({"synthetic": True}), "synthetic": True,
                               "platform": "jetson (synthetic)", "device": "Jetson Orin Nano Super (synthetic)",
                               "backend_kind": backend, "backend_version": "synthetic", "llama_cpp_build": 0,
                               "aiperf_version": "synthetic", "joulebench_version": "synthetic",
                               "mode_in_force": json.dumps({"nvpmodel": mode, "gpu_mhz": mhz, "synthetic": True}),
                               "captured_at": "synthetic", "n_requests": n_requests, "n_errors": 0,
                               "osl_mismatch_pct": 0.0, "isl_mismatch_pct": 0.0}
                        for prefix, rcol in PREFIXES.items():
                            for k, v in _stats(r[rcol].to_numpy(dtype=float)).items():
                                row[f"{prefix}_{k}"] = v
                        dur = r["latency_ms"].sum() / 1000
                        row["request_throughput_rps"] = n_requests / dur
                        row["output_token_throughput_tok_s"] = n_requests * gen / dur
                        # energy: prefill a bit above the rail's typical power, decode scales with bytes moved
                        p_pre = pw * pf * 1.12 * j(0.02)
                        p_dec = pw * pf * (0.72 + 0.3 * size / 800e6) * j(0.02)
                        ttft_s, dec_s = row["ttft_ms_avg"] / 1000, row["decode_ms_avg"] / 1000
                        e_pre, e_dec = p_pre * ttft_s, p_dec * dec_s
                        resolved = row["ttft_ms_avg"] > 200  # two 100 ms sensor periods inside prefill
                        temp = 42 + 2.2 * pw + 6 * size / 800e6
                        n = n_requests  # e_* are summed over the cell's covered requests, as split/ writes them
                        row.update({
                            "e_prefill_j": n * e_pre, "e_decode_j": n * e_dec, "e_total_j": n * (e_pre + e_dec),
                            "energy_coverage": 1.0,
                            "e_idle_baseline_w": 3.1, "p_prefill_w": p_pre, "p_decode_w": p_dec,
                            "p_active_w": (e_pre + e_dec) / (ttft_s + dec_s),
                            "prefill_tok_per_j": ctx / e_pre, "decode_tok_per_j": gen / e_dec,
                            "total_tok_per_j": (ctx + gen) / (e_pre + e_dec), "mj_per_output_token": 1000 * e_dec / gen,
                            "prefill_tok_per_j_rel_unc": 0.04 if resolved else 0.35, "decode_tok_per_j_rel_unc": 0.02,
                            "total_tok_per_j_rel_unc": 0.02, "prefill_resolved": resolved, "decode_resolved": True,
                            "sensor_period_ms": 100.0, "power_w_seed_median": (p_pre * ttft_s + p_dec * dec_s) / (ttft_s + dec_s),
                            "temp_cpu_mean_c": temp, "temp_gpu_mean_c": temp + 1.5, "temp_tj_peak_c": temp + 9,
                            "throttled": bool(temp + 9 > 85), "gpu_clock_mhz_mean": mhz,
                            "energy_source": "synthetic", "telemetry_source": "tegrastats (synthetic)", "energy_method": "synthetic", "energy_reason": None,
                        })
                        # the seed's method on the seed's rail: median phase power x p50 phase time, with the
                        # decode window opened at the HTTP ack (~start), so it also holds the prefill
                        seed_pre, seed_dec = p_pre * j(0.05), p_dec * (1 + 0.04 * ctx / 2048) * j(0.03)
                        seed_dec_s = row["decode_ms_p50"] / 1000 + 0.98 * row["ttft_ms_p50"] / 1000
                        row.update({"seed_p_prefill_w": seed_pre, "seed_p_decode_w": seed_dec,
                                    "seed_prefill_tok_per_j": ctx / (seed_pre * row["ttft_ms_p50"] / 1000),
                                    "seed_decode_tok_per_j": gen / (seed_dec * seed_dec_s),
                                    "seed_total_tok_per_j": (ctx + gen) / (seed_pre * row["ttft_ms_p50"] / 1000
                                                                           + seed_dec * seed_dec_s),
                                    "energy_rail": RAIL, "seed_rail": RAIL,
                                    f"rail_{RAIL}_prefill_j": n * e_pre, f"rail_{RAIL}_decode_j": n * e_dec})
                        row["seed_tok_per_j"] = row["output_tok_s_per_user_avg"] / row["power_w_seed_median"]
                        cells.append(row)
                        r["e_prefill_j"] = e_pre * (1 + rng.normal(0, 0.03, len(r)))
                        r["e_decode_j"] = e_dec * (1 + rng.normal(0, 0.03, len(r)))
                        reqs.append(r)
    summary = pd.DataFrame(cells)
    # one sensor drop-out: the cell keeps its latencies, its energy is a gap (NaN), never a zero
    gap = (summary["mode"] == "25W") & (summary["backend"] == "ollama") & (summary["model"] == "gemma3-1b")
    for c in ("e_prefill_j", "e_decode_j", "e_total_j", "p_prefill_w", "p_decode_w", "p_active_w", "prefill_tok_per_j",
              "decode_tok_per_j", "total_tok_per_j", "mj_per_output_token", "power_w_seed_median", "seed_tok_per_j",
              "seed_p_prefill_w", "seed_p_decode_w", "seed_prefill_tok_per_j", "seed_decode_tok_per_j",
              "seed_total_tok_per_j", f"rail_{RAIL}_prefill_j", f"rail_{RAIL}_decode_j"):
        summary.loc[gap, c] = np.nan
    summary.loc[gap, ["energy_method", "energy_reason", "prefill_resolved"]] = ["none", "sensor drop-out (synthetic)", False]
    cfg = {
        "platform": "jetson",
        "modes": {m: {} for m in MODES}, "backends": {b: {"kind": b} for b in BACKENDS},
        "models": {m: {"params_m": p} for m, (p, _) in MODELS.items()},
        "sweep": {"prompt_tokens": PROMPTS, "gen_tokens": GENS, "canonical_ctx": 2048, "canonical_gen": 256},
        "figures": {"synthetic_label": LABEL, "reference_backend": "llamacpp"},
        "telemetry": {"source": "tegrastats", "tegrastats_interval_ms": 500, "headline_rail": RAIL},
        "device_profile": {"name": "Jetson Orin Nano Super 8GB (synthetic)", "peak_mem_bandwidth_gbs": PEAK_GBS},
    }
    requests = pd.concat(reqs, ignore_index=True)
    summary, requests = add_load_levels(summary, requests, cfg, rng)
    return summary, requests, cfg


LOAD_LEVELS = (1, 2, 4, 8)  # concurrency levels, measured at the canonical cell only
SLO = {"ttft_ms": 2000.0, "itl_ms": 60.0}


def add_load_levels(summary: pd.DataFrame, requests: pd.DataFrame, cfg: dict, rng):
    """The concurrency axis: every cell at concurrency 1, the canonical cell also at 2, 4, 8 with the
    load columns (system tok/s, goodput share under SLO, J per good token, steady-state tok/J).
    Batching: per-user tok/s x N^-0.35, decode tok/J x N^0.55; ITL grows as N^0.35 and a level is
    within the SLO while its p50 ITL is."""
    summary, requests = summary.assign(concurrency=1), requests.assign(concurrency=1)
    canon = summary[(summary["ctx"] == 2048) & (summary["gen"] == 256)]
    rows = [summary]
    for n in LOAD_LEVELS:
        level = canon.copy() if n > 1 else summary
        j = 1 + rng.normal(0, 0.02, len(level))
        if n > 1:
            level["concurrency"] = n
            for c in ("output_tok_s_per_user_p50", "output_tok_s_per_user_avg"):
                level[c] = level[c] * n ** -0.35 * j
            level["itl_ms_p50"] = level["itl_ms_p50"] * n ** 0.35 * j
            level["ttft_ms_p50"] = level["ttft_ms_p50"] * n ** 0.5
            for c in ("decode_tok_per_j", "total_tok_per_j"):
                level[c] = level[c] * n ** 0.55 * j
            level["mj_per_output_token"] = 1000 / level["decode_tok_per_j"]
        level["system_output_tok_s"] = level["output_tok_s_per_user_avg"] * n
        level["request_throughput_rps"] = level["system_output_tok_s"] / level["gen"]
        within = (level["itl_ms_p50"] <= SLO["itl_ms"]) & (level["ttft_ms_p50"] <= SLO["ttft_ms"])
        level["goodput_fraction"] = np.where(within, 0.97, 0.35)
        level["goodput_rps"] = level["request_throughput_rps"] * level["goodput_fraction"]
        level["slo_ttft_ms"], level["slo_itl_ms"] = SLO["ttft_ms"], SLO["itl_ms"]
        level["steady_tok_per_j"] = 0.93 * level["decode_tok_per_j"]
        level["steady_tok_per_j_rel_unc"] = 0.03
        level["energy_per_good_token_j"] = 1 / level["decode_tok_per_j"] / level["goodput_fraction"]
        if n == 1:
            rows[0] = level
        else:
            rows.append(level)
    cfg["sweep"]["concurrency"], cfg["slo"] = list(LOAD_LEVELS), dict(SLO)
    return pd.concat(rows, ignore_index=True), requests


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--requests", type=int, default=5)
    a = ap.parse_args(argv)
    import yaml

    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary, requests, cfg = make(a.seed, a.requests)
    summary.to_parquet(out / "summary.parquet", index=False)
    requests.to_parquet(out / "requests.parquet", index=False)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    print(f"{LABEL}: {len(summary)} cells, {len(requests)} requests -> {out}")


if __name__ == "__main__":
    main()
