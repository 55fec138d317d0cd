"""The concurrency figures (plots/concurrency.py) from a synthetic summary carrying the load columns
(concurrency, system_output_tok_s, goodput_fraction, energy_per_good_token_j, steady_tok_per_j):
values checked against numbers computed by hand here, the catalogue's index entries, and a clean
"not drawn" when the summary has one concurrency level only. Every other figure keeps showing one
row per (mode, backend, model, ctx, gen): the lowest concurrency."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from joulebench.plots import concurrency  # noqa: E402
from joulebench.plots.catalogue import SPECS, Catalogue  # noqa: E402
from joulebench.plots.common import ResultsView, long_table  # noqa: E402

NS = (1, 2, 4, 8)
# mode -> the highest N whose goodput share is >= 90 % (0 = none)
WITHIN = {"15W": 2, "25W": 4}


def user_tok_s(mode, n):
    return (40.0 if mode == "25W" else 30.0) / n ** 0.3


def summary(levels=NS, load_columns=True):
    rows = []
    for mode in WITHIN:
        for model in ("m-a", "m-b"):
            for n in levels:
                u = user_tok_s(mode, n)
                row = {"mode": mode, "backend": "llamacpp", "model": model, "ctx": 128, "gen": 32, "concurrency": n,
                       "output_tok_s_per_user_p50": u, "decode_tok_per_j": 2.0 * n ** 0.5 * (1.2 if mode == "15W" else 1),
                       "decode_tok_per_j_rel_unc": 0.02, "steady_tok_per_j": 1.8 * n ** 0.5,
                       "steady_tok_per_j_rel_unc": 0.03, "energy_rail": "VDD_IN"}
                if load_columns:
                    row.update(system_output_tok_s=u * n, goodput_fraction=1.0 if n <= WITHIN[mode] else 0.5,
                               energy_per_good_token_j=0.5 / n ** 0.5)
                rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def view(tmp_path):
    return ResultsView(summary(), None, tmp_path, {})


def test_other_figures_see_the_lowest_concurrency_only(view):
    assert view.concurrencies == list(NS) and view.base_concurrency == 1
    assert (view.summary["concurrency"] == 1).all() and len(view.summary) == 4
    d = long_table(view, "decode_tok_per_j", 128, 32)
    assert d.loc[(d["model"] == "m-a") & (d["mode"] == "25W"), "value"].item() == pytest.approx(2.0)


def test_tok_j_vs_concurrency_values(view):
    fig, data = concurrency.tok_j_vs_concurrency(view, 128, 32)
    r = data[(data["model"] == "m-b") & (data["mode"] == "15W")].set_index("concurrency")
    np.testing.assert_allclose(r["value"], [2.4 * n ** 0.5 for n in NS])
    np.testing.assert_allclose(r["steady_value"], [1.8 * n ** 0.5 for n in NS])
    np.testing.assert_allclose(r["hi"] / r["value"] - 1, 1.96 * 0.02)  # the split's interval carried through
    line = [ln for ln in fig.axes[1].lines if ln.get_linestyle() == "-"][0]  # m-b, first series' line
    assert list(line.get_xdata()) == list(NS)


def test_pareto_front_of_system_vs_user_tok_s(view):
    d = concurrency.load_points(view, 128, 32)
    a = d[d["model"] == "m-a"].set_index(["mode", "concurrency"])
    # 25W beats 15W on per-user tok/s at every N and on system tok/s at the same N: every 15W point is dominated
    assert not a.loc["15W", "on_front"].any()
    assert a.loc["25W", "on_front"].all()  # along N: more system tok/s, less per user: all on the front
    _, data = concurrency.system_vs_user_pareto(view, 128, 32)
    assert data["value"].tolist() == data["system_tok_s"].tolist()


def test_max_concurrency_within_slo_by_hand(view):
    t = concurrency.max_within_slo(view, 128, 32).set_index(["model", "mode"])
    assert t.loc[("m-a", "15W"), "value"] == 2 and t.loc[("m-a", "25W"), "value"] == 4
    assert t.loc[("m-b", "25W"), "mj_per_good_token"] == pytest.approx(1000 * 0.5 / 4 ** 0.5)
    assert (t["status"] == "ok").all()


def test_catalogue_lists_them_with_how_computed(tmp_path):
    view = ResultsView(summary(), None, tmp_path, {})
    cat = Catalogue(view)
    for spec in SPECS:
        if spec.name.startswith("C") or spec.name == "max_concurrency_within_slo":
            cat.render(spec)
    index = view.write_index({}).read_text()
    for name in ("C1_tok_j_vs_concurrency_ctx128_gen32", "C2_system_vs_user_tok_s_ctx128_gen32",
                 "C3_max_concurrency_within_slo_ctx128_gen32", "max_concurrency_within_slo"):
        line = next(ln for ln in index.splitlines() if ln.startswith(f"| {name} |"))
        assert "| ok |" in line, line
    assert "equal shares among the requests in flight" in index and "goodput_fraction" in index
    assert (tmp_path / "C3_max_concurrency_within_slo_ctx128_gen32.png").stat().st_size > 0


def test_concurrency_1_only_says_not_drawn(tmp_path):
    view = ResultsView(summary(levels=(1,), load_columns=False), None, tmp_path, {})
    cat = Catalogue(view)
    for spec in SPECS:
        if spec.name.startswith("C") or spec.name == "max_concurrency_within_slo":
            cat.render(spec)
    status = {e.name: (e.status, e.reason) for e in view.entries}
    assert status["C1_tok_j_vs_concurrency_ctx128_gen32"] == (
        "no data", "needs at least two concurrency levels (the summary has concurrency 1 only)")
    assert status["C2_system_vs_user_tok_s_ctx128_gen32"][0] == "no data"
    assert "system_output_tok_s" in status["C2_system_vs_user_tok_s_ctx128_gen32"][1]
    assert status["C3_max_concurrency_within_slo_ctx128_gen32"][0] == "no data"
    t = concurrency.max_within_slo(view, 128, 32)
    assert t["value"].isna().all() and (t["status"] == "slo not judged").all()


def test_summary_without_a_concurrency_column_is_concurrency_1(tmp_path):
    view = ResultsView(summary(levels=(1,)).drop(columns="concurrency"), None, tmp_path, {})
    assert view.concurrencies == [1] and view.summary_all is view.summary
    d = concurrency.load_points(view, 128, 32)
    assert (d["concurrency"] == 1).all() and d["on_front"].any()


def test_rows_without_a_concurrency_are_concurrency_1(tmp_path):
    """A summary pooling captures from before the axis (concurrency missing) with new ones."""
    s = summary()
    s["concurrency"] = s["concurrency"].astype(object).where(s["concurrency"] != 1, None)
    view = ResultsView(s, None, tmp_path, {})
    assert view.concurrencies == list(NS) and len(view.summary) == 4
