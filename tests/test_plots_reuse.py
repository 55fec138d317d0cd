"""Figures drawn again only when their inputs changed (plots/reuse.py): the same summary, requests,
config and code give the set kept from last time, copied byte for byte; a changed summary draws."""
import json

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
