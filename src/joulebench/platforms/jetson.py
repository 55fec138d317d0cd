"""Jetson (Orin): power modes through nvpmodel, clocks pinned with jetson_clocks, both read back.

apply_mode: `sudo -n nvpmodel -m ID` (only when another mode is in force), then
`sudo -n jetson_clocks` (when the mode asks for it and the clocks are not already pinned).
verify: `nvpmodel -q` must report the mode id, and `jetson_clocks --show` must show pinned
CPU/GPU clocks (min == max) when jetson_clocks is wanted. A mode switch that needs a reboot stops
the run: the mode id nvpmodel reports afterwards would be a lie until the board has rebooted.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import CaptureError
from . import _cmd, thermal
from ._state import DEFAULT_DIR, StateFile, idle_for, note_idle
from .base import Platform, order_by

REBOOT_RE = re.compile(r"reboot", re.IGNORECASE)
MODE_NAME_RE = re.compile(r"NV Power Mode:\s*(\S+)")
FREQ_RE = re.compile(r"(\w+)=(\S+)")


def parse_nvpmodel_q(text: str) -> tuple[int | None, str | None]:
    """`nvpmodel -q` prints `NV Power Mode: NAME` then the id on a line of its own
    (plus NVPM WARN lines, e.g. about the fan, that we ignore)."""
    name = None
    mode_id = None
    for line in text.splitlines():
        line = line.strip()
        m = MODE_NAME_RE.search(line)
        if m:
            name = m.group(1)
        elif line.isdigit() and name is not None and mode_id is None:
            mode_id = int(line)
    return mode_id, name


def parse_clocks_show(text: str) -> dict:
    """`jetson_clocks --show`: cpuN / GPU / EMC lines of Key=Value pairs."""
    cpus, out = {}, {}
    for line in text.splitlines():
        line = line.strip()
        head = line.split(":", 1)[0].split(" ", 1)[0]
        kv = dict(FREQ_RE.findall(line))
        if re.fullmatch(r"cpu\d+", head) and "MaxFreq" in kv:
            cpus[head] = {k: _num(kv.get(k)) for k in ("Online", "MinFreq", "MaxFreq", "CurrentFreq")}
            cpus[head]["Governor"] = kv.get("Governor")
        elif head in ("GPU", "EMC") and "MaxFreq" in kv:
            out[head.lower()] = {k: _num(v) for k, v in kv.items()}
    out["cpus"] = cpus
    return out


def _num(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return v


def clocks_pinned(clocks: dict) -> tuple[bool, str]:
    """jetson_clocks sets min = max on every online CPU and on the GPU, and overrides the EMC."""
    gpu = clocks.get("gpu") or {}
    if not gpu or gpu.get("MinFreq") != gpu.get("MaxFreq"):
        return False, f"GPU MinFreq {gpu.get('MinFreq')} != MaxFreq {gpu.get('MaxFreq')}"
    for cpu, c in sorted(clocks.get("cpus", {}).items()):
        if c.get("Online", 1) == 1 and c.get("MinFreq") != c.get("MaxFreq"):
            return False, f"{cpu} MinFreq {c.get('MinFreq')} != MaxFreq {c.get('MaxFreq')}"
    emc = clocks.get("emc") or {}
    if "FreqOverride" in emc and emc["FreqOverride"] != 1:
        return False, "EMC FreqOverride is not 1"
    return True, "pinned"


def budget_w(mode_name: str) -> float | None:
    """A Jetson mode's power budget from its nvpmodel-style name: '15W' -> 15, 'MAXN_SUPER' -> inf."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)W", mode_name)
    if m:
        return float(m.group(1))
    return float("inf") if mode_name.upper().startswith("MAXN") else None


