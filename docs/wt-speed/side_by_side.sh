#!/bin/bash
# Side by side at 1M: before (git archive of the branch point, its own copy of the library),
# after, after with PIXSIFT_QUERY_TOWER=int8. Same venv, same machine, one after the other.
set -u
PY=/work/wt-speed/.venv/bin/python
run() {  # dir label env...
  local dir=$1 label=$2; shift 2
  echo "=== $label start $(date -u +%T) $(cat /proc/loadavg)"
  (cd $dir && env "$@" nice -n 5 $PY -m benchmarks.query_stages --library benchmarks/results/work/latency-1000000 --queries 60 --name stages_$label 2>&1 | grep -v WARN)
  (cd $dir && env "$@" nice -n 5 $PY -m benchmarks.query_latency --sizes 1000000 --clients 0 --queries 40 --reuse --name latency_$label 2>&1 | grep -v WARN | tail -9)
  echo "=== $label end $(date -u +%T) $(cat /proc/loadavg)"
}
run /tmp/speed-before before PYTHONPATH=/tmp/speed-before/_pp
run /work/wt-speed after X=1
run /work/wt-speed after_int8 PIXSIFT_QUERY_TOWER=int8
