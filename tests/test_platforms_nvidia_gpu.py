"""NVIDIA GPU platform through its real code paths, against stand-in nvidia-smi and sudo on PATH."""
from __future__ import annotations

import json
import os
import stat
import textwrap

import pytest

from joulebench.errors import CaptureError
from joulebench.platforms import get_platform
from joulebench.platforms.nvidia_gpu import NvidiaGpuPlatform
from test_platforms_jetson import COMMON, SUDO

NVIDIA_SMI = COMMON + textwrap.dedent("""
    s = load(); args = sys.argv[1:]
    if args == ["-L"]:
        for i, g in enumerate(s["gpus"]):
            print(f"GPU {i}: {g['name']} (UUID: GPU-0000000{i})")
        sys.exit(0)
    idx = 0
    if "-i" in args:
        idx = int(args[args.index("-i") + 1])
    if idx >= len(s["gpus"]):
        print(f"No devices were found matching the identifier '{idx}'"); sys.exit(6)
    g = s["gpus"][idx]
    bus = f"00000000:0{idx + 1}:00.0"
    q = [a for a in args if a.startswith("--query-gpu=")]
    if q:
        fields = q[0].split("=", 1)[1].split(",")
        table = {"power.limit": f"{g['limit']:.2f}", "power.default_limit": f"{g['default']:.2f}",
                 "power.min_limit": f"{g['min']:.2f}", "power.max_limit": f"{g['max']:.2f}",
                 "clocks.sm": "1980", "clocks.mem": "2619", "temperature.gpu": str(g["temp"]),
                 "name": g["name"], "driver_version": "550.54.15", "pci.bus_id": bus,
                 "persistence_mode": "Enabled"}
        print(", ".join(table.get(f, "[N/A]") for f in fields)); sys.exit(0)
    if "-pl" in args:
        if not os.environ.get("JB_FAKE_ROOT"):
            print(f"Changing power management limit is not supported for GPU: {bus}.")
            print("Treating as warning and moving on.\\nAll done."); sys.exit(4)
        w = float(args[args.index("-pl") + 1])
        if not g["min"] <= w <= g["max"]:
            print(f"Provided power limit {w:.2f} W is not a valid power limit which should be between "
                  f"{g['min']:.2f} W and {g['max']:.2f} W for GPU {bus}")
            print("Terminating early due to previous errors."); sys.exit(2)
        old = g["limit"]
        if not g.get("ignore_pl"):
            g["limit"] = w
        save(s)
        print(f"Power limit for GPU {bus} was set to {w:.2f} W from {old:.2f} W.\\nAll done."); sys.exit(0)
    print("stand-in nvidia-smi: unsupported arguments", args, file=sys.stderr); sys.exit(2)
""")


def gpu(**kv):
    g = {"name": "NVIDIA H100 80GB HBM3", "limit": 700.0, "default": 700.0, "min": 200.0, "max": 700.0,
         "temp": 33}
    g.update(kv)
    return g


class Rig:
    def __init__(self, tmp, monkeypatch):
        self.tmp = tmp
        bindir = tmp / "bin"
        bindir.mkdir()
        for name, body in (("sudo", SUDO), ("nvidia-smi", NVIDIA_SMI)):
            p = bindir / name
            p.write_text(body)
            p.chmod(p.stat().st_mode | stat.S_IXUSR)
        self.state_path, self.log_path = tmp / "device.json", tmp / "calls.log"
        self.state_path.write_text(json.dumps({"gpus": [gpu(), gpu(name="NVIDIA L4", limit=72.0, default=72.0,
                                                                  min=40.0, max=72.0)]}))
        self.log_path.write_text("")
        monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("JB_FAKE_STATE", str(self.state_path))
        monkeypatch.setenv("JB_FAKE_LOG", str(self.log_path))
        monkeypatch.delenv("JB_FAKE_ROOT", raising=False)

    def set_gpu(self, idx=0, **kv):
        s = json.loads(self.state_path.read_text())
        s["gpus"][idx].update(kv)
        self.state_path.write_text(json.dumps(s))

    def limit(self, idx=0):
        return json.loads(self.state_path.read_text())["gpus"][idx]["limit"]

    def privileged(self):
        calls = [json.loads(x) for x in self.log_path.read_text().splitlines() if x.strip()]
        return [[os.path.basename(c[2]), *c[3:]] for c in calls if c[0] == "sudo"]

    def platform(self):
        return NvidiaGpuPlatform(state_dir=self.tmp / "run")


