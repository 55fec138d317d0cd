"""Jetson platform through its real code paths, against stand-in nvpmodel / jetson_clocks / sudo /
sysctl executables on PATH that behave like the documented tools (state in a tmp JSON file)."""
from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from joulebench.capture.cooldown import cool_down
from joulebench.errors import CaptureError
from joulebench.platforms import get_platform
from joulebench.platforms.jetson import JetsonPlatform, clocks_pinned, parse_clocks_show, parse_nvpmodel_q

COMMON = f"""#!{sys.executable}
import json, os, sys
STATE = os.environ["JB_FAKE_STATE"]
def load():
    with open(STATE) as fh:
        return json.load(fh)
def save(s):
    with open(STATE, "w") as fh:
        json.dump(s, fh)
def log(argv):
    with open(os.environ["JB_FAKE_LOG"], "a") as fh:
        fh.write(json.dumps([os.path.basename(argv[0])] + argv[1:]) + "\\n")
log(sys.argv)
"""

# sudo: only `sudo -n`, refuses like the real one without a NOPASSWD rule, else runs the command as "root"
SUDO = COMMON + textwrap.dedent("""
    args = sys.argv[1:]
    if not args or args[0] != "-n":
        print("stand-in sudo: joulebench must use sudo -n", file=sys.stderr); sys.exit(99)
    if os.environ.get("JB_FAKE_SUDO") == "deny":
        print("sudo: a password is required", file=sys.stderr); sys.exit(1)
    os.environ["JB_FAKE_ROOT"] = "1"
    os.execvp(args[1], args[1:])
""")

NVPMODEL = COMMON + textwrap.dedent("""
    s = load(); args = sys.argv[1:]
    if args == ["-q"]:
        print("NVPM WARN: fan mode is not set!")
        print("NV Power Mode: " + s["names"][str(s["mode"])])
        print(s["mode"])
        sys.exit(0)
    if args[:1] == ["-m"]:
        if not os.environ.get("JB_FAKE_ROOT"):
            print("NVPM ERROR: failed to open /var/lib/nvpmodel/status: Permission denied", file=sys.stderr); sys.exit(1)
        n = int(args[1])
        if str(n) not in s["names"]:
            print(f"NVPM ERROR: Invalid mode id {n}", file=sys.stderr); sys.exit(1)
        if n in s.get("reboot_for", []):
            print(f"NVPM WARN: Reboot required for changing to this power mode: {n}")
            print("NVPM WARN: DO YOU WANT TO REBOOT NOW? enter YES/yes to confirm:")
            answer = sys.stdin.readline()          # /dev/null: EOF, no reboot
            s["mode"] = n                          # the status file already claims the new mode
            save(s); sys.exit(0)
        s["mode"] = int(s.get("redirect", {}).get(str(n), n))
        s["locked"] = False                        # a mode switch resets the clocks
        save(s); sys.exit(0)
    print("usage: nvpmodel [-q] [-m id]", file=sys.stderr); sys.exit(2)
""")

JETSON_CLOCKS = COMMON + textwrap.dedent("""
    s = load(); args = sys.argv[1:]
    if not os.environ.get("JB_FAKE_ROOT"):
        print("Error: jetson_clocks must be run as root", file=sys.stderr); sys.exit(1)
    cpu_max, gpu_max = s["max"][str(s["mode"])]
    if args == ["--show"]:
        lock = s.get("locked")
        print("SOC family:tegra234  Machine:NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super")
        print("Online CPUs: 0-5")
        for i in range(6):
            lo = cpu_max if lock else 729600
            print(f"cpu{i}: Online=1 Governor=schedutil MinFreq={lo} MaxFreq={cpu_max} CurrentFreq={lo} IdleStates: WFI=0 cpu-sleep=0 ")
        lo = gpu_max if lock else 306000000
        print(f"GPU MinFreq={lo} MaxFreq={gpu_max} CurrentFreq={lo}")
        print(f"EMC MinFreq=204000000 MaxFreq=3199000000 CurrentFreq=3199000000 FreqOverride={1 if lock else 0}")
        print("FAN Dynamic Speed control=active hwmon2_pwm=58")
        print("NV Power Mode: " + s["names"][str(s["mode"])])
        sys.exit(0)
    if not args:
        s["locked"] = True; save(s); sys.exit(0)
    sys.exit(0)
""")

SYSCTL = COMMON + textwrap.dedent("""
    if not os.environ.get("JB_FAKE_ROOT"):
        print("sysctl: permission denied", file=sys.stderr); sys.exit(255)
    print(" ".join(a.replace("=", " = ") for a in sys.argv[1:]))
""")

