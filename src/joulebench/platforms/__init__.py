"""Platforms: how a power mode is applied and verified, and what the device looks like.

- cpu.py:        any Linux CPU; modes = thread count / cpufreq governor
- jetson.py:     nvpmodel + jetson_clocks, verified by read-back
- nvidia_gpu.py: power limits through nvidia-smi, verified by read-back
"""
from __future__ import annotations

import importlib
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
    name = cfg["platform"]
    return detect() if name == "auto" else name


# the one registry: platform name -> "module:class" (imported only when used)
PLATFORMS = {
    "cpu": "cpu:CpuPlatform",
    "jetson": "jetson:JetsonPlatform",
    "nvidia-gpu": "nvidia_gpu:NvidiaGpuPlatform",
}


def platform_class(name: str) -> type:
    if name not in PLATFORMS:
        raise ConfigError(f"config key 'platform': unknown platform {name!r}")
    module, cls = PLATFORMS[name].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def get_platform(cfg: dict):
    return platform_class(platform_name(cfg))()


def mode_order(name: str | None, modes: dict[str, dict]) -> list[str]:
    """The modes from least to most power as platform `name` orders them; config order if unknown."""
    if name not in PLATFORMS:
        return list(modes)
    return platform_class(name).mode_order(modes)
