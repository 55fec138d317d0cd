"""A fleet's tables for the figures: each device's mode becomes the series `mode@device`.

Every figure draws one series per mode (and compares modes at the same cell: tok/J, tok/s, the
Pareto front), so a fleet folded this way gets its per-device comparison from the same figures,
at the same cell, with no figure of its own; a one-machine summary (no fleet_device column) passes
through unchanged."""
from __future__ import annotations

import pandas as pd

from ..config import Cell, devices

SEPARATOR = "@"  # names never hold it (config schema), and figure file names may


def fold_devices(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None or Cell.DEVICE not in frame:
        return frame
    frame = frame.copy()
    frame["mode"] = frame["mode"].astype(str) + SEPARATOR + frame[Cell.DEVICE].astype(str)
    return frame


def fold_config(cfg: dict) -> dict:
    """The config's modes as the folded series (`mode@device`, in device then mode order)."""
    if not cfg.get("devices"):
        return cfg
    modes = cfg.get("modes") or {}
    folded = {}
    for device in devices(cfg):
        wanted = cfg["devices"][device].get("modes") or list(modes)
        folded.update({f"{m}{SEPARATOR}{device}": modes.get(m) or {} for m in wanted})
    return {**cfg, "modes": folded}
