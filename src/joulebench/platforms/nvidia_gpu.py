"""A discrete NVIDIA GPU: modes are board power limits, set with `sudo -n nvidia-smi -i IDX -pl W`
and read back through `nvidia-smi --query-gpu=...` before every cell.

A mode without power_limit_w ("default") changes nothing the user set; it only undoes a limit that
joulebench itself set for an earlier mode (remembered in the state file), so "default" never runs
at a limit left over from the previous block of cells.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import CaptureError
from . import _cmd
from ._state import DEFAULT_DIR, StateFile, idle_for, note_idle
from .base import Platform, order_by

QUERY = "power.limit,power.default_limit,clocks.sm,clocks.mem,temperature.gpu,name"
PROV_QUERY = "driver_version,pci.bus_id,power.min_limit,power.max_limit,persistence_mode"
TOLERANCE_W = 1.0  # the driver stores limits in mW and may round to its own granularity


def _value(raw: str):
    raw = raw.strip()
    if raw.startswith("[") or raw in ("N/A", ""):  # "[N/A]", "[Not Supported]"
        return None
    try:
        return float(raw)
    except ValueError:
        return raw


def query(index: int, fields: str) -> dict:
    proc = _cmd.run([_cmd.tool("nvidia-smi"), "-i", str(index), f"--query-gpu={fields}",
                     "--format=csv,noheader,nounits"])
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if not lines:
        raise CaptureError(f"nvidia-smi returned nothing for GPU {index}")
    names = fields.split(",")
    # the name is last in QUERY, so a comma inside it would only spill into the last field
    values = lines[0].split(",", len(names) - 1)
    if len(values) != len(names):
        raise CaptureError(f"nvidia-smi: cannot parse {lines[0]!r} as {fields}")
    return {n: (_value(v) if n != "name" else v.strip()) for n, v in zip(names, values)}


class NvidiaGpuPlatform(Platform):
    name = "nvidia-gpu"

    def __init__(self, state_dir: Path | str = DEFAULT_DIR):
        self.state = StateFile(Path(state_dir) / "nvidia-gpu.json")
        self.mode: str | None = None
        self.index = 0
        self.applied: list[str] = []

    def _set_limit(self, watts: float) -> None:
        _cmd.sudo(["nvidia-smi", "-i", str(self.index), "-pl", f"{watts:g}"])
        self.applied.append(f"nvidia-smi -i {self.index} -pl {watts:g}")

    def apply_mode(self, mode: str, mode_cfg: dict) -> None:
        self.mode = mode
        self.index = int(mode_cfg.get("gpu_index", 0))
        q = query(self.index, QUERY)
        ours = self.state.load().get("limits_set", {})
        want = mode_cfg.get("power_limit_w")
        if want is not None:
            if q["power.limit"] is None or abs(q["power.limit"] - float(want)) > TOLERANCE_W:
                self._set_limit(float(want))
                ours[str(self.index)] = float(want)
                self.state.update(limits_set=ours)
            return
        # default mode: undo only our own earlier change
        mine = ours.get(str(self.index))
        if (mine is not None and q["power.limit"] is not None and q["power.default_limit"] is not None
                and abs(q["power.limit"] - mine) <= TOLERANCE_W
                and abs(q["power.limit"] - q["power.default_limit"]) > TOLERANCE_W):
            self._set_limit(q["power.default_limit"])
        ours.pop(str(self.index), None)
        self.state.update(limits_set=ours)

    def read_state(self) -> dict:
        q = query(self.index, QUERY)
        note_idle(self.state, self.mode, q["temperature.gpu"])
        return {
            "device_name": q["name"],
            "gpu_index": self.index,
            "power_limit_w": q["power.limit"],
            "default_power_limit_w": q["power.default_limit"],
            "sm_clock_mhz": q["clocks.sm"],
            "mem_clock_mhz": q["clocks.mem"],
            "temperature_c": q["temperature.gpu"],
            "applied": list(self.applied),
        }

    def verify(self, mode: str, mode_cfg: dict, state: dict) -> None:
        want = mode_cfg.get("power_limit_w")
        have = state.get("power_limit_w")
        if want is not None and (have is None or abs(have - float(want)) > TOLERANCE_W):
            raise CaptureError(
                f"mode {mode!r} asks for a {want} W power limit on GPU {self.index} but nvidia-smi reports "
                f"{have} W in force; not capturing a mislabelled cell"
            )

    def temperature_c(self) -> float | None:
        try:
            t = query(self.index, "temperature.gpu")["temperature.gpu"]
        except CaptureError:
            return None
        return t if isinstance(t, float) else None

    @property
    def idle_temperature_c(self) -> float | None:
        return idle_for(self.state, self.mode)

    @staticmethod
    def mode_order(modes: dict[str, dict]) -> list[str]:
        """By power limit; a mode without one runs at the limit in force (the default: last)."""
        return order_by(modes, lambda name, m: m.get("power_limit_w"))

    def provenance(self) -> dict:
        try:
            extra = query(self.index, PROV_QUERY)
        except CaptureError as exc:
            extra = {"error": str(exc)}
        return {"platform": self.name, "gpu_index": self.index, **extra,
                "idle_temperature_c": self.idle_temperature_c}
