"""A CUDA build of llama.cpp for this machine's GPU only, with the CUDA compiler where JetPack puts it.

llama.cpp compiles its CUDA kernels for the GPUs present (`native`) only with cmake >= 3.24
(ggml/src/ggml-cuda/CMakeLists.txt). With an older cmake (Ubuntu 22.04's, so JetPack 6's, is 3.22)
it compiles them for a list of 7 (CUDA 13) to 10 (CUDA 12) architectures that lacks Orin's 8.7
(reached by a JIT from 8.0's PTX at the first run): several times the compile of one architecture
(one kernel file on an H200 host: over 4x), on a 6-core board.
So where the user names no CMAKE_CUDA_ARCHITECTURES and cmake is older than 3.24, the build names
this machine's: a Jetson's from its device tree, another GPU's from nvidia-smi's compute
capability. JetPack installs nvcc in /usr/local/cuda/bin without putting it on PATH: cmake is told
where it is.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

NATIVE_CMAKE = (3, 24)  # the first cmake with CMAKE_CUDA_ARCHITECTURES=native
JETPACK_NVCC = Path("/usr/local/cuda/bin/nvcc")
DEVICE_TREE = Path("/proc/device-tree/compatible")
# Tegra SoC -> the CUDA architecture of its GPU (NVIDIA's Jetson compute capabilities)
TEGRA_ARCH = {"nvidia,tegra234": "87", "nvidia,tegra194": "72", "nvidia,tegra186": "62", "nvidia,tegra210": "53"}


def backend_on(cmake_args: list[str] | None, options) -> bool:
    """True where cmake arguments turn one of ggml's backend `options` on (e.g. -DGGML_CUDA=ON)."""
    on = re.compile(rf"^-D({'|'.join(options)})(:BOOL)?=(ON|1|TRUE|YES)$", re.I)
    return any(on.match(a) for a in cmake_args or [])


def cuda_build(cmake_args: list[str]) -> bool:
    return backend_on(cmake_args, ("GGML_CUDA",))


def _named(cmake_args: list[str], var: str) -> bool:
    return any(re.match(rf"^-D{var}(:\w+)?=", a) for a in cmake_args)


def cmake_version(cmake: str = "cmake") -> tuple[int, int] | None:
    try:
        out = subprocess.run([cmake, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"cmake version (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def tegra_arch(compatible: bytes | None = None) -> str | None:
    """A Jetson's GPU architecture from its device tree's `compatible` list (NUL-separated)."""
    if compatible is None:
        try:
            compatible = DEVICE_TREE.read_bytes()
        except OSError:
            return None
    for entry in compatible.split(b"\0"):
        arch = TEGRA_ARCH.get(entry.decode(errors="replace").strip())
        if arch:
            return arch
    return None


def smi_archs(smi_output: str | None = None) -> str | None:
    """The distinct compute capabilities of this machine's GPUs ("8.6\\n9.0" -> "86;90")."""
    if smi_output is None:
        try:
            smi_output = subprocess.run(["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
                                        capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return None
    caps = sorted({m.group(1) + m.group(2) for m in re.finditer(r"^\s*(\d+)\.(\d+)\s*$", smi_output, re.M)},
                  key=int)
    return ";".join(caps) or None


def cuda_args(user_args: list[str], log=None) -> list[str]:
    """cmake arguments a CUDA build adds to the user's: the compiler where JetPack puts it, and this
    machine's architecture where cmake cannot ask for `native`. None for a CPU build."""
    if not cuda_build(user_args):
        return []
    log = log or sys.stderr
    extra = []
    if not _named(user_args, "CMAKE_CUDA_COMPILER") and shutil.which("nvcc") is None and JETPACK_NVCC.exists():
        extra.append(f"-DCMAKE_CUDA_COMPILER={JETPACK_NVCC}")
    if _named(user_args, "CMAKE_CUDA_ARCHITECTURES"):
        return extra
    version = cmake_version()
    if version is None or version >= NATIVE_CMAKE:
        return extra  # llama.cpp asks for `native` itself
    arch = tegra_arch() or smi_archs()
    if arch:
        print(f"joulebench: cmake {version[0]}.{version[1]} cannot build for `native` GPUs: building the CUDA "
              f"kernels for this machine's architecture {arch} only", file=log)
        # `-real`: machine code only, as `native` gives; a bare "90" also embeds PTX for a JIT on newer
        # GPUs (+8 % compile time of a kernel file measured on an H200, benchmarks/RESULTS.md)
        extra.append(f"-DCMAKE_CUDA_ARCHITECTURES={';'.join(a + '-real' for a in arch.split(';'))}")
    else:
        print(f"joulebench: cmake {version[0]}.{version[1]} cannot build for `native` GPUs and this machine's GPU "
              "architecture was not found: llama.cpp builds its CUDA kernels for all its listed architectures "
              "(slow); set --cmake-arg=-DCMAKE_CUDA_ARCHITECTURES=<e.g. 87-real> or use cmake >= 3.24", file=log)
    return extra
