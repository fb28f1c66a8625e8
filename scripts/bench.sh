#!/usr/bin/env bash
# Benchmark harness for `lethe apply` / `lethe plan` against their raw-SQL references.
# NOT part of the test suite (scripts/test.sh never calls it). See benches/README.md.
#
# For each engine it builds a `leads` table (30% of rows older than the cutoff), then measures,
# in the same run and interleaved repetition by repetition:
#   reference  raw `DELETE ... WHERE created_at < cutoff` / raw 4-column `UPDATE ... SET col = NULL`
#   contender  `lethe apply --yes --format json` (delete, batch 1000, 5000 and the default
#              batch_target 200ms; anonymize in SQL likewise;
#              anonymize with hmac + truncate-ip, computed row by row in lethe) and `lethe plan`
# Every measurement starts from a fresh copy of the seed table (reset outside the timed region)
# and is repeated BENCH_REPS times; the table shows medians, the ratio lethe/reference and
# lethe's peak RSS (`/usr/bin/time -v`, "Maximum resident set size").
#
# Environment:
#   BENCH_ROWS             rows for both engines (default: PostgreSQL 1000000, MariaDB 200000)
#   BENCH_PG_ROWS          rows for the main PostgreSQL pass (overrides BENCH_ROWS)
#   BENCH_PG_SMALL_ROWS    rows for the second PostgreSQL pass, for the RSS comparison (100000; 0 = skip)
#   BENCH_MY_ROWS          rows for MariaDB (overrides BENCH_ROWS)
#   BENCH_ENGINES          postgres,mariadb (default both)
#   BENCH_REPS             repetitions per measurement (3); the median is reported
#   BENCH_HMAC_MAX_ROWS    run the row-by-row hmac case only in passes with at most this many rows (200000)
#   BENCH_HMAC_REPS        repetitions for the hmac case (default BENCH_REPS)
#   BENCH_LAYOUT           sequential (ids follow created_at, oldest first; default) or scattered
#                          (every id ending in 0, 1 or 2 is old: due rows spread over the key range)
#   BENCH_CREATED_AT_INDEX 1 (default): index on created_at; 0: primary key only
#   BENCH_SHAPES           1 (default): also compare batch statement shapes as raw SQL (no lethe), in the
#                          main PostgreSQL pass and the MariaDB pass, with and without the created_at index
#   BENCH_SHAPE_REPS       repetitions per shape measurement (1)
#   BENCH_WRITE_ROWS       rows for the hmac write-path comparison (30000)
#   BENCH_LETHE            path to a lethe binary (default: cargo build --release, target/release/lethe)
#   BENCH_OUT              also write the result table to this file
#   PGHOST/PGPORT/PGUSER   PostgreSQL (127.0.0.1, 5432, root; trust auth)
#   MYHOST/MYPORT/MYUSER   MariaDB (127.0.0.1, 3306, root; empty password)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-root}
MYHOST=${MYHOST:-127.0.0.1} MYPORT=${MYPORT:-3306} MYUSER=${MYUSER:-root}
PG_ROWS=${BENCH_PG_ROWS:-${BENCH_ROWS:-1000000}}
PG_SMALL_ROWS=${BENCH_PG_SMALL_ROWS:-100000}
MY_ROWS=${BENCH_MY_ROWS:-${BENCH_ROWS:-200000}}
ENGINES=${BENCH_ENGINES:-postgres,mariadb}
REPS=${BENCH_REPS:-3}
HMAC_MAX_ROWS=${BENCH_HMAC_MAX_ROWS:-200000}
HMAC_REPS=${BENCH_HMAC_REPS:-$REPS}
LAYOUT=${BENCH_LAYOUT:-sequential}
CREATED_AT_INDEX=${BENCH_CREATED_AT_INDEX:-1}
SHAPES=${BENCH_SHAPES:-1}
SHAPE_REPS=${BENCH_SHAPE_REPS:-1}
WRITE_ROWS=${BENCH_WRITE_ROWS:-30000}

# A fixed instant, so the reference and lethe use exactly the same cutoff (keep: 90d).
AS_OF=2026-11-23T00:00:00Z
CUTOFF='2026-08-25 00:00:00'
HMAC_KEY=bench-key-0123456789abcdef0123456789abcdef

