"""Figures drawn again only when their inputs changed (plots/reuse.py): the same summary, requests,
config and code give the set kept from last time, copied byte for byte; a changed summary draws."""
import json
from pathlib import Path

import pytest
from test_plots_figures import CFG, hand_requests, hand_summary

from joulebench import plots


class Drew(Exception):
    pass


def test_figures_are_copied_back_when_nothing_changed_and_drawn_when_the_summary_did(tmp_path, monkeypatch):
    s = hand_summary()
    s = s[(s["backend"] == "llamacpp") & (s["model"] == "m-small")].reset_index(drop=True)  # fewer charts
    summary, requests = tmp_path / "summary.parquet", tmp_path / "requests.parquet"
    s.to_parquet(summary)
    hand_requests(s).to_parquet(requests)
    keep = tmp_path / ".run/figures"
    first = plots.render_all(summary, requests, tmp_path / "a", CFG, keep_in=keep)
    drawn = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    assert len(first) > 50 and "index.md" in drawn and "1_tok_s_vs_mode_gen32.png" in drawn

    def no_drawing(*a, **k):
        raise Drew

    monkeypatch.setattr(plots, "render_frames", no_drawing)
    again = plots.render_all(summary, requests, tmp_path / "b", CFG, keep_in=keep)
    assert {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()} == drawn
    assert sorted(p.name for p in again) == sorted(drawn)
    # any input changed: drawn again (the code that drew them, a config value, a summary value)
    manifest = keep / ".drawn-from.json"
    kept = json.loads(manifest.read_text())
    assert "plots/catalogue.py" in kept["code"] and "data/config.schema.yaml" in kept["code"]
    manifest.write_text(json.dumps({**kept, "code": {**kept["code"], "plots/catalogue.py": "0" * 64}}))
    with pytest.raises(Drew):
        plots.render_all(summary, requests, tmp_path / "c0", CFG, keep_in=keep)
    manifest.write_text(json.dumps(kept))
    with pytest.raises(Drew):
        plots.render_all(summary, requests, tmp_path / "c", {**CFG, "figures": {"dpi": 100}}, keep_in=keep)
    s.loc[0, "output_tok_s_per_user_p50"] *= 1.01
    s.to_parquet(summary)
    with pytest.raises(Drew):
        plots.render_all(summary, requests, tmp_path / "d", CFG, keep_in=keep)
    # without a place to keep them (joulebench's API), always drawn
    with pytest.raises(Drew):
        plots.render_all(tmp_path / "summary.parquet", requests, tmp_path / "e", CFG)


def test_a_changed_cell_redraws_only_the_charts_that_show_it_and_the_rest_are_the_bytes_a_fresh_draw_gives(
        tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    s = hand_summary()
    s = s[s["backend"] == "llamacpp"].reset_index(drop=True)
    requests = tmp_path / "requests.parquet"
    hand_requests(s).to_parquet(requests)
    before, after = tmp_path / "before.parquet", tmp_path / "after.parquet"
    s.to_parquet(before)
    edited = s.copy()
    row = edited.index[(edited["model"] == "m-big") & (edited["mode"] == "15W") & (edited["ctx"] == 128)][0]
    edited.loc[row, "ttft_ms_p50"] *= 1.3  # one cell's TTFT: the TTFT charts change, tok/s and tok/J do not
    edited.to_parquet(after)
    keep = tmp_path / ".run/figures"
    # matplotlib mutates shared objects as it draws (axvspan's unit rectangle path), so a process's
    # first set can differ from its later ones in state no pixel shows; the plot job is one process
    # per run, so the sets compared here both come after a first one
    plots.render_all(before, requests, tmp_path / "warm", CFG)
    plots.render_all(before, requests, tmp_path / "a", CFG, keep_in=keep)
    kept = json.loads((keep / ".drawn-from.json").read_text())["figures"]
    assert "EG_ttft_vs_prompt_gen32" in kept and "1_tok_s_vs_mode_gen32" in kept

    rendered = []
    savefig = Figure.savefig

    def spy(fig, path, *a, **k):
        rendered.append(Path(path).stem)
        return savefig(fig, path, *a, **k)

    monkeypatch.setattr(Figure, "savefig", spy)
    plots.render_all(after, requests, tmp_path / "b", CFG, keep_in=keep)
    redrawn = {n for n in rendered if n in kept}
    assert "EG_ttft_vs_prompt_gen32" in redrawn and "1_tok_s_vs_mode_gen32" not in redrawn
    assert 0 < len(redrawn) < len(kept) / 2
    monkeypatch.setattr(Figure, "savefig", savefig)
    plots.render_all(after, requests, tmp_path / "fresh", CFG)
    fresh = {p.name: p.read_bytes() for p in (tmp_path / "fresh").glob("*.png")}
    assert fresh and {p.name: p.read_bytes() for p in (tmp_path / "b").glob("*.png")} == fresh
    changed = "EG_ttft_vs_prompt_gen32.png"
    assert (tmp_path / "b" / changed).read_bytes() != (tmp_path / "a" / changed).read_bytes()
    # the next run compares against the set just drawn
    now = json.loads((keep / ".drawn-from.json").read_text())["figures"]
    assert now["EG_ttft_vs_prompt_gen32"] != kept["EG_ttft_vs_prompt_gen32"]


KEY_OF_A_FIGURE = """
import sys
sys.path.insert(0, {src!r})
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from joulebench.plots.reuse import figure_key
plt.figure()  # left open: the chart gets pyplot's number 2
fig, ax = plt.subplots(figsize=(4, 3))
ax.errorbar([0, 1], [1.0, {y}], yerr=[0.1, 0.2], label="a")
ax.axvspan(0.2, 0.4)
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
print(figure_key(fig, {{"dpi": {dpi}, "bbox_inches": "tight"}}))
"""


def test_a_figure_key_is_the_same_in_every_process_and_changes_with_a_value_or_the_dpi():
    import subprocess
    import sys

    src = str(Path(plots.__file__).resolve().parents[2])

    def key(y=2.0, dpi=120):
        code = KEY_OF_A_FIGURE.format(src=src, y=y, dpi=dpi)
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()

    first = key()
    assert len(first) == 64 and key() == first  # another process, other addresses
    assert key(y=2.0000001) != first and key(dpi=100) != first


def test_a_chart_is_drawn_where_its_kept_file_is_gone_or_it_cannot_be_keyed(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from joulebench.plots.reuse import KeptFigures, figure_key

    def chart():  # each save gets a chart built anew, as the plot job builds each once
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 2])
        return fig

    key = figure_key(chart(), {"dpi": 50})
    cache = tmp_path / "kept"
    cache.mkdir()
    (cache / ".drawn-from.json").write_text(json.dumps({"figures": {"chart": key}}))
    kept = KeptFigures(cache)
    kept.save(chart(), tmp_path / "chart.png", dpi=50)  # the key matches but no kept PNG: drawn
    assert kept.copied == [] and (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
    (cache / "chart.png").write_bytes(b"kept")
    kept.save(chart(), tmp_path / "chart.png", dpi=50)
    assert kept.copied == ["chart"] and (tmp_path / "chart.png").read_bytes() == b"kept"
    odd = chart()
    odd.unpicklable = lambda: None  # a closure: pickle refuses it
    assert figure_key(odd, {"dpi": 50}) is None
    kept.save(odd, tmp_path / "chart.png", dpi=50)
    assert kept.copied == ["chart"] and (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
    plt.close("all")
