"""INA3221 power monitor (Jetson Orin) read straight from hwmon sysfs, 10-50 ms polling.

Channels are discovered by their label (`inN_label` = VDD_IN, ...), never by index: the index
order differs between boards. Power = bus voltage (inN_input, mV) x current (currN_input, mA).
The sysfs root is injectable so tests run against a fake tree.

Sensor model: the chip converts each channel in turn and keeps the last (averaged) conversion in
its registers, so a reading describes the *past* conversion cycle, not the instant it is read.
hwmon reports that cycle as `update_interval` (ms; conversion times x averaging count x enabled
channels; ~6.6 ms at Orin defaults) and the averaging count as `samples` (meta `averaging_count`).
Both are recorded in the meta at capture; `decode` makes each reading the mean power over [t - update_interval, t].
"""
from __future__ import annotations

import glob
import os
from pathlib import Path

from .base import Sensor, Source, stamp
from .decoded import Rail, clean, rails_in, series

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


def read_setting(hwmon: str, name: str) -> int | None:
    """A chip setting from hwmon sysfs (None where the driver does not expose it)."""
    try:
        return int(Path(hwmon, name).read_text())
    except (OSError, ValueError):
        return None


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
        hws = sorted({c["hwmon"] for c in self.channels.values()})
        return {"rails": sorted(self.channels),
                "units": {"p_mw": "mW", "mv": "mV", "ma": "mA", "update_interval_ms": "ms",
                          "averaging_count": "conversions per reading"},
                "update_interval_ms": {hw: read_setting(hw, "update_interval") for hw in hws},
                "averaging_count": {hw: read_setting(hw, "samples") for hw in hws}, "channels": self.channels}

    def read(self) -> dict:
        st = stamp()
        mv = {k: _read_int(c["mv"]) for k, c in self.channels.items()}
        ma = {k: _read_int(c["ma"]) for k, c in self.channels.items()}
        return {**st, "p_mw": {k: mv[k] * ma[k] / 1000.0 for k in mv}, "mv": mv, "ma": ma}


def averaging_window_ms(meta: dict, rail: str) -> float | None:
    """The conversion cycle a reading of `rail` averages over, from the capture's meta."""
    hw = ((meta.get("channels") or {}).get(rail) or {}).get("hwmon")
    upd = meta.get("update_interval_ms") or {}
    val = upd.get(hw) if hw in upd else (next(iter(upd.values())) if len(set(upd.values())) == 1 else None)
    return float(val) if isinstance(val, (int, float)) and val > 0 else None


def decode(tr, samples, meta: dict, meta_path: Path) -> None:
    for rail in rails_in(samples, "p_mw"):
        t, v = clean(*series(samples, "p_mw", rail, 1e-3), rail, tr.problems)
        win = averaging_window_ms(meta, rail)
        if win is None:
            tr.problems.append(f"{rail}: INA3221 update_interval not recorded: readings taken as instantaneous")
        tr.rails[rail] = Rail(rail, "power", t, v, t, v, window_ns=(win or 0.0) * 1e6)


SENSOR = Sensor(name="ina3221", headline_rail="VDD_IN", default_interval_ms=50, make_source=Ina3221Source,
                decode=decode, available=readable, platforms=("jetson",), auto_reason="auto: INA3221 hwmon readable",
                value_keys=("p_mw",), meta_keys=("update_interval_ms", "averaging_count"))