say() { printf '[bench] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
# shellcheck source=lib/bench.sh
. scripts/lib/bench.sh
case $LAYOUT in sequential | scattered) ;; *) die "BENCH_LAYOUT must be sequential or scattered" ;; esac
for tool in psql mysql jq awk /usr/bin/time; do command -v "$tool" >/dev/null || die "$tool not found"; done

SUFFIX=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
DB=lethe_bench_$SUFFIX
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lethe-bench.XXXXXX")
PG_CREATED= MY_CREATED=
bench_databases

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# ---------------------------------------------------------------------------------------------
# The binary
lethe_binary

# ---------------------------------------------------------------------------------------------
# Engine-specific SQL. $1 = engine (pg | my).

# created_at of row `i` (an SQL expression over the integer column/expression $2) for $3 rows.
created_at_sql() {
  local engine=$1 i=$2 n=$3
  local k=$((n * 3 / 10))
  local step=$((7776000 * 99 / 100 / (n - k)))
  [ "$step" -ge 1 ] || step=1
  if [ "$LAYOUT" = sequential ]; then
    # ids 1..k are older than the cutoff, k+1.. are newer (id k+1 is exactly at the cutoff: kept).
    case $engine in
      pg) echo "TIMESTAMPTZ '$CUTOFF+00' + (($i - $k - 1) * $step) * INTERVAL '1 second'" ;;
      my) echo "TIMESTAMP '$CUTOFF' + INTERVAL (($i - $k - 1) * $step) SECOND" ;;
    esac
  else
    # ids ending in 0, 1, 2 are older than the cutoff (up to 997 hours); the others are up to 81 days newer.
    case $engine in
      pg) echo "CASE WHEN $i % 10 < 3 THEN TIMESTAMPTZ '$CUTOFF+00' - (($i % 997) + 1) * INTERVAL '1 hour' ELSE TIMESTAMPTZ '$CUTOFF+00' + (($i % 997) + 1) * INTERVAL '7000 seconds' END" ;;
      my) echo "IF($i % 10 < 3, TIMESTAMP '$CUTOFF' - INTERVAL (($i % 997) + 1) HOUR, TIMESTAMP '$CUTOFF' + INTERVAL ((($i % 997) + 1) * 7000) SECOND)" ;;
    esac
  fi
}

seed() { # seed ENGINE ROWS: (re)creates leads_seed
  local engine=$1 n=$2
  case $engine in
    pg)
      pg -d "$DB" <<SQL
DROP TABLE IF EXISTS leads_seed;
CREATE TABLE leads_seed AS
SELECT i::bigint AS id,
       ('lead' || i || '@example.com')::varchar(200) AS email,
       ('+31 6 ' || lpad((i % 100000000)::text, 8, '0'))::varchar(50) AS phone,
       ('Lead Person ' || i)::varchar(200) AS full_name,
       ('10.' || (i / 65536) % 256 || '.' || (i / 256) % 256 || '.' || (i % 254 + 1))::varchar(60) AS ip,
       (CASE WHEN i % 5 = 0 THEN 'rejected' ELSE 'delivered' END)::varchar(20) AS status,
       $(created_at_sql pg i "$n") AS created_at
FROM generate_series(1, $n) AS s(i);
SQL
      ;;
    my)
      my "$DB" <<SQL
DROP TABLE IF EXISTS leads_seed;
CREATE TABLE leads_seed (id BIGINT PRIMARY KEY, email VARCHAR(200), phone VARCHAR(50),
  full_name VARCHAR(200), ip VARCHAR(60), status VARCHAR(20), created_at DATETIME) ENGINE=InnoDB;
INSERT INTO leads_seed
SELECT seq, CONCAT('lead', seq, '@example.com'), CONCAT('+31 6 ', LPAD(seq % 100000000, 8, '0')),
       CONCAT('Lead Person ', seq),
       CONCAT('10.', (seq DIV 65536) % 256, '.', (seq DIV 256) % 256, '.', seq % 254 + 1),
       IF(seq % 5 = 0, 'rejected', 'delivered'), $(created_at_sql my seq "$n")
FROM (SELECT CAST(seq AS SIGNED) AS seq FROM seq_1_to_$n) AS s;
SQL
      ;;
  esac
}

