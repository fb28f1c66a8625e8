# Starts a PostgreSQL streaming replica (a hot standby) of a primary on loopback, for
# replication-lag throttling. Sourced by scripts/test.sh, which defines `free_port`, `wait_for`,
# `as_root` and `say`.
#
#   pg_replica_start PRIMARY_URL DIR
#
# The primary needs `wal_level` replica or logical and `max_wal_senders` > 0 (the defaults), a
# role that may replicate (the URL's: a superuser or REPLICATION), and a pg_hba.conf rule that
# lets it connect for replication from 127.0.0.1: a trust rule is added when none exists (and
# the configuration reloaded). The standby runs as the `postgres` OS user in DIR on a free
# port, and stops with `pg_replica_stop DIR`.
#
# Sets PG_REPLICA_URL (same role and database as PRIMARY_URL); returns non-zero on failure.
pg_replica_start() {
  local primary=$1 dir=$2 port bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -x "$bin/pg_ctl" ] && [ -x "$bin/pg_basebackup" ] || { say "pg_ctl/pg_basebackup not found"; return 1; }
  id postgres >/dev/null 2>&1 || { say "no postgres OS user to run the replica"; return 1; }
  psql "$primary" -qAtc 'select 1' >/dev/null || return 1
  # A replication connection from loopback must be allowed: `all` in pg_hba.conf does not
  # cover the `replication` pseudo-database.
  if [ "$(psql "$primary" -qAtc "select count(*) from pg_hba_file_rules where 'replication' = any(database) and type = 'host' and address in ('127.0.0.1', '0.0.0.0', 'all', 'samehost')")" = 0 ]; then
    local hba; hba=$(psql "$primary" -qAtc 'show hba_file') || return 1
    say "allowing replication connections from 127.0.0.1 in $hba"
    printf '\n# Added by lethe scripts/test.sh: streaming replicas on loopback.\nhost replication all 127.0.0.1/32 trust\n' | as_root tee -a "$hba" >/dev/null || return 1
    psql "$primary" -qAtc 'select pg_reload_conf()' >/dev/null || return 1
  fi
  port=$(free_port)
  as_root rm -rf "$dir"
  as_root mkdir -p "$dir"
  as_root chown postgres:postgres "$dir"
  as_root chmod 700 "$dir"
  # The folder above must let the postgres user through.
  as_root chmod o+x "$(dirname "$dir")"
  as_root su postgres -s /bin/sh -c "'$bin/pg_basebackup' -d '$primary' -D '$dir' -R -X stream -c fast" \
    >"$dir.basebackup.log" 2>&1 || { tail -5 "$dir.basebackup.log" >&2; return 1; }
  # Debian keeps postgresql.conf and pg_hba.conf outside the data folder: the copy has none.
  # A hot standby needs these settings at least as high as on its primary.
  local limits
  limits=$(psql "$primary" -qAtc "select string_agg(name || ' = ' || setting, E'\n') from pg_settings where name in ('max_connections', 'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions', 'max_locks_per_transaction')") || return 1
  as_root su postgres -s /bin/sh -c "cat > '$dir/postgresql.conf'" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
hot_standby = on
shared_buffers = 32MB
$limits
CONF
  as_root su postgres -s /bin/sh -c "printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' > '$dir/pg_hba.conf'; : > '$dir/pg_ident.conf'"
  as_root su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$dir' -l '$dir/server.log' -w -t 60 start" >/dev/null || {
    as_root tail -20 "$dir/server.log" >&2; return 1; }
  # The primary's URL with the replica's address (its pg_hba.conf trusts loopback).
  local auth=${primary#*://} rest
  rest=${auth#*@}; [ "$rest" = "$auth" ] && auth= || auth=${auth%%@*}@
  PG_REPLICA_URL="postgres://${auth}127.0.0.1:$port/${rest#*/}"
  wait_for "PostgreSQL replica" psql "$PG_REPLICA_URL" -qAtc 'select pg_is_in_recovery()' || return 1
  [ "$(psql "$PG_REPLICA_URL" -qAtc 'select pg_is_in_recovery()')" = t ] || { say "the replica is not in recovery"; return 1; }
}

pg_replica_stop() {
  local dir=$1 bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -f "$dir/postmaster.pid" ] || return 0
  as_root su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$dir' -m immediate -w stop" >/dev/null 2>&1 || true
}
