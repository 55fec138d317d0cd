#!/usr/bin/env bash
# Wait (up to $1 s) for the background sweep; show progress; copy the raw tree out when done.
T=${1:-540}
for _ in $(seq 1 $((T / 10))); do [ -e /tmp/jbout/done ] && break; sleep 10; done
echo "accepted cells: $(find results/raw -name cell.json | wc -l)"; tail -3 /tmp/jbout/sweep.log
grep -h "joulebench error" /tmp/jbout/*.log | tail -5
if [ -e /tmp/jbout/done ]; then
  split -b 15M /tmp/jbout/raw.tgz "$OUT"/raw.tgz.part-; gzip -c /tmp/jbout/sweep96.log > "$OUT"/sweep96.log.gz
  gzip -c /tmp/jbout/energy.log > "$OUT"/energy.log.gz; ls -la "$OUT"
fi