class JetsonPlatform(Platform):
    name = "jetson"

    def __init__(self, state_dir: Path | str = DEFAULT_DIR, sysfs_root: str = "/",
                 boot_id_path: str = "/proc/sys/kernel/random/boot_id"):
        self.state = StateFile(Path(state_dir) / "jetson.json")
        self.sysfs_root = sysfs_root
        self.boot_id_path = boot_id_path
        self.mode: str | None = None
        self.applied: list[str] = []  # what apply_mode actually ran (for provenance)

    # -- reading -------------------------------------------------------------------------
    def nvpmodel_query(self) -> tuple[int | None, str | None, str]:
        proc = _cmd.run([_cmd.tool("nvpmodel"), "-q"])
        mode_id, name = parse_nvpmodel_q(proc.stdout)
        return mode_id, name, proc.stdout

    def clocks(self) -> dict:
        # jetson_clocks --show needs root (it reads the EMC through debugfs)
        proc = _cmd.sudo(["jetson_clocks", "--show"])
        return parse_clocks_show(proc.stdout)

    def device_name(self) -> str | None:
        for p in ("proc/device-tree/model", "sys/firmware/devicetree/base/model"):
            try:
                return (Path(self.sysfs_root) / p).read_bytes().rstrip(b"\0\n").decode(errors="replace")
            except OSError:
                continue
        return None

    def _check_reboot_marker(self) -> None:
        pending = self.state.load().get("reboot_pending")
        if not pending:
            return
        if pending.get("boot_id") == _cmd.boot_id(self.boot_id_path):
            raise CaptureError(
                f"nvpmodel mode {pending.get('nvpmodel')} ({pending.get('mode')}) needs a reboot to take "
                "effect: reboot, then run the same command again"
            )
        self.state.update(reboot_pending=None)  # rebooted since: the marker has done its job

    # -- the interface -------------------------------------------------------------------
    def apply_mode(self, mode: str, mode_cfg: dict) -> None:
        self.mode = mode
        self._check_reboot_marker()
        want = mode_cfg.get("nvpmodel")
        if want is None:
            raise CaptureError(f"config key 'modes.{mode}.nvpmodel' is required on platform jetson")
        current, _, _ = self.nvpmodel_query()
        switched = False
        if current != want:
            proc = _cmd.sudo(["nvpmodel", "-m", str(want)], check=False)
            text = f"{proc.stdout}\n{proc.stderr}"
            if REBOOT_RE.search(text):
                self.state.update(reboot_pending={"mode": mode, "nvpmodel": want,
                                                  "boot_id": _cmd.boot_id(self.boot_id_path)})
                raise CaptureError(
                    f"switching to nvpmodel mode {want} ({mode}) needs a reboot (nvpmodel said: "
                    f"{text.strip()[-300:]!r}): reboot, then run the same command again"
                )
            if proc.returncode != 0:
                raise CaptureError(f"`sudo -n nvpmodel -m {want}` failed with code {proc.returncode}: "
                                   f"{text.strip()[-500:]}")
            self.applied.append(f"nvpmodel -m {want}")
            switched = True
        if mode_cfg.get("jetson_clocks", True):
            # nvpmodel resets the clocks, so pin again after a switch; otherwise only if unpinned
            if switched or not clocks_pinned(self.clocks())[0]:
                _cmd.sudo(["jetson_clocks"])
                self.applied.append("jetson_clocks")

    def read_state(self) -> dict:
        mode_id, name, _ = self.nvpmodel_query()
        try:
            clocks = self.clocks()
            clocks_error = None
        except CaptureError as exc:  # recorded; verify() decides whether it matters
            clocks, clocks_error = {}, str(exc)
        pinned, why = clocks_pinned(clocks) if clocks else (None, clocks_error)
        temp = self.temperature_c()
        note_idle(self.state, self.mode, temp)
        return {
            "device_name": self.device_name(),
            "nvpmodel_id": mode_id,
            "nvpmodel_name": name,
            "clocks_pinned": pinned,
            "clocks_note": why,
            "gpu_freq_hz": (clocks.get("gpu") or {}).get("CurrentFreq"),
            "gpu_max_freq_hz": (clocks.get("gpu") or {}).get("MaxFreq"),
            "emc_freq_hz": (clocks.get("emc") or {}).get("CurrentFreq"),
            "cpu_freq_khz": {k: v.get("CurrentFreq") for k, v in clocks.get("cpus", {}).items()},
            "cpus_online": sum(1 for v in clocks.get("cpus", {}).values() if v.get("Online") == 1) or None,
            "temperature_c": temp,
            "applied": list(self.applied),
        }

    def verify(self, mode: str, mode_cfg: dict, state: dict) -> None:
        self._check_reboot_marker()
        want = mode_cfg.get("nvpmodel")
        if state.get("nvpmodel_id") != want:
            raise CaptureError(
                f"mode {mode!r} asks for nvpmodel {want} but `nvpmodel -q` reports "
                f"{state.get('nvpmodel_id')} ({state.get('nvpmodel_name')}); not capturing a mislabelled cell"
            )
        if mode_cfg.get("jetson_clocks", True) and not state.get("clocks_pinned"):
            raise CaptureError(
                f"mode {mode!r} asks for jetson_clocks but the clocks are not pinned "
                f"({state.get('clocks_note')})"
            )

    def temperature_c(self) -> float | None:
        return thermal.hottest(self.sysfs_root, prefer=("tj-thermal",))

    @property
    def idle_temperature_c(self) -> float | None:
        return idle_for(self.state, self.mode)

    @staticmethod
    def mode_order(modes: dict[str, dict]) -> list[str]:
        """By the power budget nvpmodel names its modes with ('7W', '15W', '25W'); MAXN* (no
        budget) after every budgeted mode."""
        return order_by(modes, lambda name, m: budget_w(name))

    def memory_hygiene(self) -> None:
        """Between models: drop the page cache and compact memory, so the next model finds large
        contiguous blocks (Jetson's CUDA allocator needs them; the seed compacted too)."""
        _cmd.sudo(["sysctl", "vm.drop_caches=3"])
        _cmd.sudo(["sysctl", "vm.compact_memory=1"])

    def provenance(self) -> dict:
        release = None
        try:
            release = (Path(self.sysfs_root) / "etc/nv_tegra_release").read_text().splitlines()[0].strip()
        except (OSError, IndexError):
            pass
        return {"platform": self.name, "device_name": self.device_name(), "l4t_release": release,
                "idle_temperature_c": self.idle_temperature_c}
