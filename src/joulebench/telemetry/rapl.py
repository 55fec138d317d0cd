"""Intel/AMD RAPL through powercap sysfs: cumulative energy_uj counters per domain.

The raw counter is stored; it wraps at max_energy_range_uj (recorded in the meta), and the analysis
unwraps it (split/integrate.py). The root is injectable so tests use a fake tree.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path

from .base import Source, stamp


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
                "max_energy_range_uj": {k: v["max_uj"] for k, v in self.domains.items()}}

    def read(self) -> dict:
        st = stamp()
        return {**st, "e_uj": {k: int(Path(v["energy"]).read_text()) for k, v in self.domains.items()}}
