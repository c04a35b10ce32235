#!/usr/bin/env bash
# A PostgreSQL cluster of the project's own under var/postgres, on 127.0.0.1:54329.
#
#   deploy/postgres.sh start    init (once) and start; a no-op when it already answers
#   deploy/postgres.sh stop     fast shutdown
#   deploy/postgres.sh status   exit 0 when it answers, 3 when not
#
# Server binaries from Debian's packages (/usr/lib/postgresql/*/bin, the newest).
# Role `hotline` (superuser: the tests create their own databases) and database
# `hotline`; trust authentication on 127.0.0.1 only. As root the server runs as
# the `postgres` OS user, which owns var/postgres and nothing else.
set -euo pipefail
SERVICE=postgres
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_HOME="$VAR/postgres"
# As root the server runs as `postgres`, which must reach var/. A checkout under a
# private directory (e.g. /root, mode 700) keeps the cluster in /var/tmp instead,
# and var/postgres is a symlink to it.
if [ -L "$PG_HOME" ]; then
    PG_HOME=$(readlink -f "$PG_HOME")
elif is_root && id postgres >/dev/null 2>&1 && [ ! -d "$PG_HOME" ] &&
    ! runuser -u postgres -- test -x "$VAR" 2>/dev/null; then
    PG_HOME="/var/tmp/hotline-postgres-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
    if [ "${1:-}" = start ]; then
        mkdir -p "$PG_HOME"
        ln -sfn "$PG_HOME" "$VAR/postgres"
        warn "the postgres OS user cannot reach $VAR; the cluster lives in $PG_HOME (var/postgres links to it)"
    fi
fi
PGDATA="$PG_HOME/data"
PG_LOG="$PG_HOME/postgresql.log"
PG_SOCKET_DIR="$PG_HOME/run"
SUPERUSER=postgres

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    printf '%s\n' "$dir"
}

# Run a command as the OS user that owns the cluster.
as_owner() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

psql_admin() {
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$SUPERUSER" -d postgres "$@"
}

# 0: accepting connections, 1: rejecting (starting up / shutting down), 2: no answer
answer() {
    local rc=0
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 3 || rc=$?
    return "$rc"
}

# Is the server answering on the port this project's cluster?
is_ours() {
    local dir
    dir=$(psql_admin -At -c 'SHOW data_directory' 2>/dev/null) || return 1
    [ "$(realpath -m "$dir")" = "$(realpath -m "$PGDATA")" ]
}

prepare_dirs() {
    mkdir -p "$PG_HOME"
    if is_root; then
        id postgres >/dev/null 2>&1 || die "no 'postgres' OS user (it comes with Debian's postgresql package)"
        chown postgres:postgres "$PG_HOME"
        runuser -u postgres -- test -w "$PG_HOME" ||
            die "the postgres OS user cannot write $PG_HOME (is a parent directory closed to it?)"
    fi
    as_owner mkdir -p "$PG_SOCKET_DIR"
    as_owner chmod 700 "$PG_SOCKET_DIR"
}

init_cluster() {
    [ -f "$PGDATA/PG_VERSION" ] && return 0
    say "initdb $PGDATA ($(basename "$(dirname "$(pg_bin)")"))"
    as_owner "$(pg_bin)/initdb" -D "$PGDATA" -U "$SUPERUSER" -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=trust >"$PG_HOME/initdb.log" 2>&1 || {
        show_log_tail "$PG_HOME/initdb.log"
        die "initdb failed (see $PG_HOME/initdb.log)"
    }
    echo "include_if_exists = 'hotline.conf'" | as_owner tee -a "$PGDATA/postgresql.conf" >/dev/null
}

