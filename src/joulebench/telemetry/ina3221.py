"""INA3221 power monitor (Jetson Orin) read straight from hwmon sysfs, 10-50 ms polling.

Channels are discovered by their label (`inN_label` = VDD_IN, ...), never by index: the index
order differs between boards. Power = bus voltage (inN_input, mV) x current (currN_input, mA).
The sysfs root is injectable so tests run against a fake tree.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path

from .base import Source, stamp

PATTERN = "sys/bus/i2c/drivers/ina3221*/*/hwmon/hwmon*"


def find_channels(root: str = "/") -> dict[str, dict]:
    """{rail label: {'mv': path, 'ma': path, 'hwmon': dir}} for every labelled channel with both."""
    out = {}
    for hw in sorted(glob.glob(os.path.join(root, PATTERN))):
        for lab in sorted(glob.glob(os.path.join(hw, "in*_label"))):
            idx = Path(lab).name[2:-6]
            mv, ma = os.path.join(hw, f"in{idx}_input"), os.path.join(hw, f"curr{idx}_input")
            try:
                name = Path(lab).read_text().strip()
            except OSError:
                continue
            if name and os.path.exists(mv) and os.path.exists(ma) and name not in out:
                out[name] = {"mv": mv, "ma": ma, "hwmon": hw}
    return out


def readable(root: str = "/") -> bool:
    ch = find_channels(root)
    try:
        return bool(ch) and all(int(Path(c["ma"]).read_text()) is not None for c in ch.values())
    except (OSError, ValueError):
        return False


def _read_int(path: str) -> int:
    with open(path, "rb") as fh:  # open per read: sysfs values refresh only on a fresh read
        return int(fh.read().strip())


class Ina3221Source(Source):
    name = "ina3221"

    def __init__(self, interval_ms: int, root: str | None = None):
        super().__init__(interval_ms)
        self.root = root or "/"
        self.channels = find_channels(self.root)
        if not self.channels:
            raise OSError(f"no INA3221 channels under {os.path.join(self.root, PATTERN)}")

    def meta(self) -> dict:
        upd = {}
        for hw in sorted({c["hwmon"] for c in self.channels.values()}):
            try:
                upd[hw] = int(Path(hw, "update_interval").read_text())  # ms, chip's own averaging
            except (OSError, ValueError):
                upd[hw] = None
        return {"rails": sorted(self.channels), "units": {"p_mw": "mW", "mv": "mV", "ma": "mA"},
                "update_interval_ms": upd, "channels": self.channels}

    def read(self) -> dict:
        st = stamp()
        mv = {k: _read_int(c["mv"]) for k, c in self.channels.items()}
        ma = {k: _read_int(c["ma"]) for k, c in self.channels.items()}
        return {**st, "p_mw": {k: mv[k] * ma[k] / 1000.0 for k in mv}, "mv": mv, "ma": ma}