reset() { # reset ENGINE [INDEX]: fresh `leads` from the seed, indexed, analyzed, outside any timing
  local engine=$1 index=${2:-$CREATED_AT_INDEX}
  case $engine in
    pg)
      pg -d "$DB" -c "DROP TABLE IF EXISTS leads" \
        -c "CREATE TABLE leads AS SELECT * FROM leads_seed" \
        -c "ALTER TABLE leads ADD PRIMARY KEY (id)" >/dev/null
      [ "$index" = 1 ] && pg -d "$DB" -c "CREATE INDEX leads_created_at ON leads (created_at)" >/dev/null
      pg -d "$DB" -c "VACUUM ANALYZE leads" -c "CHECKPOINT" >/dev/null
      ;;
    my)
      my "$DB" -e "DROP TABLE IF EXISTS leads; CREATE TABLE leads LIKE leads_seed;
                   INSERT INTO leads SELECT * FROM leads_seed;"
      [ "$index" = 1 ] && my "$DB" -e "ALTER TABLE leads ADD INDEX leads_created_at (created_at)"
      my "$DB" -N -e "ANALYZE TABLE leads" >/dev/null
      ;;
  esac
}

# Raw statements. Each prints "<seconds> <rows changed>".
ref_sql() {
  local engine=$1 what=$2 lit
  case $engine in pg) lit="'$CUTOFF+00'" ;; my) lit="'$CUTOFF'" ;; esac
  case $what in
    delete) echo "DELETE FROM leads WHERE created_at < $lit" ;;
    update) echo "UPDATE leads SET email = NULL, phone = NULL, full_name = NULL, ip = NULL WHERE created_at < $lit" ;;
    count) echo "SELECT COUNT(*) FROM leads WHERE created_at < $lit" ;;
  esac
}