NAMES = {"0": "15W", "1": "25W", "2": "MAXN_SUPER", "3": "7W"}
MAX = {"0": [1497600, 612000000], "1": [1344000, 918000000], "2": [1728000, 1020000000], "3": [960000, 408000000]}
MODES = {"15W": {"nvpmodel": 0, "jetson_clocks": True}, "25W": {"nvpmodel": 1, "jetson_clocks": True},
         "MAXN": {"nvpmodel": 2, "jetson_clocks": True}, "7W": {"nvpmodel": 3, "jetson_clocks": True}}


class Rig:
    def __init__(self, tmp: Path, monkeypatch):
        self.tmp = tmp
        bindir = tmp / "bin"
        bindir.mkdir()
        for name, body in (("sudo", SUDO), ("nvpmodel", NVPMODEL), ("jetson_clocks", JETSON_CLOCKS),
                           ("sysctl", SYSCTL)):
            p = bindir / name
            p.write_text(body)
            p.chmod(p.stat().st_mode | stat.S_IXUSR)
        self.state_path, self.log_path = tmp / "device.json", tmp / "calls.log"
        self.write(mode=0, names=NAMES, max=MAX, locked=False)
        self.log_path.write_text("")
        monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("JB_FAKE_STATE", str(self.state_path))
        monkeypatch.setenv("JB_FAKE_LOG", str(self.log_path))
        monkeypatch.delenv("JB_FAKE_ROOT", raising=False)
        # a device tree, a thermal zone and a boot id under a fake root
        self.root = tmp / "root"
        (self.root / "proc/device-tree").mkdir(parents=True)
        (self.root / "proc/device-tree/model").write_bytes(b"NVIDIA Jetson Orin Nano Super\0")
        self.zone = self.root / "sys/class/thermal/thermal_zone0"
        self.zone.mkdir(parents=True)
        (self.zone / "type").write_text("tj-thermal\n")
        self.set_temp(45.0)
        self.boot = tmp / "boot_id"
        self.boot.write_text("boot-1\n")

    def write(self, **kv):
        s = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}
        s.update(kv)
        self.state_path.write_text(json.dumps(s))

    def device(self) -> dict:
        return json.loads(self.state_path.read_text())

    def calls(self) -> list[list[str]]:
        return [json.loads(x) for x in self.log_path.read_text().splitlines() if x.strip()]

    def privileged(self) -> list[list[str]]:
        """The commands sudo ran (as `sudo -n /abs/tool args` -> [tool, args])."""
        return [[os.path.basename(c[2]), *c[3:]] for c in self.calls() if c[0] == "sudo"]

    def set_temp(self, c: float):
        (self.zone / "temp").write_text(f"{int(c * 1000)}\n")

    def platform(self) -> JetsonPlatform:
        return JetsonPlatform(state_dir=self.tmp / "run", sysfs_root=str(self.root),
                              boot_id_path=str(self.boot))


@pytest.fixture
def rig(tmp_path, monkeypatch):
    return Rig(tmp_path, monkeypatch)


def capture_mode(plat, mode):
    """What the capture does before every cell (capture/steps.py enter_mode)."""
    plat.apply_mode(mode, MODES[mode])
    state = plat.read_state()
    plat.verify(mode, MODES[mode], state)
    return state


def test_switch_applies_nvpmodel_then_jetson_clocks_and_reads_back(rig):
    state = capture_mode(rig.platform(), "MAXN")
    # switch, pin (nvpmodel just reset the clocks), then read back
    assert rig.privileged() == [["nvpmodel", "-m", "2"], ["jetson_clocks"], ["jetson_clocks", "--show"]]
    assert all(c[1] == "-n" for c in rig.calls() if c[0] == "sudo")
    assert state["nvpmodel_id"] == 2 and state["nvpmodel_name"] == "MAXN_SUPER"
    assert state["clocks_pinned"] is True
    assert state["gpu_freq_hz"] == 1020000000 and state["emc_freq_hz"] == 3199000000
    assert state["device_name"] == "NVIDIA Jetson Orin Nano Super"
    assert state["cpus_online"] == 6


def test_mode_already_in_force_is_not_applied_again(rig):
    rig.write(mode=1, locked=True)
    capture_mode(rig.platform(), "25W")
    ran = rig.privileged()
    assert not any(c[0] == "nvpmodel" for c in ran)
    assert ["jetson_clocks"] not in ran  # only --show


def test_unpinned_clocks_after_reboot_are_pinned_without_switching(rig):
    rig.write(mode=1, locked=False)
    capture_mode(rig.platform(), "25W")
    ran = rig.privileged()
    assert not any(c[0] == "nvpmodel" for c in ran)
    assert ["jetson_clocks"] in ran


