#!/usr/bin/env bash
# Benchmark for `lethe discover` on a wide schema. NOT part of the test suite (scripts/test.sh
# never calls it). See benches/README.md, "Discovery on 500 tables".
#
# For each engine it builds a database of BENCH_TABLES tables (default 500), each with eight
# columns (a key, e-mail, telephone, name, IBAN-like reference, a timestamp, an amount and a
# free-text note) and BENCH_TABLE_ROWS rows (default 2000, more than the default sample of 1000),
# then runs `lethe discover --format json` BENCH_REPS times and reports the median wall time,
# the findings and lethe's peak RSS. A second pass with BENCH_BIG_ROWS rows per table (default
# 20000; 0 = skip) shows whether memory grows with the tables (it should not: the sample is
# bounded).
#
# Environment:
#   BENCH_ENGINES      postgres,mariadb,sqlite (default all three)
#   BENCH_TABLES       tables (500)
#   BENCH_TABLE_ROWS   rows per table (2000)
#   BENCH_BIG_ROWS     rows per table in the memory pass (20000; 0 = skip)
#   BENCH_REPS         repetitions (3); the median is reported
#   BENCH_LETHE        path to a lethe binary (default: cargo build --release, target/release/lethe)
#   BENCH_OUT          also write the result table to this file
#   PGHOST/PGPORT/PGUSER, MYHOST/MYPORT/MYUSER as in scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-root}
MYHOST=${MYHOST:-127.0.0.1} MYPORT=${MYPORT:-3306} MYUSER=${MYUSER:-root}
ENGINES=${BENCH_ENGINES:-postgres,mariadb,sqlite}
TABLES=${BENCH_TABLES:-500}
ROWS=${BENCH_TABLE_ROWS:-2000}
BIG_ROWS=${BENCH_BIG_ROWS:-20000}
REPS=${BENCH_REPS:-3}

say() { printf '[bench-discover] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
# shellcheck source=lib/bench.sh
. scripts/lib/bench.sh
for tool in psql mysql python3 jq awk /usr/bin/time; do command -v "$tool" >/dev/null || die "$tool not found"; done

SUFFIX=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
DB=lethe_bench_disc_$SUFFIX
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lethe-bench-discover.XXXXXX")
PG_CREATED= MY_CREATED=
bench_databases


lethe_binary

# The SELECT that fills one table with $1 rows (i = 1..n), per engine.
# Names from a few first and last names; IBANs from three that pass mod-97.
columns_pg="i::bigint, 'person' || i || '@example.org', '+31 6 ' || lpad((i % 100000000)::text, 8, '0'), (ARRAY['Jan','Sanne','Daan','Emma','Luuk'])[1 + i % 5] || ' ' || (ARRAY['Jansen','de Vries','Bakker','Visser'])[1 + i % 4], (ARRAY['NL91ABNA0417164300','NL20INGB0001234567','DE89370400440532013000'])[1 + i % 3], TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL '1 minute', (i % 1000) * 1.25, 'Call back about order ' || i"
columns_my="seq, CONCAT('person', seq, '@example.org'), CONCAT('+31 6 ', LPAD(seq % 100000000, 8, '0')), CONCAT(ELT(1 + seq % 5, 'Jan', 'Sanne', 'Daan', 'Emma', 'Luuk'), ' ', ELT(1 + seq % 4, 'Jansen', 'de Vries', 'Bakker', 'Visser')), ELT(1 + seq % 3, 'NL91ABNA0417164300', 'NL20INGB0001234567', 'DE89370400440532013000'), TIMESTAMP '2026-01-01 00:00:00' + INTERVAL seq MINUTE, (seq % 1000) * 1.25, CONCAT('Call back about order ', seq)"
DDL_COLUMNS="contact_email VARCHAR(200), phone VARCHAR(50), full_name VARCHAR(200), ref VARCHAR(40), created_at %TS%, amount DECIMAL(10,2), note VARCHAR(400)"

seed_pg() { # seed_pg ROWS
  pg -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  pg -d postgres -c "CREATE DATABASE $DB" >/dev/null
  PG_CREATED=1
  pg -d "$DB" -c "CREATE TABLE t_template (id BIGINT PRIMARY KEY, ${DDL_COLUMNS//%TS%/TIMESTAMPTZ});
    INSERT INTO t_template SELECT $columns_pg FROM generate_series(1, $1) AS s(i);" >/dev/null
  {
    for n in $(seq 1 "$TABLES"); do
      echo "CREATE TABLE t_$n (LIKE t_template INCLUDING ALL); INSERT INTO t_$n SELECT * FROM t_template;"
    done
    echo "DROP TABLE t_template;"
  } | pg -d "$DB" >/dev/null
}

seed_my() { # seed_my ROWS
  my -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
  MY_CREATED=1
  my "$DB" -e "CREATE TABLE t_template (id BIGINT PRIMARY KEY, ${DDL_COLUMNS//%TS%/DATETIME});
    INSERT INTO t_template SELECT $columns_my FROM seq_1_to_$1;"
  {
    for n in $(seq 1 "$TABLES"); do
      echo "CREATE TABLE t_$n LIKE t_template; INSERT INTO t_$n SELECT * FROM t_template;"
    done
    echo "DROP TABLE t_template;"
  } | my "$DB"
}

seed_sqlite() { # seed_sqlite ROWS
  rm -f "$TMP/crm.db"
  python3 - "$TMP/crm.db" "$TABLES" "$1" <<'PY'
import sqlite3, sys
path, tables, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = sqlite3.connect(path)
first = ["Jan", "Sanne", "Daan", "Emma", "Luuk"]
last = ["Jansen", "de Vries", "Bakker", "Visser"]
ibans = ["NL91ABNA0417164300", "NL20INGB0001234567", "DE89370400440532013000"]
data = [(i, f"person{i}@example.org", f"+31 6 {i % 100000000:08d}", f"{first[i % 5]} {last[i % 4]}",
         ibans[i % 3], f"2026-01-01 00:{i % 60:02d}:00", (i % 1000) * 1.25,
         f"Call back about order {i}") for i in range(1, rows + 1)]
for n in range(1, tables + 1):
    db.execute(f"CREATE TABLE t_{n} (id INTEGER PRIMARY KEY, contact_email TEXT, phone TEXT, "
               "full_name TEXT, ref TEXT, created_at DATETIME, amount NUMERIC, note TEXT)")
    db.executemany(f"INSERT INTO t_{n} VALUES (?,?,?,?,?,?,?,?)", data)
db.commit()
PY
}

url_of() {
  case $1 in
    postgres) echo "postgres://$PGUSER@$PGHOST:$PGPORT/$DB" ;;
    mariadb) echo "mysql://$MYUSER@$MYHOST:$MYPORT/$DB" ;;
    sqlite) echo "sqlite://$TMP/crm.db" ;;
  esac
}

