#!/usr/bin/env bash
# Stage 2: install the aiperf wheels carried in $1, then start the captures in the background
# (own session, so they run on between the short calls that poll them). Raw trees -> /tmp/jbout.
set -euo pipefail
W=${1:-.carry/b}
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site "$W"/*.whl 2>&1 | grep -v "already exists" || true
mkdir -p /tmp/jbout
setsid nohup bash examples/h100/device_sweep.sh > /tmp/jbout/sweep.log 2>&1 < /dev/null &
sleep 60; tail -5 /tmp/jbout/sweep.log
