#!/usr/bin/env bash
# The crash campaign: the real lethe binary killed with SIGKILL at seeded random moments, then
# run again (tests/it/crash/):
# - apply on a table (delete and anonymize, on PostgreSQL and MariaDB, with a legal hold in force):
#   after every kill no held or undue row has changed and no row is half done, and after the rerun
#   the table is exactly what the test computes on its own (the HMAC recomputed);
# - apply on a folder and on a versioned bucket on moto (a legal hold on a prefix, objects not yet
#   due, keys with several versions and delete markers): after every kill no held or undue object
#   has changed and no due key has gained a version, and after the rerun exactly the due keys are
#   gone, with every version and delete marker;
# - the daemon in the middle of a scheduled run (PostgreSQL and MariaDB, the lease on SQLite or
#   PostgreSQL): started again, it takes the lease at once and finishes the work.
# Every case ends with `lethe audit verify`. The suite runs 2 kill points per case; this runs more.
#
# The faults run once each, printed as `fault: ...: survived`: the store's sessions ended, the
# store's PostgreSQL server restarted or crashed after the first batch (a private cluster the test
# starts, never the shared server), and the disk under a SQLite state database full (a small
# tmpfs; mounting needs root) before the run and after its first batch. Each ends with exit 0 or
# 1 (a full disk: 1, saying so), nothing held, undue or half done changed, no false `remaining`,
# and a rerun that finishes the work with a trail that verifies.
#
#   scripts/crash-campaign.sh [POINTS_PER_CASE]     (default 6: 54 kill points in all)
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
