"""The catalogue: every figure and table, its file name, what it shows, how it is computed and the
seed chart it stands for. File names keep the seed's where it had one, with a gen/ctx suffix from
the data; the seed's colliding names each have exactly one writer here."""
from __future__ import annotations

import logging
import traceback

import numpy as np
import pandas as pd

from . import energy, facets, grouped_bars, pareto, ratios, roofline, tables, vs_mode
from .common import METRICS, Context, finite
from .style import backend_label

log = logging.getLogger(__name__)

ENERGY_COLUMNS = {"decode_tok_per_j", "prefill_tok_per_j", "total_tok_per_j", "seed_tok_per_j", "power_w_seed_median",
                  "p_prefill_w", "p_decode_w", "e_total_j", "mj_per_output_token", "temp_tj_peak_c"}
P50 = "p50 of the cell's requests (aiperf aggregate)"
BOOT = "error bars: 95% bootstrap CI of the median over the cell's requests (seeded)"
REL = "error bars: value x (1 ± *_rel_unc) from the energy split"

VS_MODE = [  # key, name template, seed ref, all gens?
    ("tok_s", "1_tok_s_vs_mode_gen{g}", "Fig 1 / APPAB appendix_a_tok_s", False),
    ("tok_j", "3_tok_j_vs_mode_gen{g}", "Fig 3 / APPAB appendix_a_tokj", False),
    ("prefill_tok_j", "EF_prefill_tokj_vs_mode_gen{g}", "D.1a-c (Fig 4 = 22e alias at gen 256)", True),
    ("decode_tok_j", "EF_decode_tokj_vs_mode_gen{g}", "D.2a-c (Fig 5 = 22f alias at gen 256)", True),
    ("total_tok_j", "EF_total_tokj_vs_mode_gen{g}", "D.3a-c (Fig 6 = 22g alias at gen 256)", True),
    ("rl", "EF_req_latency_vs_mode_gen{g}", "E.1a-c", True),
    ("ttft", "EG_ttft_vs_mode_gen{g}", "F.1a-b (seed: gen 64, 256)", True),
    ("itl", "EH_itl_vs_mode_gen{g}", "G.1a-c; Fig 14 (seed copied it over EH_itl_vs_prompt_gen256)", True),
    ("prefill_tput", "EI_prefill_tput_vs_mode_gen{g}", "(new) vs-mode of prefill tok/s", False),
    ("power", "EP_power_vs_mode_gen{g}", "(new) APPAB appendix_a_power, computed", False),
]

FACET_PROMPT = [  # key, name template, seed ref
    ("tok_s", "1_tok_s_vs_prompt_gen{g}", "CHARTS #1"),
    ("tok_j", "2_tok_j_vs_prompt_gen{g}", "CHARTS #2"),
    ("prefill_tok_j", "EF_prefill_tokj_vs_prompt_gen{g}", "CHARTS_OLD 22e_*_vs_prompt / §6"),
    ("total_tok_j", "EF_total_tokj_vs_prompt_gen{g}", "CHARTS_OLD 22g_*_vs_prompt / §6"),
    ("rl", "EF_req_latency_vs_prompt_gen{g}", "CHARTS #38-40 (gen 256 was 22a_request_latency_vs_prompt_gen256)"),
    ("ttft", "EG_ttft_vs_prompt_gen{g}", "CHARTS #41-42"),
    ("itl", "EH_itl_vs_prompt_gen{g}", "CHARTS #43-45 (no alias overwrites it here)"),
    ("prefill_tput", "EI_prefill_tput_vs_prompt_gen{g}", "H.1a-b, CHARTS #46-48"),
    ("power", "EP_power_vs_prompt_gen{g}", "(new)"),
]
FACET_GEN = [  # key, name template, seed ref, every ctx?
    ("ttft", "EG_ttft_vs_gen_ctx{c}", "CHARTS #49-52", True),
    ("itl", "EH_itl_vs_gen_ctx{c}", "CHARTS #53-56", True),
    ("prefill_tput", "EI_prefill_tput_vs_gen_ctx{c}", "CHARTS #57-60", True),
    ("decode_tok_j", "EF_decode_tokj_vs_gen_ctx{c}", "CHARTS_OLD EF_decode_tokj_vs_gen_ctx*", True),
    ("tok_s", "1_tok_s_vs_gen_ctx{c}", "(new)", False),
    ("total_tok_j", "EF_total_tokj_vs_gen_ctx{c}", "(new)", False),
    ("rl", "EF_req_latency_vs_gen_ctx{c}", "(new)", False),
    ("power", "EP_power_vs_gen_ctx{c}", "(new)", False),
]
CANONICAL_BARS = [  # key, name, seed ref
    ("ttft", "5_ttft_vs_prompt", "Fig 7 (seed name kept; it is bars at the canonical cell, not vs prompt)"),
    ("itl", "8_itl_compare", "Fig 8"),
    ("rl", "10_request_latency_compare", "Fig 9"),
    ("power", "4_avg_power_bar", "Fig 11 / CHARTS #4"),
]