def test_sudo_refused_stops_with_the_fix(rig, monkeypatch):
    monkeypatch.setenv("JB_FAKE_SUDO", "deny")
    with pytest.raises(CaptureError, match="password is required.*docs/platforms.md"):
        rig.platform().apply_mode("MAXN", MODES["MAXN"])
    assert rig.device()["mode"] == 0


def test_device_reporting_another_mode_is_never_captured(rig):
    rig.write(redirect={"3": 1})  # asked 7W, the board ends up in 25W
    plat = rig.platform()
    plat.apply_mode("7W", MODES["7W"])
    with pytest.raises(CaptureError, match=r"asks for nvpmodel 3 but .* reports 1 \(25W\)"):
        plat.verify("7W", MODES["7W"], plat.read_state())


def test_reboot_required_stops_this_and_every_later_job_until_rebooted(rig):
    rig.write(reboot_for=[2])
    with pytest.raises(CaptureError, match="reboot, then run the same command again"):
        rig.platform().apply_mode("MAXN", MODES["MAXN"])
    # nvpmodel -q now claims MAXN, but the next capture job must not believe it
    assert rig.device()["mode"] == 2
    with pytest.raises(CaptureError, match="reboot, then run the same command again"):
        capture_mode(rig.platform(), "MAXN")
    # after the reboot (new boot id) the marker expires; clocks are unpinned after a boot
    rig.boot.write_text("boot-2\n")
    rig.write(locked=False)
    state = capture_mode(rig.platform(), "MAXN")
    assert state["nvpmodel_id"] == 2 and state["clocks_pinned"]


def test_mode_without_jetson_clocks_does_not_pin_or_require_pinning(rig):
    cfg = {"nvpmodel": 1, "jetson_clocks": False}
    plat = rig.platform()
    plat.apply_mode("25W-dvfs", cfg)
    plat.verify("25W-dvfs", cfg, plat.read_state())
    assert ["jetson_clocks"] not in rig.privileged()


def test_unpinned_clocks_fail_verification(rig):
    plat = rig.platform()
    rig.write(mode=1, locked=False)
    with pytest.raises(CaptureError, match="clocks are not pinned"):
        plat.verify("25W", MODES["25W"], plat.read_state())


def test_memory_hygiene_uses_named_sysctl_commands(rig):
    rig.platform().memory_hygiene()
    assert rig.privileged() == [["sysctl", "vm.drop_caches=3"], ["sysctl", "vm.compact_memory=1"]]


def test_idle_temperature_is_the_lowest_reading_per_mode_and_drives_cooldown(rig):
    plat = rig.platform()
    rig.set_temp(41.0)
    capture_mode(plat, "15W")
    rig.set_temp(47.0)
    plat.read_state()
    assert plat.idle_temperature_c == 41.0
    # a later job (new process) sees the cached value
    later = rig.platform()
    later.apply_mode("15W", MODES["15W"])
    assert later.idle_temperature_c == 41.0
    assert later.temperature_c() == 47.0
    rig.set_temp(42.5)  # within the 2 C margin: no wait
    out = cool_down({"method": "thermal", "margin_c": 2, "max_wait_s": 5}, later, say=lambda m: None)
    assert out["target_c"] == 43.0 and not out["timed_out"] and out["waited_s"] < 1
    # other modes have their own idle temperature
    capture_mode(later, "MAXN")
    assert later.idle_temperature_c == 42.5


def test_get_platform_builds_jetson(rig):
    assert isinstance(get_platform({"platform": "jetson"}), JetsonPlatform)


def test_parsers_on_tool_output():
    assert parse_nvpmodel_q("NVPM WARN: fan mode is not set!\nNV Power Mode: 25W\n1\n") == (1, "25W")
    text = ("cpu0: Online=1 Governor=schedutil MinFreq=1344000 MaxFreq=1344000 CurrentFreq=1344000 IdleStates: WFI=0\n"
            "cpu1: Online=0 Governor=schedutil MinFreq=729600 MaxFreq=1344000 CurrentFreq=729600\n"
            "GPU MinFreq=918000000 MaxFreq=918000000 CurrentFreq=918000000\n"
            "EMC MinFreq=204000000 MaxFreq=3199000000 CurrentFreq=3199000000 FreqOverride=1\n")
    clocks = parse_clocks_show(text)
    assert clocks["gpu"]["CurrentFreq"] == 918000000
    assert clocks_pinned(clocks) == (True, "pinned")  # the offline cpu1 does not count
    clocks["emc"]["FreqOverride"] = 0
    assert clocks_pinned(clocks)[0] is False
