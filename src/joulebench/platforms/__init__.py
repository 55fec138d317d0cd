"""Platforms: how a power mode is applied and verified, and what the device looks like.

- cpu.py:        any Linux CPU; modes = thread count / cpufreq governor
- jetson.py:     nvpmodel + jetson_clocks, verified by read-back
- nvidia_gpu.py: power limits through nvidia-smi, verified by read-back
"""
from __future__ import annotations

import os
import shutil
import subprocess

from ..errors import ConfigError


def detect() -> str:
    if os.path.exists("/etc/nv_tegra_release"):
        return "jetson"
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
            if out.returncode == 0 and "GPU" in out.stdout:
                return "nvidia-gpu"
        except (OSError, subprocess.TimeoutExpired):
            pass
    return "cpu"


def platform_name(cfg: dict) -> str:
    name = cfg.get("platform", "auto")
    return detect() if name == "auto" else name


def get_platform(cfg: dict):
    name = platform_name(cfg)
    if name == "cpu":
        from .cpu import CpuPlatform

        return CpuPlatform()
    if name == "jetson":
        from .jetson import JetsonPlatform

        return JetsonPlatform()
    if name == "nvidia-gpu":
        from .nvidia_gpu import NvidiaGpuPlatform

        return NvidiaGpuPlatform()
    raise ConfigError(f"config key 'platform': unknown platform {name!r}")
