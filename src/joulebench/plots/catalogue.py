"""The catalogue as data: one `Spec` per figure or table — its file name, what it shows, how it is
computed, the reference study's (seed report's) equivalent, the data it needs and what it is repeated
over. `render_catalogue` only expands and runs the specs. File names keep the seed's where it had one,
with a gen/ctx suffix from the data; the seed's colliding names each have exactly one writer here."""
from __future__ import annotations

import logging
import multiprocessing
import sys
import traceback
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from . import (concurrency, energy, facets, grouped_bars, pareto, ratios, reference_method, roofline, setup_tables,
               tables, vs_mode)
from .common import METRICS, RAIL_COLUMNS, ResultsView, finite
from .style import backend_label

log = logging.getLogger(__name__)

BOOT = "error bars: 95% bootstrap CI of the median over the cell's requests (seeded)"
REL = "error bars: 95% interval, value x (1 ± 1.96 x *_rel_unc) from the energy split (or the summary's *_ci95_*)"
NO_INTERVAL = "no interval available"


def interval_note(column: str) -> str:
    if column.endswith("_p50"):
        return BOOT
    if column in ("decode_tok_per_j", "prefill_tok_per_j", "total_tok_per_j", "mj_per_output_token"):
        return REL
    return NO_INTERVAL


# ---- what a spec is repeated over (each returns the parameter sets) ------------------------------
def once(v):
    return [{}]


def canonical_gen(v):
    return [{"g": v.canonical[1]}]


def every_gen(v):
    return [{"g": g} for g in v.gens]


def canonical_ctx(v):
    return [{"c": v.canonical[0]}]


def every_ctx(v):
    return [{"c": c} for c in v.ctxs]


def other_backends(v):
    return [{"other": o, "other_label": backend_label(o), "sfx": "" if i == 0 else f"_{o}"}
            for i, o in enumerate(v.backends[1:])]


def every_backend(v):
    return [{"backend": b, "i9": 9 + i} for i, b in enumerate(v.backends)]


def every_backend_mode(v):
    return [{"backend": b, "mode": m} for b in v.backends for m in v.modes]


# ---- conditions (a reason not to draw, or None) ---------------------------------------------------
def two_modes(v):
    return None if len(v.modes) >= 2 else "needs at least two power modes"


def two_backends(v):
    return None if len(v.backends) >= 2 else "needs at least two backends"


def two_series(v):
    return None if len(v.series()) > 1 else "needs at least two mode-series"


def peak_bandwidth(v):
    return None if roofline.peak_bandwidth_gbs(v.cfg) else "config device_profile.peak_mem_bandwidth_gbs is not set"


@dataclass(frozen=True)
class Spec:
    name: str  # file name template ({g}, {c}, {sfx}, {mode}, {backend}, {ref_mode}, ...)
    build: Callable  # (view, params) -> (fig, data) for a figure; DataFrame or (DataFrame, markdown) for a table
    what: str
    how: str
    reference: str = ""  # the reference study's equivalent
    needs: str | None = None  # METRICS key whose column must hold data (figures)
    over: Callable = once
    requires: Callable | None = None
    kind: str = "figure"


def reference_mode(v) -> str:
    return "15W" if "15W" in v.modes else v.modes[0]


# ---- spec families --------------------------------------------------------------------------------
def vs_mode_spec(key, name, ref, all_gens):
    return Spec(name, lambda v, p: vs_mode.build_vs_mode(v, key, p["C"], p["g"]),
                "{label} vs power mode, ctx {C}, gen {g}; colour = model, solid = {ref}, dashed = other backends",
                "`{col}` per cell; {unc}", ref, key, every_gen if all_gens else canonical_gen)


def facet_spec(key, name, ref, along, every):
    if along == "ctx":
        return Spec(name, lambda v, p: facets.build_facet(v, key, "ctx", p["g"]),
                    "{label} vs prompt length at gen {g}; one panel per model, one line per mode-series",
                    "`{col}` per cell; shared y 0..1.15 x max; {unc}", ref, key, every_gen)
    return Spec(name, lambda v, p: facets.build_facet(v, key, "gen", p["c"]),
                "{label} vs generation length at ctx {c}; one panel per model", "`{col}` per cell; {unc}", ref, key,
                every_ctx if every else canonical_ctx)


def bars_spec(key, name, ref):
    return Spec(name, lambda v, p: grouped_bars.build_cell_bars(v, key, p["C"], p["G"]),
                "{label} at the canonical cell (ctx {C}, gen {G}); x = model, bars = mode-series",
                "`{col}`; {unc}", ref, key)


