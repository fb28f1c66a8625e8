#!/usr/bin/env bash
# Runs lethe's whole test suite against real servers: SQLite (in-process), PostgreSQL and
# MariaDB on loopback. Provisions and starts whatever is missing (apt-get when a server is not
# installed), idempotently. Under CI=true a missing server fails the run; it never skips.
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

pg_up || { say "PostgreSQL unavailable"; if [ "${CI:-}" = true ]; then exit 1; fi; }
my_up || { say "MariaDB unavailable"; if [ "${CI:-}" = true ]; then exit 1; fi; }

say "running cargo test"
cargo test --locked --all-targets "$@"
