#!/usr/bin/env bash
# Install the wheels carried in $1 into /tmp/site (no registry on the GPU machine).
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site "${1:?wheel dir}"/*.whl 2>&1 \
  | grep -v "already exists" || true
ls /tmp/site | wc -l