def stacked_spec(name, keys, ref, ref_lines=None):
    return Spec(name, lambda v, p: vs_mode.build_stacked(v, keys, p["C"], p["G"], ref_lines),
                " / ".join(METRICS[k][1] for k in keys) + " vs mode, canonical cell (ctx {C}, gen {G})",
                ", ".join(f"`{METRICS[k][0]}`" for k in keys), ref, keys)


def mode_ratio_spec(name, key, direction, ref, how="canonical"):
    return Spec(name, lambda v, p: ratios.build_mode_ratios(v, key, direction, p["C"], p["G"], how),
                "{label} ratio for every pair of modes (" + direction + "), one panel per backend, x = model; "
                + ratios.RATIO_DEFINITIONS[how],
                "`{col}` of one mode ÷ another" + (", per (ctx, gen) cell, then the median" if how != "canonical" else ""),
                ref, key, requires=two_modes)


def backend_ratio_spec(name, keys, ref):
    return Spec(name + "{sfx}", lambda v, p: ratios.build_backend_ratio_chart(v, keys, p["other"], p["C"], p["G"]),
                "{ref} ÷ {other_label} per mode: " + ", ".join(METRICS[k][1] for k in keys),
                "ratio of the canonical cell's values; dotted line = 1", ref, keys, other_backends, two_backends)


def table_spec(name, build, what, how, ref="", over=once, requires=None):
    return Spec(name, build, what, how, ref, None, over, requires, kind="table")


def _prefill_median(v, p):
    col = v.col("prefill_tput")
    d = pd.concat([grouped_bars.cell_data(v, col, c, p["G"]) for c in v.ctxs])
    d = d.groupby(["model", "series", "mode", "backend"], sort=False)["value"].median().reset_index()
    d["lo"] = d["hi"] = np.nan
    return grouped_bars.build_data_bars(v, d, v.metrics["prefill_tput"][1] + " (median over prompt lengths)",
                                        f"prefill tok/s at gen {p['G']}, median over prompts {v.ctxs}")


def _best_bar(v, p):
    d = grouped_bars.best_over_cells(v, v.col("tok_j"))
    return grouped_bars.build_data_bars(v, d, v.metrics["tok_j"][1] + ", best over all (ctx, gen) cells",
                                        "best output tok/J (decode phase) per model and mode-series")


def _speedup(v, p):
    m, ref = p["ref_mode"], backend_label(v.ref_backend)
    return grouped_bars.build_data_bars(v, grouped_bars.speedup_vs_reference(v, m), f"tok/s ÷ {m} {ref}",
                                        f"speed-up vs {m} ({ref}): median tok/s over all cells", hline=1.0)


def _canonical_table(v, p):
    canon = grouped_bars.cell_data(v, v.col("tok_s"), p["C"], p["G"])[["model", "series"]].copy()
    for key in ("tok_s", "tok_j", "seed_decode_tok_j", "ttft", "itl", "power"):
        canon[v.metrics[key][1]] = grouped_bars.cell_data(v, v.col(key), p["C"], p["G"])["value"].to_numpy()
    return canon


def _ratio_table(key, beside, invert):
    return lambda v, p: tables.backend_ratio_by_mode(v, key, p["other"], invert=invert, beside=beside)


