#!/usr/bin/env bash
# First filtered request, before / after, alternating on the same 1M library (docs/benchmarks.md
# section 28). "Before" is `git archive 4f45a35` (this branch's start) unpacked in $BEFORE and
# imported as pixsift.* through a folder of symlinks; benchmarks/ is this branch's in every run.
#   BEFORE=/tmp/wtf/before bash docs/first-filter/side_by_side.sh > docs/first-filter/first_filter.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
BEFORE=${BEFORE:-/tmp/wtf/before}
DB=benchmarks/results/work/latency-1000000/pixsift.sqlite3
LINKS=$BEFORE-path/pixsift
mkdir -p "$LINKS"
for folder in search indexer web cli migrations; do ln -sfn "$BEFORE/$folder" "$LINKS/$folder"; done
run() { nice -n 5 timeout 600 .venv/bin/python -m benchmarks.first_filter "$DB" "$@"; }
for round in 1 2; do
  PYTHONPATH="$BEFORE-path:$PWD" run --label "before r$round"
  run --label "after, cold r$round"
  run --warm --label "after, warm r$round"
done