@pytest.fixture
def rig(tmp_path, monkeypatch):
    return Rig(tmp_path, monkeypatch)


def capture_mode(plat, mode, cfg):
    plat.apply_mode(mode, cfg)
    state = plat.read_state()
    plat.verify(mode, cfg, state)
    return state


def test_power_limit_is_set_with_sudo_and_read_back(rig):
    state = capture_mode(rig.platform(), "400W", {"power_limit_w": 400})
    assert rig.privileged() == [["nvidia-smi", "-i", "0", "-pl", "400"]]
    assert state["power_limit_w"] == 400.0 and state["default_power_limit_w"] == 700.0
    assert state["device_name"] == "NVIDIA H100 80GB HBM3"
    assert state["sm_clock_mhz"] == 1980.0 and state["temperature_c"] == 33.0


def test_limit_already_in_force_is_not_set_again(rig):
    rig.set_gpu(limit=400.0)
    capture_mode(rig.platform(), "400W", {"power_limit_w": 400})
    assert rig.privileged() == []


def test_gpu_index_selects_the_gpu(rig):
    state = capture_mode(rig.platform(), "l4-60W", {"power_limit_w": 60, "gpu_index": 1})
    assert rig.privileged() == [["nvidia-smi", "-i", "1", "-pl", "60"]]
    assert state["device_name"] == "NVIDIA L4" and rig.limit(1) == 60.0 and rig.limit(0) == 700.0


def test_out_of_range_limit_reports_nvidia_smi_message(rig):
    with pytest.raises(CaptureError, match="not a valid power limit"):
        rig.platform().apply_mode("100W", {"power_limit_w": 100})


def test_limit_not_taking_effect_is_never_captured(rig):
    rig.set_gpu(ignore_pl=True)  # nvidia-smi says "set", the GPU keeps 700 W
    plat = rig.platform()
    plat.apply_mode("400W", {"power_limit_w": 400})
    with pytest.raises(CaptureError, match="asks for a 400 W power limit .* reports 700.0 W"):
        plat.verify("400W", {"power_limit_w": 400}, plat.read_state())


def test_sudo_refused_stops_with_the_fix(rig, monkeypatch):
    monkeypatch.setenv("JB_FAKE_SUDO", "deny")
    with pytest.raises(CaptureError, match="password is required.*docs/platforms.md"):
        rig.platform().apply_mode("400W", {"power_limit_w": 400})
    assert rig.limit() == 700.0


def test_default_mode_changes_nothing_the_user_set(rig):
    rig.set_gpu(limit=500.0)  # set by the user, not by joulebench
    state = capture_mode(rig.platform(), "default", {})
    assert rig.privileged() == [] and state["power_limit_w"] == 500.0


def test_default_mode_undoes_joulebench_own_limit(rig):
    capture_mode(rig.platform(), "400W", {"power_limit_w": 400})
    state = capture_mode(rig.platform(), "default", {})  # a later job, a new process
    assert rig.privileged()[-1] == ["nvidia-smi", "-i", "0", "-pl", "700"]
    assert state["power_limit_w"] == 700.0


def test_temperature_and_idle_temperature(rig):
    plat = rig.platform()
    capture_mode(plat, "default", {})
    rig.set_gpu(temp=61)
    assert plat.temperature_c() == 61.0 and plat.idle_temperature_c == 33.0
    prov = plat.provenance()
    assert prov["driver_version"] == "550.54.15" and prov["power.max_limit"] == 700.0


def test_get_platform_builds_nvidia_gpu(rig):
    assert isinstance(get_platform({"platform": "nvidia-gpu"}), NvidiaGpuPlatform)