# One facet chart family per row: metric key | x axis | every | file name | reference equivalent.
# every: vs-gen charts run at every ctx ("all") or the canonical one ("canonical"); vs-prompt ones run at every gen.
FACET_TABLE = """
tok_s         | ctx | all       | 1_tok_s_vs_prompt_gen{g}          | CHARTS #1
tok_j         | ctx | all       | 2_tok_j_vs_prompt_gen{g}          | CHARTS #2
prefill_tok_j | ctx | all       | EF_prefill_tokj_vs_prompt_gen{g}  | CHARTS_OLD 22e_*_vs_prompt / §6
total_tok_j   | ctx | all       | EF_total_tokj_vs_prompt_gen{g}    | CHARTS_OLD 22g_*_vs_prompt / §6
rl            | ctx | all       | EF_req_latency_vs_prompt_gen{g}   | CHARTS #38-40 (gen 256 was 22a_request_latency_vs_prompt_gen256)
ttft          | ctx | all       | EG_ttft_vs_prompt_gen{g}          | CHARTS #41-42
itl           | ctx | all       | EH_itl_vs_prompt_gen{g}           | CHARTS #43-45 (no alias overwrites it here)
prefill_tput  | ctx | all       | EI_prefill_tput_vs_prompt_gen{g}  | H.1a-b, CHARTS #46-48
power         | ctx | all       | EP_power_vs_prompt_gen{g}         | (new)
ttft          | gen | all       | EG_ttft_vs_gen_ctx{c}             | CHARTS #49-52
itl           | gen | all       | EH_itl_vs_gen_ctx{c}              | CHARTS #53-56
prefill_tput  | gen | all       | EI_prefill_tput_vs_gen_ctx{c}     | CHARTS #57-60
decode_tok_j  | gen | all       | EF_decode_tokj_vs_gen_ctx{c}      | CHARTS_OLD EF_decode_tokj_vs_gen_ctx*
tok_s         | gen | canonical | 1_tok_s_vs_gen_ctx{c}             | (new)
total_tok_j   | gen | canonical | EF_total_tokj_vs_gen_ctx{c}       | (new)
rl            | gen | canonical | EF_req_latency_vs_gen_ctx{c}      | (new)
power         | gen | canonical | EP_power_vs_gen_ctx{c}            | (new)
"""
FACETS = [tuple(cell.strip() for cell in row.split("|")) for row in FACET_TABLE.strip().splitlines()]

