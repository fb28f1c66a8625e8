# Shared by the benchmark scripts (scripts/bench*.sh); sourced after `cd` to the repository.

median() { # median of the arguments, three decimals
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Sets LETHE (BENCH_LETHE, or a release build of this checkout) and BUILD_REV (the commit,
# with "-dirty" when tracked files differed: others may commit meanwhile).
lethe_binary() {
  if [ -n "${BENCH_LETHE:-}" ]; then
    LETHE=$(realpath "$BENCH_LETHE")
  else
    say "building the release binary (cargo build --release)"
    cargo build --release --quiet
    LETHE=$(pwd)/target/release/lethe
  fi
  [ -x "$LETHE" ] || die "no lethe binary at $LETHE"
  BUILD_REV=$(git describe --always --dirty 2>/dev/null || echo '?')
}

# The helpers `pg` and `my` (PGHOST/PGPORT/PGUSER, MYHOST/MYPORT/MYUSER) and, on exit, the
# benchmark database $DB dropped where PG_CREATED or MY_CREATED is set and $TMP removed.
bench_databases() {
  export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
  pg() { psql -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" "$@"; }
  my() { mysql --protocol=tcp -h "$MYHOST" -P "$MYPORT" -u "$MYUSER" "$@"; }
  cleanup() {
    local rc=$?
    [ -n "$PG_CREATED" ] && pg -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    [ -n "$MY_CREATED" ] && my -e "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
    rm -rf "$TMP"
    [ "$rc" = 0 ] || say "failed (exit $rc); databases dropped"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}