# One policy on t_1, so that coverage has something governed.
policies() { # policies ENGINE
  mkdir -p "$TMP/policies"
  cat >"$TMP/policies/lethe.yaml" <<YAML
state: sqlite://$TMP/state.db
stores:
  crm: { kind: sql, url: "$(url_of "$1")", country: NL }
YAML
  cat >"$TMP/policies/t1.yaml" <<YAML
kind: RetentionPolicy
name: t1
store: crm
table: t_1
key: id
clock: { column: created_at }
keep: 1y
action: delete
YAML
}

measure() { # measure ENGINE ROWS -> prints a result row
  local engine=$1 rows=$2 times=() rss=() findings=
  policies "$engine"
  for _ in $(seq 1 "$REPS"); do
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -v -o "$TMP/time.txt" "$LETHE" --config "$TMP/policies" discover --format json --out "$TMP/report.json" >/dev/null 2>"$TMP/stderr.txt" \
      || { cat "$TMP/stderr.txt" >&2; die "lethe discover failed on $engine"; }
    end=$(date +%s.%N)
    times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')")
    rss+=("$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$TMP/time.txt")")
  done
  findings=$(jq -r '"\(.summary.findings) (\(.summary.governed) governed)"' "$TMP/report.json")
  local tables
  tables=$(jq -r '[.stores[].tables] | add' "$TMP/report.json")
  printf '| %s | %s | %s | %s | %.2f s | %.1f MB |\n' "$engine" "$tables" "$rows" "$findings" "$(median "${times[@]}")" "$(median "${rss[@]}")"
}

RESULT=$TMP/result.md
{
  echo "lethe discover, $TABLES tables of 8 columns, medians of $REPS, build $BUILD_REV, $(date -u +%Y-%m-%d)"
  echo
  echo "| engine | tables | rows per table | findings | wall time | peak RSS |"
  echo "| --- | --- | --- | --- | --- | --- |"
} >"$RESULT"
IFS=, read -r -a engines <<<"$ENGINES"
for engine in "${engines[@]}"; do
  for rows in "$ROWS" "$BIG_ROWS"; do
    [ "$rows" -gt 0 ] || continue
    say "$engine: seeding $TABLES tables of $rows rows"
    case $engine in
      postgres) seed_pg "$rows" ;;
      mariadb) seed_my "$rows" ;;
      sqlite) seed_sqlite "$rows" ;;
      *) die "unknown engine $engine" ;;
    esac
    say "$engine: lethe discover x$REPS"
    measure "$engine" "$rows" >>"$RESULT"
  done
done
cat "$RESULT"
[ -z "${BENCH_OUT:-}" ] || cp "$RESULT" "$BENCH_OUT"
