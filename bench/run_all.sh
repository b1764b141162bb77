#!/usr/bin/env bash
# Run every bench, one after another, against the same local dolt sql-server; each prints its
# table and one JSON line. By hand only (the whole run takes 20-30 minutes on the 2-core machine):
#
#   bench/run_all.sh                 # the project's server (127.0.0.1:3307, started if needed)
#   DOLT_PORT=3391 DOLT_DATA_DIR=/tmp/bench-dolt bench/run_all.sh   # a server of its own
#
# The output goes to the terminal and to var/bench-<time>.log; the JSON lines alone to
# var/bench-<time>.jsonl. Each bench creates, migrates and drops its own fresh database.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PY:-.venv/bin/python}"
STAMP="$(date +%Y%m%d-%H%M%S)"
LOG="var/bench-$STAMP.log"
mkdir -p var

make --no-print-directory venv >/dev/null   # gunicorn and the rest of requirements.txt
scripts/dolt.sh start

run() {
  echo "=== $* ($(date +%H:%M:%S))" | tee -a "$LOG"
  "$PY" "$@" 2>&1 | tee -a "$LOG"
}

# api_reads, proposals and approvals also print issue 17's ratios (to the bare WSGI app, 290 KB
# vs 1 KB proposals); bench/issue17.sh repeats just those at small sizes and takes medians.
run bench/api_reads.py
run bench/proposals.py
run bench/approvals.py
run bench/admin.py
run bench/scale_out.py
run bench/agents.py
run bench/import_letta.py --learners 1000
run bench/import_letta.py --learners 10000

grep '^{"' "$LOG" > "var/bench-$STAMP.jsonl" || true
echo "Log: $LOG; JSON lines: var/bench-$STAMP.jsonl"
