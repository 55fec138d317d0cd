"""Figures and tables from a small hand-made summary: series, axes and values checked through the
matplotlib objects and against values computed by hand here."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from joulebench.plots import energy, facets, grouped_bars, pareto, ratios, render_frames, roofline, tables, vs_mode  # noqa: E402
from joulebench.plots.common import ResultsView  # noqa: E402
from joulebench.plots.uncertainty import bootstrap_ci  # noqa: E402

MODES = {"7W": 1.0, "15W": 2.0}
BACKENDS = {"llamacpp": 1.0, "ollama": 0.5}
MODELS = {"m-small": (100, 50_000_000), "m-big": (1000, 500_000_000)}
MISSING = ("15W", "ollama", "m-big", 512, 32)  # a cell that was never measured


def tok_s(mode, backend, model, prompt):
    return 100 * MODES[mode] * BACKENDS[backend] / (1 if model == "m-small" else 4) - prompt / 128


def hand_summary(energy_nan=False):
    rows = []
    for mode in MODES:
        for backend in BACKENDS:
            for model, (params, size) in MODELS.items():
                for prompt in (128, 512):
                    if (mode, backend, model, prompt, 32) == MISSING:
                        continue
                    t = tok_s(mode, backend, model, prompt)
                    p = 5.0 * MODES[mode] ** 1.5  # 7W: 5 W, 15W: 14.14 W
                    rows.append({
                        "mode": mode, "backend": backend, "model": model, "ctx": prompt, "gen": 32, "quant": "Q4_K_M",
                        "params_m": params, "model_size_bytes": size,
                        "output_tok_s_per_user_p50": t, "output_tok_s_per_user_avg": t + 1,
                        "ttft_ms_p50": prompt / MODES[mode], "itl_ms_p50": 1000 / t, "latency_ms_p50": prompt / MODES[mode] + 32000 / t,
                        "prefill_tok_s_per_user_p50": 1000 * MODES[mode] * BACKENDS[backend],
                        "decode_tok_per_j": np.nan if energy_nan else t / p, "decode_tok_per_j_rel_unc": 0.1,
                        "prefill_tok_per_j": np.nan if energy_nan else 50 / p, "prefill_tok_per_j_rel_unc": 0.3,
                        "total_tok_per_j": np.nan if energy_nan else 40 / p, "total_tok_per_j_rel_unc": 0.05,
                        "p_decode_w": np.nan if energy_nan else p, "p_active_w": np.nan if energy_nan else p, "p_prefill_w": np.nan if energy_nan else p * 1.2,
                        "power_w_seed_median": np.nan if energy_nan else p,
                        "e_total_j": np.nan if energy_nan else 32 / (t / p),
                        "mj_per_output_token": np.nan if energy_nan else 1000 * p / t,
                        "prefill_resolved": (not energy_nan) and prompt == 512,
                        "energy_method": "none" if energy_nan else "split",
                        "energy_reason": "no power sensor" if energy_nan else None,
                        "osl_mismatch_pct": 0.0, "request_throughput_rps": 1.0,
                    })
    return pd.DataFrame(rows)


def hand_requests(summary):
    rows = []
    for _, r in summary.iterrows():
        for i, f in enumerate((0.9, 1.0, 1.1)):
            rows.append({k: r[k] for k in ("mode", "backend", "model", "ctx", "gen")} |
                        {"request_idx": i, "output_tok_s_per_user": r["output_tok_s_per_user_p50"] * f,
                         "ttft_ms": r["ttft_ms_p50"] * f, "itl_ms": r["itl_ms_p50"] * f, "latency_ms": r["latency_ms_p50"] * f})
    return pd.DataFrame(rows)


CFG = {"platform": "jetson", "modes": {"15W": {}, "7W": {}}, "backends": {"llamacpp": {}, "ollama": {}},
       "models": {"m-small": {}, "m-big": {}}, "sweep": {"prompt_tokens": [128, 512], "gen_tokens": [32]},
       "device_profile": {"peak_mem_bandwidth_gbs": 100.0}}


@pytest.fixture
def view(tmp_path):
    s = hand_summary()
    c = ResultsView(s, hand_requests(s), tmp_path, CFG, n_boot=200)
    yield c
    plt.close("all")


def test_context_orders_from_data_and_config(view):
    assert view.modes == ["7W", "15W"]  # the Jetson platform's power order, though the config lists 15W first
    assert view.backends == ["llamacpp", "ollama"]
    assert view.models == ["m-small", "m-big"]
    assert view.canonical == (512, 32)
    assert [t[2] for t in view.series()] == ["7W", "15W", "7W-ollama", "15W-ollama"]
    assert view.sstyle("7W", "llamacpp")["color"] == "#2196F3"
    assert view.sstyle("15W", "ollama")["color"] == "#009688"


def test_vs_mode_lines_values_gap_and_errorbars(view):
    fig, data = vs_mode.build_vs_mode(view, "tok_s", 512, 32)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["7W", "15W"]
    lines = {c.get_label(): c for c in ax.containers}
    assert set(lines) == {"m-small (llama.cpp)", "m-small (Ollama)", "m-big (llama.cpp)", "m-big (Ollama)"}
    # errorbar keeps y as an object array; numpy < 2 cannot compare those with allclose
    y = np.asarray(lines["m-small (llama.cpp)"].lines[0].get_ydata(), dtype=float)
    assert np.allclose(y, [tok_s("7W", "llamacpp", "m-small", 512), tok_s("15W", "llamacpp", "m-small", 512)])
    y_gap = np.asarray(lines["m-big (Ollama)"].lines[0].get_ydata(), dtype=float)
    assert y_gap[0] == pytest.approx(tok_s("7W", "ollama", "m-big", 512)) and np.isnan(y_gap[1])  # a gap, not 0
    assert lines["m-small (llama.cpp)"].lines[0].get_linestyle() == "-"
    assert lines["m-small (Ollama)"].lines[0].get_linestyle() == "--"
    # bootstrap interval around the median of (0.9, 1.0, 1.1) x value: lo <= value <= hi and lo < hi
    row = data[(data["model"] == "m-small") & (data["backend"] == "llamacpp") & (data["mode"] == "7W")].iloc[0]
    assert row["lo"] <= row["value"] <= row["hi"] and row["lo"] < row["hi"]


def test_vs_mode_with_nothing_to_draw_has_no_legend_and_no_warning(view):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns on a legend without labelled artists
        fig, data = vs_mode.build_vs_mode(view, "tok_s", 512, 999)  # no cell has gen 999
    assert not data["value"].notna().any() and fig.axes[0].get_legend() is None
    plt.close(fig)


def test_facet_panels_series_and_ylim(view):
    fig, data = facets.build_facet(view, "ttft", "ctx", 32)
    visible = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in visible] == ["m-small", "m-big"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["7W", "15W", "7W-ollama", "15W-ollama"]
    assert visible[0].get_ylim()[1] == pytest.approx(1.15 * np.nanmax(np.r_[data["value"], data["hi"]]))
    assert [t.get_text() for t in visible[0].get_xticklabels()] == ["128", "512"]
    series = {c.get_label(): np.asarray(c.lines[0].get_ydata(), dtype=float) for c in visible[0].containers}
    assert np.allclose(series["15W"], [128 / 2.0, 512 / 2.0])


def test_grouped_bars_heights_and_missing_bar(view):
    fig, data = grouped_bars.build_cell_bars(view, "ttft", 512, 32)
    ax = fig.axes[0]
    bars = {c.get_label(): [b.get_height() for b in c] for c in ax.containers if hasattr(c, "patches")}
    assert bars["7W"] == pytest.approx([512.0, 512.0])
    assert bars["15W"] == pytest.approx([256.0, 256.0])
    assert bars["15W-ollama"][0] == pytest.approx(256.0) and np.isnan(bars["15W-ollama"][1])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["m-small", "m-big"]


def test_canonical_comparison_two_panels(view):
    fig, data = grouped_bars.build_canonical_comparison(view, 512, 32)
    assert len(fig.axes) == 2
    tj = data[(data["metric"] == "decode_tok_per_j") & (data["series"] == "7W") & (data["model"] == "m-small")]
    assert tj["value"].iloc[0] == pytest.approx(tok_s("7W", "llamacpp", "m-small", 512) / 5.0)
    assert tj["hi"].iloc[0] == pytest.approx(tj["value"].iloc[0] * (1 + 1.96 * 0.1))  # 95 % from 1-sigma rel_unc


def test_mode_ratios_by_hand(view):
    d = ratios.mode_ratio_data(view, "output_tok_s_per_user_p50", "num/den", 512, 32)
    r = d[(d["pair"] == "15W/7W") & (d["backend"] == "llamacpp") & (d["model"] == "m-small")]["ratio"].iloc[0]
    assert r == pytest.approx(tok_s("15W", "llamacpp", "m-small", 512) / tok_s("7W", "llamacpp", "m-small", 512))
    t = ratios.mode_ratio_data(view, "ttft_ms_p50", "den/num", 512, 32)
    assert t[(t["backend"] == "llamacpp") & (t["model"] == "m-big")]["ratio"].iloc[0] == pytest.approx(2.0)
    assert np.isnan(d[(d["backend"] == "ollama") & (d["model"] == "m-big")]["ratio"].iloc[0])
    fig, _ = ratios.build_mode_ratios(view, "tok_s", "num/den", 512, 32)
    assert len(fig.axes) == 2  # one panel per backend
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["m-small", "m-big"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["15W/7W"]
    # the blog's latency definition: the median over every (ctx, gen) cell of the per-cell ratio
    m = ratios.mode_ratio_data(view, "ttft_ms_p50", "den/num", 512, 32, how="median_cells")
    r = m[(m["backend"] == "llamacpp") & (m["model"] == "m-small")].iloc[0]
    assert r["ratio"] == pytest.approx(2.0) and r["cells"] == 2


def test_backend_ratio_table_by_hand(view):
    wide, md = ratios.backend_ratio_tables(view, "ollama", 512, 32)
    row = wide[(wide["mode"] == "7W") & (wide["model"] == "m-small")].iloc[0]
    assert row["Tok/s ratio"] == pytest.approx(tok_s("7W", "llamacpp", "m-small", 512) / tok_s("7W", "ollama", "m-small", 512))
    assert row["Power ratio (whole-window median)"] == pytest.approx(1.0)
    assert "## 7W" in md and "## 15W" in md and "--" in md  # the missing cell reads '--'
    t8 = tables.backend_ratio_by_mode(view, "seed_p_decode", "ollama", invert=True, beside="p_decode")
    row8 = t8[t8["Model"] == "m-small"].iloc[0]
    assert row8["15W (Ollama ÷ llama.cpp) p_decode_w (joulebench)"] == pytest.approx(1.0)
    assert np.isnan(row8["15W (Ollama ÷ llama.cpp)"])  # no seed_p_decode_w here: not measured, no stand-in


def test_full_results_33_columns_and_seed_tok_j(view):
    t = tables.full_results(view, "7W", "llamacpp")
    assert t.shape[1] == 33 + 2  # the seed's 33, then joulebench's two beside them
    assert list(t.columns[:5]) == ["Model", "Quant", "ISL", "OSL", "OSL mis%"]
    assert t.columns[32] == "Tok/J" and t.columns[31] == "Power (W)"
    assert list(t.columns[33:]) == ["Cell median power (W)", "Decode tok/J (joulebench)"]
    r = t[(t["Model"] == "m-small") & (t["ISL"] == 128)].iloc[0]
    assert r["Tok/J"] == pytest.approx((tok_s("7W", "llamacpp", "m-small", 128) + 1) / 5.0)


def test_best_tok_j_and_thermal_and_fastest(view):
    b = tables.best_tok_j_per_model(view)
    r = b[(b["Backend"] == "llamacpp") & (b["Model"] == "m-small")].iloc[0]
    # the seed's: tok/s avg / window W = (t + 1) / p: 7W ctx 128: 100 / 5 = 20; 15W: 200 / 14.14 -> 7W wins
    assert r["Best Tok/J"] == pytest.approx(20.0) and r["Mode"] == "7W" and r["ISL"] == 128
    # joulebench's decode tok/J beside it: t / p = 99 / 5
    assert r["Best decode tok/J (joulebench)"] == pytest.approx(19.8) and r["at mode/ISL/OSL"] == "7W/128/32"
    f = tables.fastest_per_mode(view)
    assert (f["Fastest model"] == "m-small").all() and len(f) == 4
    th = tables.thermal_summary(view)
    assert th["Peak TJ °C"].isna().all()  # not measured stays NaN


def test_pareto_front_and_recommendations(view):
    pts = pd.DataFrame({"tok_s": [1, 2, 3, 2.5], "tok_j": [3, 2, 1, 0.5]})
    assert pareto.pareto_front(pts).tolist() == [True, True, True, False]
    d = pareto.pareto_data(view)
    rec = pareto.recommend(view, d).set_index("model")
    assert rec.at["m-small", "fastest"] == "15W/llamacpp"
    assert rec.at["m-small", "most efficient"] == "7W/llamacpp"
    assert rec.at["m-small", "balanced"] in {"15W/llamacpp", "7W/llamacpp"}
    fig, _ = pareto.build_pareto(view)
    assert fig.axes[0].get_title() == "m-small"


def test_roofline_utilisation_by_hand(view):
    d = roofline.roofline_data(view, 100.0)
    r = d[(d["model"] == "m-big") & (d["series"] == "15W")].iloc[0]
    assert r["value"] == pytest.approx(100 * 500_000_000 * tok_s("15W", "llamacpp", "m-big", 512) / 100e9)


def test_model_size_not_recorded_is_said_not_a_crash(tmp_path):
    # a capture whose cell.json has no model size (or params): the summary holds None there
    s = hand_summary()
    s["model_size_bytes"] = s["model_size_bytes"].astype(object)
    s.loc[s["model"] == "m-big", ["model_size_bytes", "params_m"]] = None
    view = ResultsView(s, hand_requests(s), tmp_path, CFG, n_boot=20)
    t = tables.best_total_tok_j(view).set_index("Model")
    assert t.at["m-big", "GGUF MB"] == "not recorded" and t.at["m-big", "Params (M)"] == "not recorded"
    assert t.at["m-small", "GGUF MB"] == pytest.approx(50.0) and t.at["m-small", "Params (M)"] == 100
    d = roofline.roofline_data(view, 100.0).set_index(["model", "series"])
    assert np.isnan(d.at[("m-big", "15W"), "value"])
    assert d.at[("m-small", "15W"), "value"] == pytest.approx(
        100 * 50_000_000 * tok_s("15W", "llamacpp", "m-small", 512) / 100e9)
    plt.close("all")


def test_prefill_resolved_map_states(view):
    fig, d = energy.prefill_resolved_map(view)
    st = d.set_index(["mode", "backend", "model", "ctx"])["prefill"]
    assert st[("7W", "llamacpp", "m-small", 512)] == "resolved"
    assert st[("7W", "llamacpp", "m-small", 128)] == "unresolved"
    assert st[("15W", "ollama", "m-big", 512)] == "missing cell"


def test_bootstrap_is_seeded_and_honest():
    v = np.arange(20, dtype=float)
    a, b = bootstrap_ci(v, seed=3), bootstrap_ci(v, seed=3)
    assert a == b and a[0] <= np.median(v) <= a[1]
    assert all(np.isnan(bootstrap_ci([1.0])))


def test_render_frames_placeholders_and_synthetic_label(tmp_path):
    s = hand_summary(energy_nan=True).assign(synthetic=True)
    c = render_frames(s, hand_requests(s), tmp_path, CFG, n_boot=50)
    names = [e.name for e in c.entries]
    assert len(names) == len(set(names))  # stable, unique names
    st = {e.name: e for e in c.entries}
    assert st["3_tok_j_vs_mode_gen32"].status == "no data" and "no power sensor" in st["3_tok_j_vs_mode_gen32"].reason
    assert st["1_tok_s_vs_mode_gen32"].status == "ok"
    assert not [e for e in c.entries if e.status == "error"]
    for e in c.entries:
        for f in e.files:
            assert (tmp_path / f).exists()
    assert "SYNTHETIC DATA" in (tmp_path / "index.md").read_text()
    fig, _ = vs_mode.build_vs_mode(c, "tok_s", 512, 32)
    assert fig.axes[0].get_title().endswith("SYNTHETIC DATA")


def test_catalogue_spec_errors_are_indexed_not_fatal(view):
    from joulebench.plots.catalogue import SPECS, Catalogue, Spec

    assert len({s.name for s in SPECS}) == len(SPECS)  # one spec per figure family, one writer per name

    def broken(v, p):
        raise ValueError("bad column")

    cat = Catalogue(view)
    cat.render(Spec("broken_table", broken, "w", "h", kind="table"))
    cat.render(Spec("broken_figure_{g}", broken, "w", "h", needs="tok_s"))
    cat.render(Spec("needs_two_{g}", broken, "w", "h", requires=lambda v: "needs more"))
    st = {e.name: e for e in view.entries}
    assert st["broken_table"].status == "error" and "bad column" in st["broken_table"].reason
    assert st["broken_figure_32"].status == "error"
    assert st["needs_two_32"].status == "no data" and st["needs_two_32"].reason == "needs more"


def test_figures_use_the_summarys_intervals_and_bootstrap_only_the_rest(tmp_path):
    """A `_ci95_` interval in the summary is what the chart shows (no bootstrap of its own for it);
    TTFT, which the summary gives no interval, is still bootstrapped over the requests."""
    from joulebench.plots.uncertainty import request_cis, summary_intervals

    s = hand_summary()
    s["output_tok_s_per_user_p50_ci95_lo"] = s["output_tok_s_per_user_p50"] - 1.0
    s["output_tok_s_per_user_p50_ci95_hi"] = s["output_tok_s_per_user_p50"] + 2.0
    s["decode_tok_per_j_ci95_lo"] = s["decode_tok_per_j"] * 0.5
    s["decode_tok_per_j_ci95_hi"] = s["decode_tok_per_j"] * 1.5
    assert summary_intervals(s) == ["output_tok_s_per_user_p50", "decode_tok_per_j"]
    cis = request_cis(hand_requests(s), n_boot=50, skip=summary_intervals(s))
    assert "output_tok_s_per_user_p50_lo" not in cis and "ttft_ms_p50_lo" in cis
    v = ResultsView(s, hand_requests(s), tmp_path, CFG, n_boot=50).summary
    assert np.allclose(v["output_tok_s_per_user_p50_hi"] - v["output_tok_s_per_user_p50"], 2.0)
    assert np.allclose(v["decode_tok_per_j_lo"], v["decode_tok_per_j"] * 0.5)  # not 1 - 1.96 x rel_unc
    assert (v["ttft_ms_p50_lo"] < v["ttft_ms_p50"]).all() and (v["ttft_ms_p50_hi"] > v["ttft_ms_p50"]).all()
    plt.close("all")


def test_power_tables_without_a_sensor_are_nan_without_a_warning(tmp_path):
    """A sweep without a power sensor (the CPU default): the power medians are NaN, and no
    "Mean of empty slice" from pandas' median reaches the user's terminal."""
    import warnings

    s = hand_summary(energy_nan=True)
    view = ResultsView(s, hand_requests(s), tmp_path, CFG, n_boot=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        med = tables.median_power_per_model_mode(view)
        th = tables.thermal_summary(view)
    assert med.drop(columns="Model").isna().all().all() and len(med) == 2
    assert th["Median of cell medians (W)"].isna().all() and len(th) == 8