class Catalogue:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def reason(self, column: str) -> str:
        s = self.ctx.summary
        if column in ENERGY_COLUMNS and "energy_reason" in s:
            reasons = sorted({str(r) for r in s["energy_reason"].dropna().unique() if str(r)})
            if reasons:
                return f"{column} not measured ({'; '.join(reasons)})"
        return f"{column} has no value in these results"

    def figure(self, name: str, column: str | None, build, what: str, how: str, seed: str = ""):
        ctx = self.ctx
        if column is not None and not ctx.has(column):
            ctx.placeholder(name, self.reason(column), what, how, seed)
            return
        try:
            fig, data = build()
        except Exception as exc:  # one broken chart must not hide the others; the index says why
            log.error("figure %s failed: %s\n%s", name, exc, traceback.format_exc())
            ctx.placeholder(name, f"error: {type(exc).__name__}: {exc}", what, how, seed)
            ctx.entries[-1].status = "error"
            return
        vcol = "value" if "value" in data else ("ratio" if "ratio" in data else None)
        if vcol is not None and not finite(data[vcol]):
            import matplotlib.pyplot as plt

            plt.close(fig)
            ctx.placeholder(name, self.reason(column or vcol), what, how, seed)
            return
        ctx.save(fig, name, data, what, how, seed)