write_config() {
    local socket_dirs="$PG_SOCKET_DIR"
    # A unix socket path is limited to 107 bytes; a deep checkout goes TCP-only.
    if [ ${#PG_SOCKET_DIR} -gt 90 ]; then
        socket_dirs=""
    fi
    as_owner tee "$PGDATA/hotline.conf" >/dev/null <<EOF
# Written by deploy/postgres.sh at every start: a disposable cluster for tests and
# development. Durability is traded for speed; production uses a real cluster.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$socket_dirs'
unix_socket_permissions = 0700
max_connections = 200
shared_buffers = 128MB
# Solid-state storage: a random read costs about a sequential one. With the default (4)
# the planner walks a whole partial index rather than look up a few thousand rows by id.
random_page_cost = 1.1
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
    as_owner tee "$PGDATA/pg_hba.conf" >/dev/null <<'EOF'
# Written by deploy/postgres.sh: trust, and only from this machine's loopback.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   trust
EOF
}

ensure_role_and_database() {
    psql_admin <<EOF
SELECT format('CREATE ROLE %I LOGIN SUPERUSER', '$PG_USER')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$PG_DB', '$PG_USER')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')\gexec
EOF
}

wait_until_accepting() {
    local seconds=$1 rc
    for _ in $(seq "$seconds"); do
        rc=0
        answer || rc=$?
        [ "$rc" -eq 0 ] && return 0
        sleep 1
    done
    return 1
}

start() {
    ensure_commands "${POSTGRES_NEEDS[@]}"
    lock_service postgres
    local rc=0
    answer || rc=$?
    if [ "$rc" -eq 1 ]; then
        say "a server on port $PG_PORT is starting up; waiting"
        wait_until_accepting 60 || die "the server on port $PG_PORT never accepted connections (see $PG_LOG)"
        rc=0
    fi
    if [ "$rc" -eq 0 ]; then
        is_ours || die "port $PG_PORT is answered by a PostgreSQL that is not $PGDATA; stop it or set HOTLINE_PG_PORT"
        ensure_role_and_database
        say "already running on 127.0.0.1:$PG_PORT"
        return 0
    fi
    port_in_use "$PG_PORT" && die "port $PG_PORT is taken by something that is not PostgreSQL; free it or set HOTLINE_PG_PORT"

    prepare_dirs
    init_cluster
    write_config
    local t0=$SECONDS
    if ! as_owner "$(pg_bin)/pg_ctl" -D "$PGDATA" -l "$PG_LOG" -w -t 60 -s start 9>&-; then
        show_log_tail "$PG_LOG"
        die "failed to start (read $PG_LOG)"
    fi
    wait_until_accepting 30 || {
        show_log_tail "$PG_LOG"
        die "started but does not accept connections on 127.0.0.1:$PG_PORT (read $PG_LOG)"
    }
    ensure_role_and_database || die "could not create role/database $PG_USER/$PG_DB (read $PG_LOG)"
    say "started on 127.0.0.1:$PG_PORT in $((SECONDS - t0)) s (data $PGDATA, log $PG_LOG)"
}

stop() {
    lock_service postgres
    local rc=0
    answer || rc=$?
    if [ "$rc" -eq 2 ] && [ ! -f "$PGDATA/postmaster.pid" ]; then
        say "not running"
        return 0
    fi
    if [ "$rc" -eq 0 ] && ! is_ours; then
        warn "port $PG_PORT is answered by a server that is not ours; leaving it alone"
        return 0
    fi
    if [ -f "$PGDATA/postmaster.pid" ]; then
        as_owner "$(pg_bin)/pg_ctl" -D "$PGDATA" -m fast -w -t 60 -s stop || {
            # a stale pidfile of a dead server is not an error
            answer && die "failed to stop (read $PG_LOG)"
        }
    fi
    say "stopped"
}

status() {
    local rc=0
    answer || rc=$?
    if [ "$rc" -eq 0 ] && is_ours; then
        say "running on 127.0.0.1:$PG_PORT: $(psql_admin -At -c 'SHOW server_version' 2>/dev/null) (data $PGDATA)"
        return 0
    elif [ "$rc" -eq 0 ]; then
        say "port $PG_PORT is answered by a server that is not ours"
        return 3
    fi
    say "not running (port $PG_PORT)"
    return 3
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
