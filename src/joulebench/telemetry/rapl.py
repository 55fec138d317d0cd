"""Intel/AMD RAPL through powercap sysfs: cumulative energy_uj counters per domain.

The raw counter is stored; it wraps at max_energy_range_uj (recorded in the meta), and `decode`
unwraps it at analysis. The root is injectable so tests use a fake tree.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np

from .base import Sensor, Source, stamp
from .decoded import Rail, clean, rails_in, series

RANGE_KEY = "max_energy_range_uj"


def find_domains(root: str = "/") -> dict[str, dict]:
    """{domain name (e.g. package-0, package-0/dram): {'energy': path, 'max_uj': int}}."""
    out = {}
    for d in sorted(glob.glob(os.path.join(root, "sys/class/powercap/intel-rapl:*"))):
        try:
            name = Path(d, "name").read_text().strip()
            max_uj = int(Path(d, "max_energy_range_uj").read_text())
            int(Path(d, "energy_uj").read_text())
        except (OSError, ValueError):
            continue
        parent = Path(d).name.count(":")
        if parent > 1:  # sub-domain intel-rapl:0:1 -> qualify with its package
            pkg = Path(d).name.rsplit(":", 1)[0]
            try:
                name = Path(root, "sys/class/powercap", pkg, "name").read_text().strip() + "/" + name
            except OSError:
                pass
        out[name] = {"energy": os.path.join(d, "energy_uj"), "max_uj": max_uj}
    return out


def readable(root: str = "/") -> bool:
    return bool(find_domains(root))


class RaplSource(Source):
    name = "rapl"

    def __init__(self, interval_ms: int, root: str | None = None):
        super().__init__(interval_ms)
        self.domains = find_domains(root or "/")
        if not self.domains:
            raise OSError("no readable /sys/class/powercap/intel-rapl:* energy_uj (needs root on recent kernels)")

    def meta(self) -> dict:
        return {"rails": sorted(self.domains), "units": {"e_uj": "uJ (raw, wraps)"},
                RANGE_KEY: {k: v["max_uj"] for k, v in self.domains.items()}}

    def read(self) -> dict:
        st = stamp()
        return {**st, "e_uj": {k: int(Path(v["energy"]).read_text()) for k, v in self.domains.items()}}


def unwrap(v: np.ndarray, max_range: float | None) -> np.ndarray:
    """Counter wraparound (RAPL energy_uj resets to 0 after max_energy_range_uj)."""
    if v.size < 2 or not max_range:
        return v
    d = np.diff(v)
    d[d < 0] += max_range
    return np.concatenate([[v[0]], v[0] + np.cumsum(d)])


def counter_range(meta: dict, rail: str, meta_path: Path) -> float | None:
    """The wrap range of one domain from the meta: a per-domain dict or one scalar for all.
    None when the meta has no range (fine while the counter never goes backwards)."""
    from ..errors import ParseError

    if not meta:
        return None
    rng = meta.get(RANGE_KEY)
    if isinstance(rng, dict):
        rng = rng.get(rail)
    if rng is None:
        return None
    try:
        val = float(rng)
    except (TypeError, ValueError):
        raise ParseError(meta_path, f"key {RANGE_KEY!r} ({rail}): not a number: {rng!r}") from None
    if not np.isfinite(val) or val <= 0:
        raise ParseError(meta_path, f"key {RANGE_KEY!r} ({rail}): must be > 0, got {rng!r}")
    return val


def decode(tr, samples, meta: dict, meta_path: Path) -> None:
    from ..errors import ParseError

    for rail in rails_in(samples, "e_uj"):
        t, v = clean(*series(samples, "e_uj", rail, 1.0), rail, tr.problems)
        rng = counter_range(meta, rail, meta_path)
        if rng is None and np.any(np.diff(v) < 0):
            what = "file missing" if not meta else f"key {RANGE_KEY!r} ({rail}) missing"
            raise ParseError(meta_path, f"{what}: the {rail} counter wrapped and cannot be unwrapped "
                                        "without its range")
        tr.rails[rail] = Rail(rail, "counter", t, unwrap(v, rng) * 1e-6)


SENSOR = Sensor(name="rapl", headline_rail="package-0", default_interval_ms=50, make_source=RaplSource,
                decode=decode, available=readable, platforms=None, auto_reason="auto: RAPL powercap readable",
                value_keys=("e_uj",), meta_keys=(RANGE_KEY,))
