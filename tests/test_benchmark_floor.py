"""benchmarks/sweep_overhead.py's floor: the overhead of the required components alone counts
exactly the items it names (aiperf's own phases, the warm-up, the server's start not hidden, a
Snakemake run with nothing to do) and nothing joulebench could remove; benchmarks/warmup_length.py's
ratio of the first measured request to the others."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from sweep_overhead import REQUIRED, floor  # noqa: E402

AIPERF = {"aiperf: interpreter and imports": 0.2, "aiperf: services start": 1.2, "aiperf: tokenizer load": 1.4,
          "aiperf: dataset and configuring": 0.2, "aiperf: configured -> first request": 0.0,
          "aiperf: profiling phase beyond the measured requests": 0.5, "aiperf: results, export, exit": 1.2}
JOULEBENCH = {"capture step: model_files": 0.2, "capture: collect, check, write records": 0.2,
              "analysis: aggregate_pair": 0.4, "figures (plot job)": 5.5,
              "snakemake: start, DAG, scheduling, job spawns": 2.0}


def test_the_floor_counts_the_required_components_and_nothing_else():
    items = {**AIPERF, **JOULEBENCH, "aiperf: warm-up requests": 1.0, "capture step: server_ready": 1.4}
    parts, share = floor({"items": items, "serving_s": 152.3, "bare_snakemake_s": 1.1})
    assert parts == pytest.approx({"aiperf's own phases": 4.7, "warm-up request(s)": 1.0,
                                   "the server's start (not hidden)": 1.4, "a Snakemake run with nothing to do": 1.1})
    assert share == pytest.approx(8.2 / (152.3 + 8.2))
    # joulebench's own items move the overhead, never the floor
    parts2, share2 = floor({"items": {**items, "figures (plot job)": 0.0}, "serving_s": 152.3,
                            "bare_snakemake_s": 1.1})
    assert (parts2, share2) == (parts, share)


def test_every_required_item_is_one_the_itemisation_writes():
    """A renamed item in _overhead_items.py would silently drop out of the floor."""
    import inspect

    import _overhead_items

    source = inspect.getsource(_overhead_items.itemise)
    for keys in REQUIRED.values():
        for key in keys:
            kind, name = key.split(": ", 1)
            if kind == "capture step":
                assert name in _overhead_items.PRE_STEPS, key
            else:
                assert f'"{key}"' in source, key


def test_warmup_length_compares_the_first_measured_request_with_the_median_of_the_others():
    from warmup_length import FIGURES, ratios

    def rec(ttft, itl, tok_s):
        values = dict(zip(FIGURES.values(), (ttft, itl, tok_s)))
        return {"metrics": {k: {"value": v} for k, v in values.items()}}

    out = ratios([rec(130.0, 22.0, 40.0), rec(100.0, 20.0, 50.0), rec(90.0, 19.0, 52.0), rec(110.0, 21.0, 48.0)])
    first, others = out["TTFT"]
    assert first == pytest.approx(1.3) and others == pytest.approx([1.0, 0.9, 1.1])
    assert out["ITL"][0] == pytest.approx(22 / 20) and out["tok/s per user"][0] == pytest.approx(40 / 50)