def render_catalogue(ctx: Context) -> None:
    cat = Catalogue(ctx)
    C, G = ctx.canonical
    col = lambda k: METRICS[k][0]  # noqa: E731
    unc = lambda k: BOOT if col(k).endswith("_p50") else (REL if col(k) in ("decode_tok_per_j", "prefill_tok_per_j", "total_tok_per_j", "mj_per_output_token") else "no interval available")  # noqa: E731

    # ---- vs mode --------------------------------------------------------------------------------
    for key, tmpl, seed, all_gens in VS_MODE:
        for g in (ctx.gens if all_gens else [G]):
            cat.figure(tmpl.format(g=g), col(key), lambda key=key, g=g: vs_mode.build_vs_mode(ctx, key, C, g),
                       f"{METRICS[key][1]} vs power mode, ctx {C}, gen {g}; colour = model, solid = "
                       f"{backend_label(ctx.ref_backend)}, dashed = other backends",
                       f"`{col(key)}` per cell; {unc(key)}", seed)

    # ---- facets ---------------------------------------------------------------------------------
    for key, tmpl, seed in FACET_PROMPT:
        for g in ctx.gens:
            cat.figure(tmpl.format(g=g), col(key), lambda key=key, g=g: facets.build_facet(ctx, key, "ctx", g),
                       f"{METRICS[key][1]} vs prompt length at gen {g}; one panel per model, one line per mode-series",
                       f"`{col(key)}` per cell; shared y 0..1.15 x max; {unc(key)}", seed)
    for key, tmpl, seed, every in FACET_GEN:
        for c in (ctx.ctxs if every else [C]):
            cat.figure(tmpl.format(c=c), col(key), lambda key=key, c=c: facets.build_facet(ctx, key, "gen", c),
                       f"{METRICS[key][1]} vs generation length at ctx {c}; one panel per model",
                       f"`{col(key)}` per cell; {unc(key)}", seed)

    # ---- canonical grouped bars -----------------------------------------------------------------
    for key, name, seed in CANONICAL_BARS:
        cat.figure(name, col(key), lambda key=key: grouped_bars.build_cell_bars(ctx, key, C, G),
                   f"{METRICS[key][1]} at the canonical cell (ctx {C}, gen {G}); x = model, bars = mode-series",
                   f"`{col(key)}`; {unc(key)}", seed)
    cat.figure(f"11_canonical_cell_comparison_ctx{C}_gen{G}", col("tok_s"),
               lambda: grouped_bars.build_canonical_comparison(ctx, C, G),
               "tok/s (left) and tok/J (right) at the canonical cell", f"`{col('tok_s')}`, `{col('tok_j')}`; "
               f"{BOOT}; {REL}", "Fig 2 / CHARTS #12")

    def prefill_median():
        d = pd.concat([grouped_bars.cell_data(ctx, col("prefill_tput"), c, G) for c in ctx.ctxs])
        d = d.groupby(["model", "series", "mode", "backend"], sort=False)["value"].median().reset_index()
        d["lo"] = d["hi"] = np.nan
        return grouped_bars.build_data_bars(ctx, d, "prefill tok/s (median over prompt lengths)",
                                            f"prefill tok/s at gen {G}, median over prompts {ctx.ctxs}")
    cat.figure("9_prefill_compare", col("prefill_tput"), prefill_median,
               f"prefill tok/s per model and mode-series at gen {G}, median over the prompt lengths",
               f"median of `{col('prefill_tput')}` over ctx", "Fig 10 / CHARTS #11")

    def best_bar():
        d = grouped_bars.best_over_cells(ctx, col("tok_j"))
        return grouped_bars.build_data_bars(ctx, d, "best tok/J over all (ctx, gen) cells",
                                            "best output tok/J (decode phase) per model and mode-series")
    cat.figure("3_best_tok_j_bar", col("tok_j"), best_bar, "max tok/J over every (ctx, gen) cell",
               f"max of `{col('tok_j')}`; bar interval = that cell's rel_unc; the CSV says which cell", "CHARTS #3")

    ref_mode = "15W" if "15W" in ctx.modes else ctx.modes[0]
    name6 = f"6_speedup_vs_{ref_mode}"
    if len(ctx.series()) > 1:
        cat.figure(name6, col("tok_s"), lambda: grouped_bars.build_data_bars(
            ctx, grouped_bars.speedup_vs_reference(ctx, ref_mode), f"tok/s ÷ {ref_mode} {backend_label(ctx.ref_backend)}",
            f"speed-up vs {ref_mode} ({backend_label(ctx.ref_backend)}): median tok/s over all cells", hline=1.0),
            f"median tok/s over all cells of each series ÷ that of {ref_mode} on {ctx.ref_backend}",
            "ratio of medians; 1 = same speed", "CHARTS #6 (6_speedup_vs_15w)")
    else:
        ctx.placeholder(name6, "needs at least two mode-series", "speed-up vs the reference mode", seed="CHARTS #6")

    cat.figure("E_mj_per_output_token", col("mj_tok"),
               lambda: grouped_bars.build_cell_bars(ctx, "mj_tok", C, G, hatch_other=True,
                                                    title=f"mJ per output token (decode energy / OSL), ctx {C}, gen {G}"),
               "mJ per output token at the canonical cell; other backends hatched",
               f"`mj_per_output_token` = 1000 x decode J / OSL, measured (the seed hardcoded it); {REL}",
               "Fig 17 (single writer; the seed had two)")
    cat.figure("E_total_energy_vs_gen_length", col("e_total"), lambda: energy.energy_vs_gen(ctx, C),
               f"energy per request (J) vs generation length at ctx {C}, one panel per mode",
               "`e_total_j` per cell, measured for every backend (the seed hardcoded llama.cpp and derived Ollama)",
               "Fig 16 (single writer; the seed had two)")

    # ---- appendix stacked vs-mode charts ---------------------------------------------------------
    stacked = [
        ("appendix_a_toks_ttft", ["tok_s", "ttft"], "A.1"),
        ("appendix_a_itl", ["itl"], "A.2"),
        ("appendix_a_power_tokj", ["p_decode", "tok_j"], "A.3 (seed hardcoded; computed here)"),
        ("appendix_b_thermal_lines", ["power", "tj_peak"], "B.1 (seed hardcoded llama.cpp; computed here)"),
        ("appendix_h_prefill_ttft", ["prefill_tput", "ttft"], "H.0"),
    ]
    for name, keys, seed in stacked:
        need = next((col(k) for k in keys if ctx.has(col(k))), col(keys[0]))
        refl = {"tj_peak": 95.0} if "tj_peak" in keys else None
        cat.figure(name, need, lambda keys=keys, refl=refl: vs_mode.build_stacked(ctx, keys, C, G, refl),
                   " / ".join(METRICS[k][1] for k in keys) + f" vs mode, canonical cell (ctx {C}, gen {G})",
                   ", ".join(f"`{col(k)}`" for k in keys) + (" ; red dotted line = 95 °C" if refl else ""), seed)

    # ---- heatmaps / scatter / resolution ---------------------------------------------------------
    cat.figure("EP_prefill_power_heatmap_canonical", col("p_prefill"), lambda: energy.power_heatmap(ctx, "p_prefill", "OrRd"),
               "prefill power per model x mode-series, canonical cell", "`p_prefill_w` = prefill J / prefill s", "CHARTS #8")
    cat.figure("EP_decode_power_heatmap_canonical", col("p_decode"), lambda: energy.power_heatmap(ctx, "p_decode", "Blues"),
               "decode power per model x mode-series, canonical cell", "`p_decode_w` = decode J / decode s", "CHARTS #9")
    cat.figure("10_tok_s_vs_power_scatter", col("power"), lambda: energy.tok_s_vs_power(ctx),
               "tok/s vs whole-window median power, every cell", "`power_w_seed_median`, `output_tok_s_per_user_p50`",
               "CHARTS_OLD 10")
    cat.figure("prefill_resolved_map", None, lambda: energy.prefill_resolved_map(ctx),
               "which cells' prefill energy is resolved / measured but unresolved / not measured",
               "`prefill_resolved`, `e_prefill_j`, `energy_method`", "(new: the seed could not show it)")

    # ---- ratios between modes --------------------------------------------------------------------
    for name, (key, direction) in ratios.MODE_RATIO_CHARTS.items():
        if len(ctx.modes) < 2:
            ctx.placeholder(name, "needs at least two power modes", f"{METRICS[key][1]} ratio between modes",
                            seed={"12_speedup_ratios_comparison": "Fig 12", "13_ttft_speedup_ratios": "CHARTS #15",
                                  "14_decode_time_speedup_ratios": "Fig 15", "18_prefill_tput_speedup_ratios": "Fig 13"}[name])
            continue
        cat.figure(name, col(key), lambda key=key, direction=direction: ratios.build_mode_ratios(ctx, key, direction, C, G),
                   f"{METRICS[key][1]} ratio for every pair of modes ({direction}), per backend and model, canonical cell",
                   f"`{col(key)}` of one mode ÷ another", {"12_speedup_ratios_comparison": "Fig 12",
                                                            "13_ttft_speedup_ratios": "CHARTS #15",
                                                            "14_decode_time_speedup_ratios": "Fig 15",
                                                            "18_prefill_tput_speedup_ratios": "Fig 13"}[name])

    # ---- ratios between backends -----------------------------------------------------------------
    others = ctx.backends[1:]
    if not others:
        for name, seed in (("appendix_c_ratio_chart", "C.0"), ("appendix_c1_prefill_ratio_chart", "C.1"),
                           ("appendix_c3_latency_power_ratio", "C.2")):
            ctx.placeholder(name, "needs at least two backends", "backend ratio vs mode", seed=seed)
        ctx.table(pd.DataFrame(), "ratio_tables", "backend ratios per mode", "needs two backends",
                  "ratio_tables.md / blog Tables 6-8", reason="needs at least two backends")
    for i, other in enumerate(others):
        sfx = "" if i == 0 else f"_{other}"
        for name, keys, seed in (("appendix_c_ratio_chart", ["tok_s", "tok_j"], "C.0 (bottom was hardcoded)"),
                                 ("appendix_c1_prefill_ratio_chart", ["prefill_tput"], "C.1"),
                                 ("appendix_c3_latency_power_ratio", ["ttft", "itl", "power"], "C.2 (power was hardcoded)")):
            cat.figure(name + sfx, col(keys[0]), lambda keys=keys, other=other: ratios.build_backend_ratio_chart(ctx, keys, other, C, G),
                       f"{backend_label(ctx.ref_backend)} ÷ {backend_label(other)} per mode: " + ", ".join(METRICS[k][1] for k in keys),
                       "ratio of the canonical cell's values; dotted line = 1", seed)
        wide, md = ratios.backend_ratio_tables(ctx, other, C, G)
        ctx.table(wide, "ratio_tables" + sfx, f"per mode: tok/s, tok/J, TTFT, ITL, power ratio {ctx.ref_backend} ÷ {other}",
                  "canonical cell; '--' = not measured", "ratio_tables.md (CHARTS #18)")
        (ctx.out / f"ratio_tables{sfx}.md").write_text(md + "\n")
        for tname, key, inv, seed in (("table6_tok_s_ratio_by_mode", "tok_s", False, "Table 6"),
                                      ("table7_tok_j_ratio_by_mode", "tok_j", False, "Table 7"),
                                      ("table8_power_ratio_by_mode", "power", True, "Table 8 (other ÷ reference)")):
            ctx.table(tables.backend_ratio_by_mode(ctx, key, other, invert=inv), tname + sfx,
                      f"{METRICS[key][1]} ratio per model x mode", f"canonical cell; {'other ÷ ref' if inv else 'ref ÷ other'}", seed)
        mode41 = "15W" if "15W" in ctx.modes else ctx.modes[0]
        ctx.table(tables.head_to_head(ctx, mode41, other), f"head_to_head_{mode41}{sfx}",
                  f"{mode41}: both backends side by side (tok/s, tok/J, ratios)", "canonical cell", "§4.1")

    # ---- beyond the seed -------------------------------------------------------------------------
    cat.figure("pareto_tok_s_vs_tok_j", col("tok_j"), lambda: pareto.build_pareto(ctx),
               "per model: tok/s vs tok/J of every mode-series at the canonical cell, Pareto front dashed",
               "a point is on the front if no other point is at least as good on both and better on one", "(new)")
    pd_ = pareto.pareto_data(ctx)
    ctx.table(pareto.recommend(ctx, pd_), "recommended_modes",
              "recommended mode per model for fastest / most efficient / balanced, with numbers",
              "fastest = max tok/s; most efficient = max tok/J; balanced = Pareto point with the largest "
              "geometric mean of tok/s/max and tok/J/max", "Table 11 (computed)")
    peak = roofline.peak_bandwidth_gbs(ctx.cfg)
    if peak is None:
        ctx.placeholder("roofline_decode_bandwidth", "config device_profile.peak_mem_bandwidth_gbs is not set",
                        "decode bandwidth utilisation", seed="(new)")
    else:
        cat.figure("roofline_decode_bandwidth", col("tok_s"), lambda: roofline.build_roofline(ctx, peak),
                   "decode bandwidth utilisation per model and mode-series at the canonical cell",
                   f"model_size_bytes x output tok/s ÷ {peak:g} GB/s (one full weight read per token)", "(new)")

    # ---- tables ----------------------------------------------------------------------------------
    for backend in ctx.backends:
        for mode in ctx.modes:
            t = tables.full_results(ctx, mode, backend)
            ctx.table(t, f"report_full_results_{mode}_{backend}", f"Full Results {mode} / {backend}: one row per cell, 33 columns",
                      "aiperf aggregates; Power = whole-window median W; Tok/J = Tok/s avg ÷ Power (seed method)",
                      "report.md §8.1")
    ctx.table(tables.best_tok_j_per_model(ctx), "best_tok_j_per_model", "best output tok/J per model and backend",
              "max of decode_tok_per_j over every mode and cell; Power = decode W", "report.md 'Best Output Tok/J'")
    ctx.table(tables.thermal_summary(ctx), "thermal_summary", "avg power, mean CPU/GPU °C, peak TJ, throttled",
              "mean over the mode's cells; throttled from the sensor flag, else TJ > 85 °C", "report.md 'Thermal Summary'")
    ctx.table(tables.fastest_per_mode(ctx), "table1_fastest_per_mode", "fastest model per mode and backend",
              "max output tok/s p50 at the canonical cell", "Table 1")
    ctx.table(tables.power_modes(ctx), "table5_power_modes", "what each mode put in force, measured active power range",
              "mode_in_force, gpu_clock_mhz_mean, p_active_w", "Table 5")
    for i, backend in enumerate(ctx.backends):
        ctx.table(tables.canonical_per_backend(ctx, backend), f"table{9 + i}_canonical_{backend}",
                  f"{backend}: canonical tok/s and tok/J per model x mode, with the peak mode",
                  "canonical cell", "Tables 9/10")
    ctx.table(tables.best_total_tok_j(ctx), "best_total_tok_j_per_model", "best total tok/J per model",
              "max of total_tok_per_j over every backend, mode and cell", "§3.5")
    canon = grouped_bars.cell_data(ctx, col("tok_s"), C, G)[["model", "series"]].copy()
    for key in ("tok_s", "tok_j", "ttft", "itl", "power"):
        canon[METRICS[key][1]] = grouped_bars.cell_data(ctx, col(key), C, G)["value"].to_numpy() if col(key) in ctx.summary else np.nan
    ctx.table(canon, "canonical_cell_table", "canonical cell per model x mode-series: tok/s, tok/J, TTFT, ITL, power",
              "p50s and energy columns of the canonical cell", "CHARTS console table (saved here)")
