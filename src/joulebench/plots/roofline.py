"""Beyond the seed: decode bandwidth utilisation. Each decoded token reads (about) the whole model
once, so achieved bandwidth ≈ model_size_bytes × decode tok/s; utilisation = that ÷ the device's
peak memory bandwidth (config device_profile.peak_mem_bandwidth_gbs)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .common import ResultsView
from .grouped_bars import build_data_bars


def peak_bandwidth_gbs(cfg: dict) -> float | None:
    v = (cfg.get("device_profile") or {}).get("peak_mem_bandwidth_gbs")
    return float(v) if v else None


def roofline_data(view: ResultsView, peak_gbs: float) -> pd.DataFrame:
    c = view.cell(*view.canonical).set_index(["model", "mode", "backend"])
    col = view.metrics["tok_s"][0]
    rows = []
    for model in view.models:
        for mode, backend, name in view.series():
            key = (model, mode, backend)
            if key in c.index:
                # not recorded (None in the summary) -> NaN: no bar, never a TypeError
                size = float(pd.to_numeric(c.at[key, "model_size_bytes"], errors="coerce")) \
                    if "model_size_bytes" in c else np.nan
                tps = float(c.at[key, col])
            else:
                size = tps = np.nan
            gbs = size * tps / 1e9
            rows.append({"model": model, "series": name, "mode": mode, "backend": backend,
                         "model_size_bytes": size, "tok_s": tps, "achieved_gbs": gbs,
                         "value": 100.0 * gbs / peak_gbs, "lo": np.nan, "hi": np.nan})
    return pd.DataFrame(rows)


def build_roofline(view: ResultsView, peak_gbs: float):
    d = roofline_data(view, peak_gbs)
    name = (view.cfg.get("device_profile") or {}).get("name", "device")
    return build_data_bars(view, d, "decode bandwidth utilisation (% of peak)",
                           f"decode bandwidth utilisation = model bytes x tok/s / {peak_gbs:g} GB/s ({name}), "
                           f"ctx {view.canonical[0]}, gen {view.canonical[1]}", hline=100.0)
