#!/usr/bin/env bash
# The crash campaign: the real lethe binary killed with SIGKILL at seeded random moments of apply
# (delete and anonymize, on PostgreSQL and MariaDB, with a legal hold in force), then run again;
# after every kill no held or undue row has changed and no row is half done, and after the rerun
# the table is exactly what the test computes on its own (the HMAC recomputed) and
# `lethe audit verify` passes. The suite runs 2 kill points per case; this runs more.
#
#   scripts/crash-campaign.sh [POINTS_PER_CASE]     (default 6: 24 kill points in all)
#
# LETHE_CRASH_SEED fixes the moments (default: the current time, printed). The servers are
# provisioned and started by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export LETHE_CRASH_POINTS=${1:-6}
export LETHE_CRASH_SEED=${LETHE_CRASH_SEED:-$(date +%s)}
echo "crash campaign: $LETHE_CRASH_POINTS kill points per case, seed $LETHE_CRASH_SEED" >&2
log=$(mktemp)
status=0
./scripts/test.sh crash:: -- --nocapture >"$log" 2>&1 || status=$?
grep -E '^(crash campaign|fault):' "$log" || true
survived=$(grep -c '^crash campaign:.*: survived$' "$log" || true)
mid=$(grep -c '^crash campaign:.*(mid-run): survived$' "$log" || true)
faults=$(grep -c '^fault:.*: survived$' "$log" || true)
echo "kill points survived: $survived (mid-run: $mid); faults survived: $faults; test status: $status" >&2
if [ "$status" != 0 ]; then grep -E 'panicked|FAILED' "$log" >&2 || true; fi
rm -f "$log"
exit "$status"