SPECS: list[Spec] = [
    # ---- vs mode --------------------------------------------------------------------------------
    vs_mode_spec("tok_s", "1_tok_s_vs_mode_gen{g}", "Fig 1 / APPAB appendix_a_tok_s", False),
    vs_mode_spec("tok_j", "3_tok_j_vs_mode_gen{g}", "Fig 3 / APPAB appendix_a_tokj", False),
    vs_mode_spec("prefill_tok_j", "EF_prefill_tokj_vs_mode_gen{g}", "D.1a-c (Fig 4 = 22e alias at gen 256)", True),
    vs_mode_spec("decode_tok_j", "EF_decode_tokj_vs_mode_gen{g}", "D.2a-c (Fig 5 = 22f alias at gen 256)", True),
    vs_mode_spec("total_tok_j", "EF_total_tokj_vs_mode_gen{g}", "D.3a-c (Fig 6 = 22g alias at gen 256)", True),
    vs_mode_spec("rl", "EF_req_latency_vs_mode_gen{g}", "E.1a-c", True),
    vs_mode_spec("ttft", "EG_ttft_vs_mode_gen{g}", "F.1a-b (seed: gen 64, 256)", True),
    vs_mode_spec("itl", "EH_itl_vs_mode_gen{g}", "G.1a-c; Fig 14 (seed copied it over EH_itl_vs_prompt_gen256)", True),
    vs_mode_spec("prefill_tput", "EI_prefill_tput_vs_mode_gen{g}", "(new) vs-mode of prefill tok/s", False),
    vs_mode_spec("p_decode", "EP_decode_power_vs_mode_gen{g}", "APPAB appendix_a_power (decode power; seed hardcoded)",
                 False),
    vs_mode_spec("power", "EP_power_vs_mode_gen{g}", "(new) whole-window median power vs mode", False),
    # ---- facets: one panel per model (FACETS below) ------------------------------------------------
    *[facet_spec(key, name, ref, along, every == "all") for key, along, every, name, ref in FACETS],
    # ---- canonical grouped bars -----------------------------------------------------------------
    bars_spec("ttft", "5_ttft_vs_prompt", "Fig 7 (seed name kept; it is bars at the canonical cell, not vs prompt)"),
    bars_spec("itl", "8_itl_compare", "Fig 8"),
    bars_spec("rl", "10_request_latency_compare", "Fig 9"),
    bars_spec("power", "4_avg_power_bar", "Fig 11 / CHARTS #4"),
    Spec("11_canonical_cell_comparison_ctx{C}_gen{G}", lambda v, p: grouped_bars.build_canonical_comparison(v, p["C"], p["G"]),
         "tok/s (left) and tok/J (right) at the canonical cell", f"`{METRICS['tok_s'][0]}`, `{METRICS['tok_j'][0]}`; "
         f"{BOOT}; {REL}", "Fig 2 / CHARTS #12", "tok_s"),
    Spec("9_prefill_compare", _prefill_median, "prefill tok/s per model and mode-series at gen {G}, median over the "
         "prompt lengths", "median of `{col}` over ctx", "Fig 10 / CHARTS #11", "prefill_tput"),
    Spec("3_best_tok_j_bar", _best_bar, "max tok/J over every (ctx, gen) cell",
         "max of `{col}`; bar interval = that cell's; the CSV says which cell", "CHARTS #3", "tok_j"),
    Spec("6_speedup_vs_{ref_mode}", _speedup, "speed-up vs {ref_mode} ({ref}): median tok/s over all cells",
         "median tok/s over all cells of each series ÷ that of {ref_mode} on {ref_backend}; ratio of medians; 1 = same "
         "speed", "CHARTS #6 (6_speedup_vs_15w)", "tok_s", requires=two_series),
    Spec("E_mj_per_output_token", lambda v, p: grouped_bars.build_cell_bars(
        v, "mj_tok", p["C"], p["G"], hatch_other=True,
        title=f"{v.metrics['mj_tok'][1]}, decode energy / OSL, ctx {p['C']}, gen {p['G']}"),
         "mJ per output token at the canonical cell; other backends hatched",
         "`mj_per_output_token` = 1000 x decode J / OSL, measured (the seed hardcoded it); " + REL,
         "Fig 17 (single writer; the seed had two)", "mj_tok"),
    Spec("E_total_energy_vs_gen_length", lambda v, p: energy.energy_vs_gen(v, p["C"]),
         "energy per request (J) vs generation length at ctx {C}, one panel per mode",
         "`e_total_j` ÷ (`energy_coverage` x `n_requests`): the mean covered request's energy, measured for every "
         "backend (the seed hardcoded llama.cpp and derived Ollama)",
         "Fig 16 (single writer; the seed had two)", "e_total"),
    # ---- appendix stacked vs-mode charts ---------------------------------------------------------
    stacked_spec("appendix_a_toks_ttft", ["tok_s", "ttft"], "A.1"),
    stacked_spec("appendix_a_itl", ["itl"], "A.2"),
    stacked_spec("appendix_a_power_tokj", ["p_decode", "tok_j"], "A.3 (seed hardcoded; computed here)"),
    stacked_spec("appendix_h_prefill_ttft", ["prefill_tput", "ttft"], "H.0"),
    Spec("appendix_b_thermal_lines", lambda v, p: vs_mode.build_thermal_lines(v),
         "per model and backend over the model's whole window (all its cells of each mode): power (top) and peak TJ "
         "(bottom) vs mode", "the thermal_summary aggregation: median of the cells' `power_w_seed_median`, max of "
         "`temp_tj_peak_c`; red dotted line = 95 °C", "B.1 (seed hardcoded llama.cpp; computed here)", ["power", "tj_peak"]),
    # ---- heatmaps / scatter / resolution ---------------------------------------------------------
    Spec("EP_prefill_power_heatmap_canonical", lambda v, p: energy.power_heatmap(v, "p_prefill", "OrRd"),
         "prefill power per model x mode-series, canonical cell", "`p_prefill_w` = prefill J / prefill s", "CHARTS #8",
         "p_prefill"),
    Spec("EP_decode_power_heatmap_canonical", lambda v, p: energy.power_heatmap(v, "p_decode", "Blues"),
         "decode power per model x mode-series, canonical cell", "`p_decode_w` = decode J / decode s", "CHARTS #9",
         "p_decode"),
    Spec("10_tok_s_vs_power_scatter", lambda v, p: energy.tok_s_vs_power(v), "tok/s vs whole-window median power, "
         "every cell", "`power_w_seed_median`, `output_tok_s_per_user_p50`", "CHARTS_OLD 10", "power"),
    Spec("prefill_resolved_map", lambda v, p: energy.prefill_resolved_map(v),
         "which cells' prefill energy is resolved / measured but unresolved / not measured",
         "`prefill_resolved`, `e_prefill_j`, `energy_method`", "(new: the seed could not show it)"),
    # ---- the headline: the seed's method against joulebench's -----------------------------------
    Spec("seed_method_vs_joulebench", lambda v, p: reference_method.build_method_comparison(v),
         "decode tok/J per cell: the seed's method (y) vs joulebench (x), and the difference per cell with "
         "joulebench's 95 % interval", "`seed_decode_tok_per_j` (median decode-window W x p50 decode s, on the "
         "seed-method rail) vs `decode_tok_per_j` (integrated energy, ratio of sums); " + REL,
         "(new: what the seed's scripts cannot show)", ["seed_decode_tok_j", "decode_tok_j"]),
    table_spec("seed_method_vs_joulebench_cells", lambda v, p: reference_method.method_comparison(v),
               "every cell: seed-method and joulebench decode tok/J, joulebench's 95 % interval, difference in % "
               "with its interval, whether the seed's value is inside the interval",
               "difference = seed / joulebench - 1; its interval from joulebench's", "(new)"),
    # ---- ratios between modes --------------------------------------------------------------------
    mode_ratio_spec("12_speedup_ratios_comparison", "tok_s", "num/den", "Fig 12"),
    mode_ratio_spec("13_ttft_speedup_ratios", "ttft", "den/num", "CHARTS #15"),
    mode_ratio_spec("13_ttft_speedup_ratios_median_of_cells", "ttft", "den/num",
                    "blog prose / I.9: latency speed-ups as the median of per-combo ratios", "median_cells"),
    mode_ratio_spec("14_decode_time_speedup_ratios", "decode_time", "den/num", "Fig 15"),
    mode_ratio_spec("14_decode_time_speedup_ratios_median_of_cells", "decode_time", "den/num",
                    "blog prose / I.9: latency speed-ups as the median of per-combo ratios", "median_cells"),
    mode_ratio_spec("18_prefill_tput_speedup_ratios", "prefill_tput", "num/den", "Fig 13"),
    # ---- ratios between backends -----------------------------------------------------------------
    backend_ratio_spec("appendix_c_ratio_chart", ["tok_s", "tok_j"], "C.0 (bottom was hardcoded)"),
    backend_ratio_spec("appendix_c1_prefill_ratio_chart", ["prefill_tput"], "C.1"),
    backend_ratio_spec("appendix_c3_latency_power_ratio", ["ttft", "itl", "p_decode"],
                       "C.2 (power = decode power, as the blog; it was hardcoded)"),
    table_spec("ratio_tables{sfx}", lambda v, p: ratios.backend_ratio_tables(v, p["other"], p["C"], p["G"]),
               "per mode: tok/s, tok/J, TTFT, ITL, whole-window power ratio {ref} ÷ {other_label}",
               "canonical cell; '--' = not measured", "ratio_tables.md (CHARTS #18)", other_backends, two_backends),
    table_spec("table6_tok_s_ratio_by_mode{sfx}", _ratio_table("tok_s", None, False),
               "tok/s ratio {ref} ÷ {other_label} per model x mode", "canonical cell, `output_tok_s_per_user_p50`",
               "Table 6", other_backends, two_backends),
    table_spec("table7_tok_j_ratio_by_mode{sfx}", _ratio_table("seed_decode_tok_j", "decode_tok_j", False),
               "tok/J ratio {ref} ÷ {other_label} per model x mode: the seed's decode tok/J, joulebench's beside it",
               "canonical cell; `seed_decode_tok_per_j` [{ref_rail}], then `decode_tok_per_j` [{rail}]",
               "Table 7", other_backends, two_backends),
    table_spec("table8_power_ratio_by_mode{sfx}", _ratio_table("seed_p_decode", "p_decode", True),
               "decode power ratio {other_label} ÷ {ref} per model x mode (the blog's direction)",
               "canonical cell; `seed_p_decode_w` (median of decode-window samples) [{ref_rail}], then joulebench's "
               "`p_decode_w` (decode J / decode s) [{rail}]", "Table 8 (decode power, other ÷ reference)",
               other_backends, two_backends),
    table_spec("head_to_head_{h2h_mode}{sfx}", lambda v, p: tables.head_to_head(v, p["h2h_mode"], p["other"]),
               "{h2h_mode}: both backends side by side (tok/s, the seed's tok/J, joulebench's decode tok/J, ratios)",
               "canonical cell; ratios {ref} ÷ {other_label}", "§4.1", other_backends, two_backends),
    # ---- beyond the seed -------------------------------------------------------------------------
    Spec("pareto_tok_s_vs_tok_j", lambda v, p: pareto.build_pareto(v),
         "per model: tok/s vs tok/J of every mode-series at the canonical cell, Pareto front dashed",
         "a point is on the front if no other point is at least as good on both and better on one", "(new)", "tok_j"),
    table_spec("recommended_modes", lambda v, p: pareto.recommend(v, pareto.pareto_data(v)),
               "recommended mode per model for fastest / most efficient / balanced, with numbers",
               "fastest = max tok/s; most efficient = max tok/J; balanced = Pareto point with the largest geometric "
               "mean of tok/s/max and tok/J/max", "Table 11 (computed)"),
    Spec("roofline_decode_bandwidth", lambda v, p: roofline.build_roofline(v, roofline.peak_bandwidth_gbs(v.cfg)),
         "decode bandwidth utilisation per model and mode-series at the canonical cell",
         "model_size_bytes x output tok/s ÷ device_profile.peak_mem_bandwidth_gbs (one full weight read per token); "
         "dotted line = 100 %", "(new)", "tok_s", requires=peak_bandwidth),
    # ---- under load: the concurrency axis (issue 14) ---------------------------------------------
    Spec("C1_tok_j_vs_concurrency_ctx{C}_gen{G}", lambda v, p: concurrency.tok_j_vs_concurrency(v, p["C"], p["G"]),
         "decode tok/J vs concurrency per model at the canonical cell (ctx {C}, gen {G}), one line per mode-series; "
         "steady-state tok/J dotted beside it",
         "`decode_tok_per_j` (requests overlapping: each sample's energy in equal shares among the requests in "
         "flight, docs/energy-method.md); `steady_tok_per_j` = output tokens / energy from the N-th first token to "
         "the (total - N)-th completion; " + REL, "(new: ML.ENERGY's steady-state window)", "decode_tok_j",
         requires=concurrency.two_concurrencies),
    Spec("C2_system_vs_user_tok_s_ctx{C}_gen{G}", lambda v, p: concurrency.system_vs_user_pareto(v, p["C"], p["G"]),
         "system output tok/s vs per-user tok/s per model, one point per mode-series and concurrency (N=...), "
         "colour = decode tok/J, Pareto front dashed (ctx {C}, gen {G})",
         "`system_output_tok_s` vs `output_tok_s_per_user_p50`; front = points no other point of the model beats on "
         "both; colour `decode_tok_per_j`, grey hollow where not measured", "(new: vllm bench sweep's Pareto)",
         "system_tok_s"),
    Spec("C3_max_concurrency_within_slo_ctx{C}_gen{G}", lambda v, p: concurrency.max_within_slo_chart(v, p["C"], p["G"]),
         "per model and mode-series: the largest concurrency within the SLO, labelled with its energy per good "
         "token (ctx {C}, gen {G})",
         f"max `concurrency` with `goodput_fraction` >= {concurrency.GOOD_FRACTION:.0%} (requests meeting "
         "`slo_ttft_ms` / `slo_itl_ms`, metrics/slo.py); label = 1000 x `energy_per_good_token_j` (every covered "
         "request's equal-share energy / output tokens of the good ones)", "(new: the sweet-spot question)",
         "goodput_fraction"),
    table_spec("max_concurrency_within_slo", lambda v, p: concurrency.max_within_slo(v, p["C"], p["G"]),
               "per model and mode-series at the canonical cell: largest concurrency within the SLO, its goodput "
               "share, mJ per good token, decode tok/J, system tok/s; `status` says why a row has none",
               f"max `concurrency` with `goodput_fraction` >= {concurrency.GOOD_FRACTION:.0%}", "(new)"),
    # ---- tables ----------------------------------------------------------------------------------
    table_spec("table2_hardware", lambda v, p: setup_tables.hardware(v), "hardware the cells ran on",
               "summary provenance (platform, device, host, TJ) + config device_profile", "Table 2"),
    table_spec("table3_software", lambda v, p: setup_tables.software(v), "software stack with versions",
               "summary provenance (backend/aiperf/joulebench versions, llama.cpp commit, telemetry source, rails) + "
               "config (server settings, sampling interval)", "Table 3"),
    table_spec("table4_models", lambda v, p: setup_tables.models(v), "models: quantisation, GGUF size, params, tokenizer",
               "summary provenance (quant, model_size_bytes, params_m, sha256) + config (tokenizer, source)", "Table 4"),
    table_spec("appendix_i_definitions", lambda v, p: setup_tables.definitions(v),
               "every metric: its column, joulebench's definition and the seed's, rails named", "static definitions "
               "+ the rails recorded in the summary", "Appendix I"),
    table_spec("report_full_results_{mode}_{backend}", lambda v, p: tables.full_results(v, p["mode"], p["backend"]),
               "Full Results {mode} / {backend}: one row per cell, the seed's 33 columns, then joulebench's",
               "aiperf aggregates; Power = the model window's mean W [{ref_rail}] (energy ÷ active time over the "
               "model's cells); Tok/J = Tok/s avg ÷ Power (seed bench scripts); then the cell's median W and "
               "joulebench's decode tok/J", "report.md §8.1", every_backend_mode),
    table_spec("best_tok_j_per_model", lambda v, p: tables.best_tok_j_per_model(v),
               "best output tok/J per model and backend: the seed's (Tok/s avg ÷ window mean W), joulebench's best "
               "decode tok/J beside it", "max over every mode and cell of each", "report.md 'Best Output Tok/J'"),
    table_spec("thermal_summary", lambda v, p: tables.thermal_summary(v),
               "per model window: avg power, median of cell medians, mean CPU/GPU °C, peak TJ, throttled",
               "Avg Power = Σ request energy ÷ Σ active s over the model's cells [{ref_rail}] (the seed: mean of the "
               "window's samples); throttled from the sensor flag, else TJ > 85 °C", "report.md 'Thermal Summary'"),
    table_spec("median_power_per_model_mode", lambda v, p: tables.median_power_per_model_mode(v),
               "median power per model x mode-series", "median over every (ctx, gen) cell of `power_w_seed_median` "
               "[{ref_rail}]", "CHARTS console table 'median power per model x mode'"),
    table_spec("table1_fastest_per_mode", lambda v, p: tables.fastest_per_mode(v),
               "fastest model per mode and backend", "max output tok/s p50 at the canonical cell; Tok/J = "
               "`seed_decode_tok_per_j`, joulebench's beside it", "Table 1"),
    table_spec("table5_power_modes", lambda v, p: tables.power_modes(v),
               "what each mode put in force, measured active power range", "mode_in_force, gpu_clock_mhz_mean, "
               "p_active_w [{rail}]", "Table 5"),
    table_spec("table{i9}_canonical_{backend}", lambda v, p: tables.canonical_per_backend(v, p["backend"]),
               "{backend}: canonical tok/s and tok/J per model x mode, peak tok/J mode with its values",
               "canonical cell; tok/J = `seed_decode_tok_per_j` [{ref_rail}]; ties at 2 decimals joined '15W/25W'; "
               "joulebench's `decode_tok_per_j` [{rail}] beside", "Tables 9/10", every_backend),
    table_spec("best_total_tok_j_per_model", lambda v, p: tables.best_total_tok_j(v),
               "best total tok/J per model on {ref}", "max of `seed_total_tok_per_j` over every mode and cell of the "
               "reference backend (as the seed), joulebench's `total_tok_per_j` beside it", "§3.5"),
    table_spec("canonical_cell_table", _canonical_table,
               "canonical cell per model x mode-series: tok/s, tok/J (both methods), TTFT, ITL, power",
               "p50s and energy columns of the canonical cell", "CHARTS console table (saved here)"),
]


