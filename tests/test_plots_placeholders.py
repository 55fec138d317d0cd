""""Not drawn" PNGs kept across runs (plots/placeholders.py): the same texts are copied from the
shared cache with the pixels a fresh drawing gives; other texts or another dpi are drawn anew."""
import numpy as np
import pandas as pd
from PIL import Image

from joulebench.plots import placeholders
from joulebench.plots.common import ResultsView


def _view(out, label=None):
    s = pd.DataFrame({"mode": ["15W"], "backend": ["llamacpp"], "model": ["m"], "ctx": [128], "gen": [32]})
    cfg = {"figures": {"synthetic_label": label}} if label else {}
    return ResultsView(s, None, out, cfg, n_boot=10)


def _pixels(path):
    return np.asarray(Image.open(path))


def test_a_placeholder_is_drawn_once_then_copied_with_the_same_pixels(tmp_path, monkeypatch):
    monkeypatch.setenv("JOULEBENCH_CACHE", str(tmp_path / "cache"))
    first = _view(tmp_path / "a").placeholder("fig_x", "decode_tok_per_j not measured (no power sensor)", "w")
    kept = list(placeholders.kept_dir().glob("*.png"))
    assert len(kept) == 1 and kept[0].read_bytes() == first.read_bytes()

    view = _view(tmp_path / "b")
    calls = []
    real = view._placeholder_canvas
    monkeypatch.setattr(view, "_placeholder_canvas", lambda: calls.append(1) or real())
    again = view.placeholder("fig_x", "decode_tok_per_j not measured (no power sensor)", "w")
    assert calls == [] and again.read_bytes() == first.read_bytes()
    assert view.entries[-1].status == "no data" and view.entries[-1].files == ["fig_x.png"]

    # another reason, name or label is another picture: drawn, and kept beside the first
    other = view.placeholder("fig_x", "needs at least two power modes", "w")
    assert calls == [1] and not np.array_equal(_pixels(other), _pixels(kept[0]))
    labelled = _view(tmp_path / "c", label="SYNTHETIC DATA").placeholder(
        "fig_x", "decode_tok_per_j not measured (no power sensor)", "w")
    assert not np.array_equal(_pixels(labelled), _pixels(kept[0]))
    assert len(list(placeholders.kept_dir().glob("*.png"))) == 3

    # a fresh drawing of the first texts (nothing kept) gives the kept pixels
    monkeypatch.setenv("JOULEBENCH_CACHE", str(tmp_path / "empty"))
    fresh = _view(tmp_path / "d").placeholder("fig_x", "decode_tok_per_j not measured (no power sensor)", "w")
    assert np.array_equal(_pixels(fresh), _pixels(first))


def test_the_key_separates_texts_that_concatenate_alike():
    assert placeholders.key(("ab", "c", ""), 90) != placeholders.key(("a", "bc", ""), 90)
    assert placeholders.key(("a", "b", ""), 90) != placeholders.key(("a", "b", ""), 120)
    assert placeholders.key(("a", "b", ""), 90) == placeholders.key(("a", "b", ""), 90)
