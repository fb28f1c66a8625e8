#!/usr/bin/env bash
# Runs lethe's whole test suite against real servers: SQLite (in-process), PostgreSQL and
# MariaDB on loopback, and started for this run a PostgreSQL streaming replica (replay paused by
# the throttling tests) and two S3 servers: moto (S3 semantics: versioning, Object Lock,
# tagging) and Garage (a production S3 store); headless Chromium renders the HTML reports.
# Provisions whatever is missing
# (apt-get for the databases, pip for moto, cargo for Garage; the tools are cached outside the
# checkout in $LETHE_TOOLS), idempotently. Under CI=true a missing server fails the run; it
# never skips.
set -euo pipefail
cd "$(dirname "$0")/.."

LETHE_TEST_POSTGRES_URL_SET=${LETHE_TEST_POSTGRES_URL:-}
LETHE_TEST_MYSQL_URL_SET=${LETHE_TEST_MYSQL_URL:-}
PG_URL=${LETHE_TEST_POSTGRES_URL:-postgres://root@127.0.0.1:5432/postgres}
MY_URL=${LETHE_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}
export LETHE_TEST_POSTGRES_URL=$PG_URL LETHE_TEST_MYSQL_URL=$MY_URL

say() { printf '[test.sh] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }
apt_updated=
apt_install() {
  if ! command -v apt-get >/dev/null; then say "apt-get not found: install $* by hand"; return 1; fi
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}
wait_for() { # wait_for NAME COMMAND...
  local name=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  say "$name did not come up"; return 1
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }
pg_up() {
  command -v pg_ctlcluster >/dev/null || apt_install postgresql postgresql-client
  if ! pg_ready; then
    say "starting PostgreSQL"
    local v; v=$(ls /etc/postgresql | sort -V | tail -n1)
    as_root pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
    wait_for PostgreSQL pg_ready || return 1
  fi
  # The default login (root, trust auth on loopback) works on the project's machines. A fresh
  # Debian install asks for a password over TCP: then use a `lethe` role with a password.
  if ! psql "$PG_URL" -qAtc 'select 1' >/dev/null 2>&1 && [ -z "${LETHE_TEST_POSTGRES_URL_SET:-}" ]; then
    say "creating the PostgreSQL test role lethe"
    as_root su postgres -c "psql -q" >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lethe') THEN
    CREATE ROLE lethe SUPERUSER LOGIN PASSWORD 'lethe';
  END IF;
END $$;
SQL
    PG_URL=postgres://lethe:lethe@127.0.0.1:5432/postgres
    export LETHE_TEST_POSTGRES_URL=$PG_URL
  fi
  # (Inside a function called from `||`, bash ignores `set -e`: every step returns on failure.)
  psql "$PG_URL" -qAtc 'select 1' >/dev/null || return 1
  # Drop databases left behind by earlier, interrupted test runs.
  for db in $(psql "$PG_URL" -qAtc "select datname from pg_database where datname like 'lethe\_t\_%'"); do
    psql "$PG_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
  done
}

my_ready() { mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping 2>&1 | grep -q 'alive\|Access denied'; }
# The MariaDB client with the user and password of MY_URL (mysql://user[:password]@host:port/db).
my_sql() {
  local auth=${MY_URL#mysql://}; auth=${auth%%@*}
  local user=${auth%%:*} pass=
  [ "$auth" != "$user" ] && pass=${auth#*:}
  MYSQL_PWD=$pass mysql --protocol=tcp -h127.0.0.1 -u"$user" "$@"
}
my_up() {
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server mariadb-client
  if ! my_ready >/dev/null 2>&1; then
    say "starting MariaDB"
    as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    wait_for MariaDB my_ready || return 1
  fi
  # The default login (root without password over TCP) works on the project's machines. A fresh
  # Debian install lets root in only through the socket: then use a `lethe` user with a password.
  if ! my_sql -e 'select 1' >/dev/null 2>&1 && [ -z "${LETHE_TEST_MYSQL_URL_SET:-}" ]; then
    say "creating the MariaDB test user lethe"
    as_root mysql -uroot -e "CREATE USER IF NOT EXISTS 'lethe'@'localhost' IDENTIFIED BY 'lethe';
      CREATE USER IF NOT EXISTS 'lethe'@'127.0.0.1' IDENTIFIED BY 'lethe';
      GRANT ALL ON *.* TO 'lethe'@'localhost'; GRANT ALL ON *.* TO 'lethe'@'127.0.0.1';"
    MY_URL=mysql://lethe:lethe@127.0.0.1:3306/test
    export LETHE_TEST_MYSQL_URL=$MY_URL
  fi
  my_sql -e 'CREATE DATABASE IF NOT EXISTS test' >/dev/null || return 1
  for db in $(my_sql -N -e "SHOW DATABASES LIKE 'lethe\_t\_%'"); do
    my_sql -e "DROP DATABASE IF EXISTS \`$db\`" || true
  done
}

# S3 servers: tools cached outside the checkout, servers started on free loopback ports for
# this run and stopped when it ends.
TOOLS=${LETHE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/lethe-tools}
# moto 5.2 answers some calls with a root element S3 never sends (`GetBucketVersioningResponse`
# instead of `VersioningConfiguration`), which the AWS SDK rightly refuses; 5.1 answers as S3.
MOTO_VERSION=5.1.22
GARAGE_VERSION=2.5.0
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lethe-test.XXXXXX")
SERVER_PIDS=()
cleanup() {
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if declare -F pg_replica_stop >/dev/null; then pg_replica_stop "$RUN_DIR/pg-replica"; fi
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

moto_up() {
  if ! "$TOOLS/venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    say "installing moto $MOTO_VERSION into $TOOLS/venv"
    mkdir -p "$TOOLS"
    python3 -m venv "$TOOLS/venv" || return 1
    "$TOOLS/venv/bin/pip" install -q "moto[server]==$MOTO_VERSION" || return 1
  fi
  local port; port=$(free_port)
  "$TOOLS/venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$RUN_DIR/moto.log" 2>&1 &
  SERVER_PIDS+=($!)
  wait_for moto curl -s -o /dev/null "http://127.0.0.1:$port/" || return 1
  export LETHE_TEST_S3_URL="http://127.0.0.1:$port"
}

# shellcheck source=lib/garage.sh
. scripts/lib/garage.sh
garage_up() {
  local garage="$TOOLS/bin/garage"
  if ! [ -x "$garage" ] || ! "$garage" --version 2>/dev/null | grep -qF "$GARAGE_VERSION"; then
    say "building Garage $GARAGE_VERSION into $TOOLS (once; about 9 minutes on 2 cores)"
    cargo install garage --locked --version "$GARAGE_VERSION" --root "$TOOLS" >"$RUN_DIR/garage-build.log" 2>&1 \
      || { tail -20 "$RUN_DIR/garage-build.log" >&2; return 1; }
  fi
  GARAGE_PID=
  garage_start "$garage" "$RUN_DIR/garage" 1G lethe-test
  local started=$?
  [ -n "$GARAGE_PID" ] && SERVER_PIDS+=("$GARAGE_PID")
  [ "$started" = 0 ] || return 1
  export LETHE_TEST_GARAGE_URL=$GARAGE_ENDPOINT LETHE_TEST_GARAGE_KEY=$GARAGE_KEY_ID LETHE_TEST_GARAGE_SECRET=$GARAGE_SECRET
}

# A PostgreSQL streaming replica of the test server, for replication-lag throttling
# (tests/it/throttle.rs pauses its replay).
# shellcheck source=lib/pg_replica.sh
. scripts/lib/pg_replica.sh
pg_replica_up() {
  pg_replica_start "$LETHE_TEST_POSTGRES_URL" "$RUN_DIR/pg-replica" || return 1
  export LETHE_TEST_PG_REPLICA_URL=$PG_REPLICA_URL
}

# Headless Chromium renders the HTML reports as a reader's browser would (tests/it/browser.rs).
chromium_up() {
  command -v chromium >/dev/null || apt_install chromium || return 1
  export LETHE_TEST_CHROMIUM=${LETHE_TEST_CHROMIUM:-$(command -v chromium)}
}

pg_up || { say "PostgreSQL unavailable"; if [ "${CI:-}" = true ]; then exit 1; fi; }
my_up || { say "MariaDB unavailable"; if [ "${CI:-}" = true ]; then exit 1; fi; }
moto_up || { say "moto (S3) unavailable"; if [ "${CI:-}" = true ]; then exit 1; fi; }
garage_up || { say "Garage (S3) unavailable"; if [ "${CI:-}" = true ]; then exit 1; fi; }
chromium_up || { say "Chromium unavailable"; if [ "${CI:-}" = true ]; then exit 1; fi; }
pg_replica_up || { say "PostgreSQL replica unavailable"; if [ "${CI:-}" = true ]; then exit 1; fi; }

say "servers: PostgreSQL ${LETHE_TEST_POSTGRES_URL##*@}, MariaDB ${LETHE_TEST_MYSQL_URL##*@}, moto ${LETHE_TEST_S3_URL:-(none)}, Garage ${LETHE_TEST_GARAGE_URL:-(none)}, PostgreSQL replica ${LETHE_TEST_PG_REPLICA_URL##*@}, Chromium ${LETHE_TEST_CHROMIUM:-(none)}"
say "running cargo test"
cargo test --locked --all-targets "$@"