def _params(view: ResultsView) -> dict:
    C, G = view.canonical
    return {"C": C, "G": G, "g": G, "c": C, "sfx": "", "other": "", "other_label": "", "mode": "", "backend": "",
            "i9": 9, "ref": backend_label(view.ref_backend), "ref_backend": view.ref_backend,
            "ref_mode": reference_mode(view), "h2h_mode": reference_mode(view),
            "rail": view.energy_rail or "rail not recorded", "ref_rail": view.ref_rail or "rail not recorded"}


def _needs(spec: Spec) -> list[str]:
    return [] if spec.needs is None else ([spec.needs] if isinstance(spec.needs, str) else list(spec.needs))


class Catalogue:
    def __init__(self, view: ResultsView):
        self.view = view

    def reason(self, column: str) -> str:
        s = self.view.summary
        if column in RAIL_COLUMNS and "energy_reason" in s:
            reasons = sorted({str(r) for r in s["energy_reason"].dropna().unique() if str(r)})
            if reasons:
                return f"{column} not measured ({'; '.join(reasons)})"
        return f"{column} has no value in these results"

    def run(self, spec: Spec, p: dict) -> None:
        view = self.view
        keys = _needs(spec)
        col = view.col(keys[0]) if keys else ""
        p = {**p, "col": col, "unc": interval_note(col) if col else NO_INTERVAL,
             "label": view.metrics[keys[0]][1] if keys else ""}
        name, what, how = spec.name.format(**p), spec.what.format(**p), spec.how.format(**p)
        if spec.kind == "table":
            try:
                result = spec.build(view, p)
            except Exception as exc:  # as for figures: the index says why, the other tables still come
                log.error("table %s failed: %s\n%s", name, exc, traceback.format_exc())
                view.table(pd.DataFrame(), name, what, how, spec.reference, reason=f"error: {type(exc).__name__}: {exc}")
                view.entries[-1].status = "error"
                return
            df, md = result if isinstance(result, tuple) else (result, None)
            view.table(df, name, what, how, spec.reference)
            if md is not None:
                (view.out / f"{name}.md").write_text(md + "\n")
            return
        have = [k for k in keys if view.has(view.col(k))]
        if keys and not have:
            view.placeholder(name, self.reason(col), what, how, spec.reference)
            return
        try:
            fig, data = spec.build(view, p)
        except Exception as exc:  # one broken chart must not hide the others; the index says why
            log.error("figure %s failed: %s\n%s", name, exc, traceback.format_exc())
            view.placeholder(name, f"error: {type(exc).__name__}: {exc}", what, how, spec.reference)
            view.entries[-1].status = "error"
            return
        vcol = "value" if "value" in data else ("ratio" if "ratio" in data else None)
        if vcol is not None and not finite(data[vcol]):
            import matplotlib.pyplot as plt

            plt.close(fig)
            view.placeholder(name, self.reason(col or vcol), what, how, spec.reference)
            return
        view.save(fig, name, data, what, how, spec.reference)

    def render(self, spec: Spec) -> None:
        base = _params(self.view)
        reason = spec.requires(self.view) if spec.requires else None
        if reason:
            name = spec.name.format(**base, col="", unc="", label="")
            what = spec.what.format(**base, col="", unc="", label=METRICS[_needs(spec)[0]][1] if _needs(spec) else "")
            if spec.kind == "table":
                self.view.table(pd.DataFrame(), name, what, "", spec.reference, reason=reason)
            else:
                self.view.placeholder(name, reason, what, reference=spec.reference)
            return
        for extra in spec.over(self.view):
            self.run(spec, {**base, **extra})


