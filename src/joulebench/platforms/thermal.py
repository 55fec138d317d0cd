"""Temperatures from the kernel's thermal zones (Jetson, most Linux boards)."""
from __future__ import annotations

import glob
import os


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def zones(sysfs_root: str = "/") -> dict[str, float]:
    """{zone type: deg C}; zones that fail to read (some Jetson zones are offline) are skipped."""
    out = {}
    for zdir in sorted(glob.glob(os.path.join(sysfs_root, "sys/class/thermal/thermal_zone*"))):
        raw = _read(os.path.join(zdir, "temp"))
        if not raw or not raw.lstrip("-").isdigit():
            continue
        value = int(raw) / 1000.0
        # offline Jetson zones report -256 C; never let them win or lose a max()
        if value <= -200:
            continue
        name = _read(os.path.join(zdir, "type")) or os.path.basename(zdir)
        out[name] = value
    return out


def hottest(sysfs_root: str = "/", prefer: tuple[str, ...] = ()) -> float | None:
    """The preferred zone (e.g. Jetson's `tj-thermal`, the junction maximum) if present, else the max."""
    z = zones(sysfs_root)
    for name in prefer:
        if name in z:
            return z[name]
    return max(z.values()) if z else None
