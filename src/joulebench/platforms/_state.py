"""A small JSON state file per platform under results/.run/platform/.

It survives between capture jobs (each cell is a separate process) and holds what must be
remembered across them: the idle temperature per mode, power limits joulebench itself set, and a
pending-reboot marker. Written atomically so an interrupted job never leaves half a file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..runtime.rundir import platform_dir

DEFAULT_DIR = platform_dir()


class StateFile:
    def __init__(self, path: Path):
        self.path = Path(path)

    def load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def update(self, **changes) -> dict:
        data = self.load()
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
        return data


def note_idle(state: StateFile, mode: str | None, temp: float | None) -> None:
    """Idle temperature = lowest reading seen in this mode so far (readings are taken before the
    server starts). The lowest, not the first: the first reading after a mode switch may still
    carry heat from the previous mode's cells."""
    if mode is None or temp is None:
        return
    idle = state.load().get("idle_temperature_c", {})
    if mode not in idle or temp < idle[mode]:
        idle[mode] = round(float(temp), 1)
        state.update(idle_temperature_c=idle)


def idle_for(state: StateFile, mode: str | None) -> float | None:
    if mode is None:
        return None
    return state.load().get("idle_temperature_c", {}).get(mode)
