#!/usr/bin/env bash
# Issue 17's targets at small, stable sizes, each bench RUNS times (default 3; take the median):
# GET block / list / 304 against the bare WSGI app, POST …/diffs/ against the bare app, 290 KB vs
# 1 KB proposals and their review page, serial approvals against the same statements raw.
#
#   bench/issue17.sh [RUNS]        # ~5 minutes for 3 runs; JSON lines in var/issue17-<time>.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
RUNS="${1:-3}"
OUT="var/issue17-$(date +%Y%m%d-%H%M%S).jsonl"
mkdir -p var
for run in $(seq "$RUNS"); do
  echo "=== run $run of $RUNS ($(date +%H:%M:%S))"
  "$PY" bench/api_reads.py -n 500 --learners 200 | tee -a "$OUT.log" | grep '^{"' >> "$OUT"
  "$PY" bench/proposals.py -n 300 --learners 200 --per-client 30 --size-n 40 | tee -a "$OUT.log" | grep '^{"' >> "$OUT"
  "$PY" bench/approvals.py --serial 150 --per-reviewer 20 | tee -a "$OUT.log" | grep '^{"' >> "$OUT"
done
"$PY" bench/issue17_summary.py "$OUT"
