import pandas as pd

from joulebench.plots import missing_cells


def test_missing_cells_are_config_minus_summary(default_config):
    summary = pd.DataFrame([{"mode": "default", "backend": "llamacpp", "model": "gemma3-270m", "ctx": 128, "gen": 32}])
    miss = missing_cells(summary, default_config)
    assert sorted(zip(miss.ctx, miss.gen)) == [(128, 64), (512, 32), (512, 64)]
    assert missing_cells(summary, {}) is None
    assert len(missing_cells(pd.DataFrame(), default_config)) == 4
