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