run_ref() { # run_ref ENGINE WHAT
  local engine=$1 sql t0 t1 out n
  sql=$(ref_sql "$engine" "$2")
  t0=$(now)
  case $engine in
    pg) out=$(psql -X -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -At -c "$sql") ;;
    my) out=$(my "$DB" -N -e "$sql; SELECT ROW_COUNT()") ;;
  esac
  t1=$(now)
  case $engine/$2 in
    pg/count) n=$out ;;
    pg/*) n=${out##* } ;;                      # "DELETE 300000"
    my/count) n=$(echo "$out" | head -n1) ;;
    my/*) n=$(echo "$out" | tail -n1) ;;
  esac
  echo "$(elapsed "$t0" "$t1") $n"
}

# ---------------------------------------------------------------------------------------------
# lethe configurations: one policies folder per scenario.

url_of() {
  case $1 in
    pg) echo "postgres://$PGUSER@$PGHOST:$PGPORT/$DB" ;;
    my) echo "mysql://$MYUSER@$MYHOST:$MYPORT/$DB" ;;
  esac
}

write_config() { # write_config ENGINE SCENARIO BATCH -> folder (BATCH a row count, or `target`)
  local engine=$1 scenario=$2 batch=$3 sizing
  local dir=$TMP/$engine-$scenario-$batch
  mkdir -p "$dir/policies"
  case $batch in
    target) sizing="batch_target: 200ms" ;;
    *) sizing="batch_size: $batch" ;;
  esac
  cat >"$dir/policies/lethe.yaml" <<YAML
state: sqlite://$dir/state.db
stores:
  crm: { kind: sql, url: "$(url_of "$engine")", country: NL }
hmac_key: $HMAC_KEY
guard: { max_fraction: 1 }
$sizing
YAML
  local action
  case $scenario in
    delete) action="action: delete" ;;
    anon-sql) action='action:
  anonymize:
    email: "null"
    phone: redact
    full_name: "null"
    ip: "null"' ;;
    anon-hmac) action='action:
  anonymize:
    email: hmac
    ip: truncate-ip' ;;
  esac
  cat >"$dir/policies/leads.yaml" <<YAML
kind: RetentionPolicy
name: bench-$scenario
store: crm
table: leads
key: id
clock: { column: created_at }
keep: 90d
$action
guard: { max_fraction: 1 }
YAML
  echo "$dir"
}

run_lethe() { # run_lethe DIR (apply|plan): prints "<seconds> <rows changed> <peak RSS MB>"
  local dir=$1 cmd=$2 t0 t1 rss n status
  rm -f "$dir"/state.db* "$dir/out.json"
  # A fresh state database, created outside the timed region (`apply` never creates one).
  (cd "$dir" && "$LETHE" --config "$dir/policies" check >/dev/null 2>"$dir/stderr") ||
    { cat "$dir/stderr" >&2; die "lethe check failed (see above)"; }
  local args=(--config "$dir/policies")
  case $cmd in
    apply) args+=(apply --yes --format json --as-of "$AS_OF" --out "$dir/out.json") ;;
    plan) args+=(plan --format json --as-of "$AS_OF" --out "$dir/out.json" --plan-file "$dir/plan.json") ;;
  esac
  t0=$(now)
  (cd "$dir" && /usr/bin/time -v -o "$dir/time.txt" "$LETHE" "${args[@]}" </dev/null >"$dir/stdout" 2>"$dir/stderr") ||
    { cat "$dir/stderr" >&2; die "lethe $cmd failed (see above)"; }
  t1=$(now)
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$dir/time.txt")
  case $cmd in
    apply)
      status=$(jq -r '.status' "$dir/out.json")
      [ "$status" = ok ] || die "lethe apply status $status: $(cat "$dir/out.json")"
      n=$(jq '[.policies[] | .deleted + .anonymized] | add' "$dir/out.json")
      [ "$(jq '[.policies[] | .remaining + .failed] | add' "$dir/out.json")" = 0 ] ||
        die "lethe apply left rows behind: $(cat "$dir/out.json")"
      ;;
    plan) n=$(jq '[.policies[] | .eligible] | add' "$dir/out.json" 2>/dev/null || echo "?") ;;
  esac
  echo "$(elapsed "$t0" "$t1") $n $rss"
}

# ---------------------------------------------------------------------------------------------
# Results

RESULTS=() # "engine|operation|rows|due|ref median|lethe median|rss median|note"

record() { RESULTS+=("$1"); }

# measure ENGINE ROWS LABEL REF_WHAT REPS [CONFIG_DIR LETHE_CMD]...
# Runs, per repetition: the reference (if REF_WHAT != -) and then every contender, each on a
# fresh table, and records one result line per contender (the reference median repeated).
measure() {
  local engine=$1 rows=$2 label=$3 ref_what=$4 reps=$5
  shift 5
  local contenders=("$@") ref_times=() ref_n=- r i t n m out
  local -A times rsss ns
  for ((r = 1; r <= reps; r++)); do
    if [ "$ref_what" != - ]; then
      reset "$engine"
      out=$(run_ref "$engine" "$ref_what")
      read -r t n <<<"$out"
      ref_times+=("$t") ref_n=$n
      say "  $engine $rows $label rep $r: reference $t s ($n rows)"
    fi
    for ((i = 0; i < ${#contenders[@]}; i += 3)); do
      local dir=${contenders[i]} cmd=${contenders[i + 1]} name=${contenders[i + 2]}
      [ "$cmd" = plan ] && [ "$r" -gt 1 ] || reset "$engine" # plan changes nothing
      out=$(run_lethe "$dir" "$cmd")
      read -r t n m <<<"$out"
      times[$name]+="$t " rsss[$name]+="$m " ns[$name]=$n
      say "  $engine $rows $name rep $r: lethe $t s ($n rows, peak RSS $m MB)"
    done
  done
  local ref_med=-
  [ "${#ref_times[@]}" -gt 0 ] && ref_med=$(median "${ref_times[@]}")
  for ((i = 0; i < ${#contenders[@]}; i += 3)); do
    local name=${contenders[i + 2]}
    # shellcheck disable=SC2086
    record "$engine|$name|$rows|${ns[$name]}|$ref_med|$(median ${times[$name]})|$(median ${rsss[$name]})|ref: $ref_what ($ref_n rows)"
  done
}

pass() { # pass ENGINE ROWS
  local engine=$1 rows=$2 t0
  t0=$(now)
  say "$engine: seeding $rows rows ($LAYOUT layout)"
  seed "$engine" "$rows"
  local d1 d5 dt a1 a5 at ah
  d1=$(write_config "$engine" delete 1000)
  d5=$(write_config "$engine" delete 5000)
  dt=$(write_config "$engine" delete target)
  a1=$(write_config "$engine" anon-sql 1000)
  a5=$(write_config "$engine" anon-sql 5000)
  at=$(write_config "$engine" anon-sql target)
  ah=$(write_config "$engine" anon-hmac 1000)
  measure "$engine" "$rows" delete delete "$REPS" \
    "$d1" apply "apply delete, batch 1000" \
    "$d5" apply "apply delete, batch 5000" \
    "$dt" apply "apply delete, batch_target 200ms (default)"
  measure "$engine" "$rows" anonymize update "$REPS" \
    "$a1" apply "apply anonymize SQL-side, batch 1000" \
    "$a5" apply "apply anonymize SQL-side, batch 5000" \
    "$at" apply "apply anonymize SQL-side, batch_target 200ms (default)"
  if [ "$rows" -le "$HMAC_MAX_ROWS" ]; then
    measure "$engine" "$rows" anon-hmac update "$HMAC_REPS" \
      "$ah" apply "apply anonymize hmac+truncate-ip (row by row), batch 1000"
  else
    record "$engine|apply anonymize hmac+truncate-ip (row by row)|$rows|-|-|-|-|skipped: more than BENCH_HMAC_MAX_ROWS=$HMAC_MAX_ROWS rows"
  fi
  measure "$engine" "$rows" plan count "$REPS" "$d1" plan "plan (delete policy)"
  say "$engine $rows rows: pass took $(elapsed "$t0" "$(now)") s"
}


# ---------------------------------------------------------------------------------------------
# Statement shapes: the batch loop as raw SQL inside the server (benches/shapes-*.sql), so only
# the shape of the batch statement differs; and the write path of in-process strategies
# (one UPDATE per row vs one UPDATE per batch from a VALUES list), sent by psql/mysql from a file.

SHAPES_OUT=() # "engine|rows|index|action|shape|batch|median seconds|raw median seconds"

time_cmd() { # time_cmd COMMAND...: prints the wall seconds
  local t0 t1
  t0=$(now)
  "$@" >/dev/null
  t1=$(now)
  elapsed "$t0" "$t1"
}

shape_loop() { # shape_loop ENGINE ACTION SHAPE BATCH
  case $1 in
    pg) pg -d "$DB" -c "CALL lethe_bench_loop('$2', '$3', '$CUTOFF+00', $4)" ;;
    my) my "$DB" -e "CALL lethe_bench_loop('$2', '$3', '$CUTOFF', $4)" ;;
  esac
}

due_left() { # due_left ENGINE ACTION: rows still due after a loop (must be 0)
  local lit cond
  case $1 in pg) lit="'$CUTOFF+00'" ;; my) lit="'$CUTOFF'" ;; esac
  cond="created_at < $lit"
  [ "$2" = update ] && cond="$cond AND (email IS NOT NULL OR full_name IS NOT NULL OR ip IS NOT NULL)"
  case $1 in
    pg) pg -d "$DB" -At -c "SELECT COUNT(*) FROM leads WHERE $cond" ;;
    my) my "$DB" -N -e "SELECT COUNT(*) FROM leads WHERE $cond" ;;
  esac
}

# write_sql ENGINE SHAPE FILE: the hmac + truncate-ip write path for the first WRITE_ROWS due rows,
# 1000 rows per transaction. Values are stand-ins of the right length (computing them is not timed).
write_sql() {
  local engine=$1 shape=$2 file=$3 lit due
  case $engine in
    pg) lit="'$CUTOFF+00'" ;;
    my) lit="'$CUTOFF'" ;;
  esac
  case $engine in
    pg) due="NOT l.created_at IS NULL AND l.created_at < $lit" ;;
    my) due="NOT (l.created_at IS NULL OR l.created_at < '0001-01-01') AND l.created_at < $lit" ;;
  esac
  due="$due AND ((l.email IS NOT NULL AND l.email NOT LIKE 'hmac:%') OR (l.ip IS NOT NULL AND NOT (l.ip LIKE '%.0' OR (l.ip LIKE '%::' AND l.ip NOT LIKE '%:%:%:%:%:%'))))"
  local q="SELECT id, ip FROM leads WHERE created_at < $lit ORDER BY id LIMIT $WRITE_ROWS"
  { case $engine in
      pg) pg -d "$DB" -At -F ' ' -c "$q" ;;
      my) my "$DB" -N -e "$q" ;;
    esac; } | awk -v engine="$engine" -v shape="$shape" -v due="$due" '
      function val(id) { return sprintf("hmac:%032x", id * 2654435761) }
      function ipz(ip) { sub(/\.[0-9]+$/, ".0", ip); return ip }
      function flush() {
        if (n == 0) return
        if (shape == "rowbyrow") { print "BEGIN;"; for (i = 1; i <= n; i++) printf "UPDATE leads AS l SET email = '\''%s'\'', ip = '\''%s'\'' WHERE l.id = %s AND %s;\n", val(ids[i]), ipz(ips[i]), ids[i], due; print "COMMIT;" }
        else if (engine == "pg") {
          printf "UPDATE leads AS l SET email = v.vemail, ip = v.vip FROM (VALUES "
          for (i = 1; i <= n; i++) printf "%s(%s, '\''%s'\'', '\''%s'\'')", (i > 1 ? ", " : ""), ids[i], val(ids[i]), ipz(ips[i])
          printf ") AS v(vid, vemail, vip) WHERE l.id = v.vid AND %s;\n", due
        } else {
          printf "UPDATE leads AS l JOIN ("
          for (i = 1; i <= n; i++) printf "%sSELECT %s AS vid, '\''%s'\'' AS vemail, '\''%s'\'' AS vip", (i > 1 ? " UNION ALL " : ""), ids[i], val(ids[i]), ipz(ips[i])
          printf ") AS v ON l.id = v.vid SET l.email = v.vemail, l.ip = v.vip WHERE %s;\n", due
        }
        n = 0
      }
      { n++; ids[n] = $1; ips[n] = $2; if (n == 1000) flush() }
      END { flush() }' >"$file"
}

shapes_pass() { # shapes_pass ENGINE ROWS
  local engine=$1 rows=$2 index action shape batch r t raw_t shapes_list
  say "$engine $rows rows: statement shapes (raw SQL, $SHAPE_REPS run(s) each)"
  case $engine in
    pg) pg -d "$DB" -f "$ROOT/benches/shapes-postgres.sql" >/dev/null ;;
    my) my "$DB" <"$ROOT/benches/shapes-mariadb.sql" ;;
  esac
  for index in 1 0; do
    for action in delete update; do
      local raw=()
      for ((r = 1; r <= SHAPE_REPS; r++)); do
        reset "$engine" "$index"
        local out
        out=$(run_ref "$engine" "$action")
        raw+=("${out%% *}")
      done
      raw_t=$(median "${raw[@]}")
      SHAPES_OUT+=("$engine|$rows|$index|$action|raw single statement|-|$raw_t|$raw_t")
      case $engine/$index/$action in
        pg/1/delete) shapes_list="current:1000 current:5000 array:1000 array:5000 range:1000 range:5000" ;;
        pg/*) shapes_list="current:1000 current:5000 range:1000 range:5000" ;;
        my/1/*) shapes_list="current:1000 clock:1000 range:1000 current:5000 range:5000" ;;
        my/*) shapes_list="current:1000 range:1000 current:5000 range:5000" ;;
      esac
      local item
      for item in $shapes_list; do
        shape=${item%%:*} batch=${item##*:}
        local ts=()
        for ((r = 1; r <= SHAPE_REPS; r++)); do
          reset "$engine" "$index"
          t=$(time_cmd shape_loop "$engine" "$action" "$shape" "$batch")
          [ "$(due_left "$engine" "$action")" = 0 ] || die "shape $shape left due rows"
          ts+=("$t")
          say "  $engine $rows index=$index $action $shape batch $batch: $t s (raw $raw_t s)"
        done
        SHAPES_OUT+=("$engine|$rows|$index|$action|$shape|$batch|$(median "${ts[@]}")|$raw_t")
      done
    done
  done
  # The write path of in-process strategies (hmac, truncate-ip), with the created_at index.
  local client
  for shape in rowbyrow values; do
    write_sql "$engine" "$shape" "$TMP/write-$shape.sql"
  done
  local ts_r=() ts_v=() write_n
  write_n=$(grep -c '^UPDATE' "$TMP/write-rowbyrow.sql" || true)
  for ((r = 1; r <= SHAPE_REPS; r++)); do
    for shape in rowbyrow values; do
      reset "$engine" 1
      case $engine in
        pg) t=$(time_cmd pg -d "$DB" -f "$TMP/write-$shape.sql") ;;
        my) t=$(time_cmd my "$DB" -e "source $TMP/write-$shape.sql") ;;
      esac
      local done_n
      case $engine in
        pg) done_n=$(pg -d "$DB" -At -c "SELECT COUNT(*) FROM leads WHERE email LIKE 'hmac:%'") ;;
        my) done_n=$(my "$DB" -N -e "SELECT COUNT(*) FROM leads WHERE email LIKE 'hmac:%'") ;;
      esac
      [ "$done_n" = "$write_n" ] || die "write path $shape changed $done_n rows, expected $write_n"
      case $shape in rowbyrow) ts_r+=("$t") ;; *) ts_v+=("$t") ;; esac
      say "  $engine $rows write path $shape ($write_n rows): $t s"
    done
  done
  local tr tv
  tr=$(median "${ts_r[@]}") tv=$(median "${ts_v[@]}")
  SHAPES_OUT+=("$engine|$rows|1|hmac write, $write_n rows|one UPDATE per row|1000|$tr|-")
  SHAPES_OUT+=("$engine|$rows|1|hmac write, $write_n rows|one UPDATE ... VALUES per batch|1000|$tv|-")
}

# ---------------------------------------------------------------------------------------------
# Main

START=$(now)
say "database $DB, temp $TMP, lethe $LETHE ($BUILD_REV)"

if [[ ,$ENGINES, == *,postgres,* ]]; then
  pg -d postgres -c "CREATE DATABASE $DB" >/dev/null
  PG_CREATED=1
  pass pg "$PG_ROWS"
  [ "$SHAPES" = 1 ] && shapes_pass pg "$PG_ROWS"
  if [ "$PG_SMALL_ROWS" -gt 0 ] && [ "$PG_SMALL_ROWS" != "$PG_ROWS" ]; then
    pass pg "$PG_SMALL_ROWS"
  fi
fi
if [[ ,$ENGINES, == *,mariadb,* ]]; then
  my -e "CREATE DATABASE $DB" >/dev/null
  MY_CREATED=1
  pass my "$MY_ROWS"
  [ "$SHAPES" = 1 ] && shapes_pass my "$MY_ROWS"
fi

TOTAL=$(elapsed "$START" "$(now)")
report() {
  echo "lethe benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) cores  lethe built from $BUILD_REV"
  echo "layout $LAYOUT, created_at index $([ "$CREATED_AT_INDEX" = 1 ] && echo yes || echo no), 30% due, as of $AS_OF (cutoff $CUTOFF UTC), median of $REPS (hmac: $HMAC_REPS), total ${TOTAL}s"
  echo "ratio = lethe / reference; reference for apply delete = raw DELETE, for anonymize = raw 4-column UPDATE ... SET col = NULL,"
  echo "for plan = SELECT COUNT(*) ... WHERE created_at < cutoff. Wall times include process start and connecting."
  echo
  printf '%-6s %-58s %9s %8s %8s %8s %8s %8s\n' engine operation rows changed ref_s lethe_s ratio rss_MB
  local line e op rows n ref le rss note ratio
  for line in "${RESULTS[@]}"; do
    IFS='|' read -r e op rows n ref le rss note <<<"$line"
    ratio=$(awk -v a="$le" -v b="$ref" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.1fx", a / b; else print "-" }')
    case $e in pg) e=pg ;; my) e=maria ;; esac
    [ "$rss" = - ] || rss=$(printf '%.1f' "$rss")
    printf '%-6s %-58s %9s %8s %8s %8s %8s %8s' "$e" "$op" "$rows" "$n" "$ref" "$le" "$ratio" "$rss"
    case $note in skipped*) printf '  (%s)' "$note" ;; esac
    printf '\n'
  done
  [ "${#SHAPES_OUT[@]}" -gt 0 ] || return 0
  echo
  echo "Batch statement shapes, raw SQL loops inside the server (benches/shapes-*.sql; no lethe, one COMMIT per batch),"
  echo "median of $SHAPE_REPS; vs_raw = loop / the raw single statement on the same table. current = what lethe issues today."
  echo "The hmac write rows send the same updates (first BENCH_WRITE_ROWS=$WRITE_ROWS due rows) from a client (psql/mysql), 1000 rows per transaction."
  echo
  printf '%-6s %9s %-6s %-24s %-32s %6s %9s %8s\n' engine rows index action shape batch seconds vs_raw
  local a sh b sec raw idx
  for line in "${SHAPES_OUT[@]}"; do
    IFS='|' read -r e rows idx a sh b sec raw <<<"$line"
    ratio=$(awk -v a="$sec" -v b="$raw" 'BEGIN { if (b + 0 > 0) printf "%.1fx", a / b; else print "-" }')
    case $e in pg) e=pg ;; my) e=maria ;; esac
    printf '%-6s %9s %-6s %-24s %-32s %6s %9s %8s\n' "$e" "$rows" "$([ "$idx" = 1 ] && echo yes || echo no)" "$a" "$sh" "$b" "$sec" "$ratio"
  done
}
report | tee ${BENCH_OUT:+"$BENCH_OUT"}
