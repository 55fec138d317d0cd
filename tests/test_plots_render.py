"""The whole catalogue on (a) the real 4-cell CPU results when present and (b) a generated seed-scale
SYNTHETIC summary (768 cells) to prove the layouts hold at full size."""
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from joulebench.plots import render_frames

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / "results" / "default" / "llamacpp"


def test_render_real_cpu_results(tmp_path, default_config):
    if not (REAL / "summary.parquet").exists():
        pytest.skip("no real results in this checkout")
    s = pd.read_parquet(REAL / "summary.parquet")
    r = pd.read_parquet(REAL / "requests.parquet")
    c = render_frames(s, r, tmp_path, default_config, n_boot=100)
    st = {e.name: e for e in c.entries}
    assert not [e.name for e in c.entries if e.status == "error"]
    assert st["5_ttft_vs_prompt"].status == "ok"
    assert st["E_mj_per_output_token"].status == "no data"  # no power sensor on a CPU
    assert st["12_speedup_ratios_comparison"].reason == "needs at least two power modes"
    assert len(pd.read_csv(tmp_path / "report_full_results_default_llamacpp.csv").columns) == 33 + 2  # seed + joulebench


@pytest.mark.slow
def test_render_synthetic_seed_scale(tmp_path):
    spec = importlib.util.spec_from_file_location("mss", REPO / "benchmarks" / "make_synthetic_summary.py")
    mss = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mss)
    s, r, cfg = mss.make(seed=0, n_requests=5)
    assert len(s[s["concurrency"] == 1]) == 768 and len(s) == 768 + 3 * 64  # + canonical cell at N = 2, 4, 8
    c = render_frames(s, r, tmp_path, cfg, n_boot=200)
    bad = [(e.name, e.reason) for e in c.entries if e.status != "ok"]
    assert bad == []  # at full size with energy, every chart and table has data
    assert len({e.name for e in c.entries}) == len(c.entries)
    assert (tmp_path / "11_canonical_cell_comparison_ctx2048_gen256.png").exists()
    for g in (64, 128, 256):
        assert (tmp_path / f"EF_decode_tokj_vs_mode_gen{g}.png").exists()
    assert "SYNTHETIC DATA" in (tmp_path / "index.md").read_text()
    assert (tmp_path / "C2_system_vs_user_tok_s_ctx2048_gen256.png").exists()


def test_theme_is_seaborns_darkgrid_without_importing_seaborn():
    """apply_theme copies seaborn's darkgrid settings (importing seaborn costs ~1.6 CPU s per render):
    every rcParam it sets matches seaborn's own, and every one seaborn sets is copied (but its
    colormap, which exists only once seaborn is imported); so do the colour codes ("k": error bars)."""
    import matplotlib as mpl
    from matplotlib.colors import colorConverter, to_hex, to_rgb

    from joulebench.plots.style import apply_theme

    def themed(apply):
        with mpl.rc_context():
            mpl.rcdefaults()
            for code in "bgrmyck":  # what matplotlib starts with (a theme sets them process-wide)
                colorConverter.colors[code] = to_rgb(DEFAULT_CODES[code])
            apply()
            rc = dict(mpl.rcParams)
        rc["axes.prop_cycle"] = [to_hex(c) for c in rc["axes.prop_cycle"].by_key()["color"]]
        rc.update({f"code {c}": to_hex(colorConverter.colors[c]) for c in "bgrmyck"})
        return rc

    DEFAULT_CODES = {"b": (0, 0, 1), "g": (0, 0.5, 0), "r": (1, 0, 0), "m": (0.75, 0, 0.75),
                     "y": (0.75, 0.75, 0), "c": (0, 0.75, 0.75), "k": (0, 0, 0)}

    mpl.rcdefaults()
    default = themed(lambda: None)
    ours = themed(apply_theme)
    seaborn = pytest.importorskip("seaborn")
    theirs = themed(lambda: seaborn.set_theme(style="darkgrid", font_scale=1.0))
    changed = {k for k in theirs if theirs[k] != default[k]} - {"image.cmap"}
    assert changed and {k: ours[k] for k in changed} == {k: theirs[k] for k in changed}
    from joulebench.plots.style import FIXED_TITLE

    assert {k for k in ours if ours[k] != default[k]} == changed | set(FIXED_TITLE)


def test_fixed_title_height_draws_the_same_pixels():
    """FIXED_TITLE only skips matplotlib's search for top tick labels: a titled, labelled two-panel
    figure with a figure legend (as drawn here) has the same pixels with and without it."""
    import io

    import matplotlib as mpl
    import numpy as np
    from matplotlib.figure import Figure
    from PIL import Image

    from joulebench.plots.style import FIXED_TITLE, PNG, apply_theme

    def draw(extra):
        with mpl.rc_context():
            apply_theme()
            mpl.rcParams.update(extra)
            fig = Figure(figsize=(6, 3))
            for i, ax in enumerate(fig.subplots(1, 2)):
                ax.plot([1, 2, 3], [3, 1, 2 + i], marker="o", label=f"series {i}")
                ax.set_title(f"panel {i}\nsecond line")
                ax.set_xlabel("prompt tokens")
                ax.set_ylabel("tok/s")
            fig.legend(loc="upper left", bbox_to_anchor=(1.0, 0.95))
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=60, bbox_inches="tight", **PNG)
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())))

    auto = draw({"axes.titley": None})
    assert np.array_equal(draw(FIXED_TITLE), auto)
    # the check can fail: a title set lower is seen
    assert not np.array_equal(draw({"axes.titley": 0.9}), auto)


def test_charts_spread_over_forked_workers_give_the_same_files_and_index(tmp_path):
    """The plot job's threads (--cores) spread the catalogue over processes: every file, byte for
    byte, and the index in catalogue order are what one process writes."""
    from test_plots_figures import CFG, hand_requests, hand_summary

    from joulebench.plots.reuse import KeptFigures

    s = hand_summary()
    one = render_frames(s, hand_requests(s), tmp_path / "one", CFG, n_boot=50, kept=KeptFigures(tmp_path / "k1"))
    two = render_frames(s, hand_requests(s), tmp_path / "two", CFG, n_boot=50, kept=KeptFigures(tmp_path / "k2"),
                        workers=3)
    assert [e.__dict__ for e in two.entries] == [e.__dict__ for e in one.entries]
    files = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert len(files) > 50 and files == sorted(p.name for p in (tmp_path / "two").iterdir())
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes() for f in files)
    # the charts' keys come back from the workers, for the next run's reuse
    assert two.kept.drawn.keys() == one.kept.drawn.keys() and len(two.kept.drawn) > 10


def test_a_figure_worker_that_fails_or_dies_fails_the_plot_with_its_name(tmp_path, monkeypatch):
    import os

    from test_plots_figures import CFG, hand_requests, hand_summary

    from joulebench.plots import catalogue

    s = hand_summary()
    render = catalogue.Catalogue.render

    def breaks(self, spec):
        if spec is catalogue.SPECS[1]:  # worker 1 of 2 draws it
            raise RuntimeError("a broken spec")
        if spec is catalogue.SPECS[2]:  # worker 0
            os._exit(3)
        return render(self, spec)

    monkeypatch.setattr(catalogue.Catalogue, "render", breaks)
    with pytest.raises(RuntimeError) as err:
        render_frames(s, hand_requests(s), tmp_path, CFG, n_boot=20, workers=2)
    text = str(err.value)
    assert "figures-0 (exit code 3): died" in text
    assert "figures-1 (exit code 0)" in text and "RuntimeError: a broken spec" in text