def render_catalogue(view: ResultsView, workers: int = 1) -> None:
    """Every spec, in order; with workers > 1 (the plot job's threads) spread over forked processes
    on Linux, their index entries put back in catalogue order."""
    # fork only on Linux: macOS lists it, but its system libraries are not safe to fork after use
    if workers <= 1 or not sys.platform.startswith("linux"):
        cat = Catalogue(view)
        for spec in SPECS:
            cat.render(spec)
        return
    global _FORKED_VIEW
    _FORKED_VIEW = view  # the children see the view as built here (fork: no pickling, no second build)
    try:
        shares = _in_forked_workers(workers)
    finally:
        _FORKED_VIEW = None
    by_spec = {}
    for done, drawn, copied in shares:
        by_spec.update(done)
        if view.kept is not None:
            view.kept.drawn.update(drawn)
            view.kept.copied.extend(copied)
    for i in range(len(SPECS)):
        view.entries.extend(by_spec[i])


_FORKED_VIEW: ResultsView | None = None


def _in_forked_workers(workers: int) -> list:
    """Worker k draws specs k, k + workers, ... in order, each in a fresh fork of this process: what
    a chart's key depends on of earlier drawing in its process (matplotlib's shared objects,
    reuse.py) is then the same in every run. A worker that fails or dies fails the plot job."""
    ctx = multiprocessing.get_context("fork")
    started = []
    for k in range(workers):
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_render_share, args=(k, workers, send), name=f"figures-{k}", daemon=True)
        proc.start()
        send.close()
        started.append((proc, receive))
    shares, failed = [], []
    for proc, receive in started:
        try:
            outcome, value = receive.recv()
        except EOFError:  # it died without a word (killed, out of memory)
            outcome, value = "died", None
        proc.join()
        if outcome == "ok":
            shares.append(value)
        else:
            failed.append(f"{proc.name} (exit code {proc.exitcode}): {value or 'died'}")
    if failed:
        raise RuntimeError("figure workers failed:\n" + "\n".join(failed))
    return shares


def _render_share(k: int, workers: int, send) -> None:
    """In a forked worker: each of its specs' index entries, and the charts it keyed and copied."""
    try:
        view = _FORKED_VIEW
        cat = Catalogue(view)
        done = {}
        for i in range(k, len(SPECS), workers):
            first = len(view.entries)
            cat.render(SPECS[i])
            done[i] = view.entries[first:]
        kept = view.kept
        send.send(("ok", (done, kept.drawn if kept else {}, kept.copied if kept else [])))
    except BaseException:
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()
