#!/usr/bin/env bash
# A redis-server of the project's own on 127.0.0.1:63799, working directory var/redis.
#
#   deploy/redis.sh start    start daemonized (pidfile var/redis/redis.pid); a no-op when it answers
#   deploy/redis.sh stop     shutdown (nosave) and wait
#   deploy/redis.sh status   exit 0 when it answers PONG, 3 when not
#
# Redis carries the channel layer and the cache only: nothing durable lives in it
# (the outbox of side effects is in PostgreSQL), so persistence is off.
set -euo pipefail
SERVICE=redis
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REDIS_HOME="$VAR/redis"
REDIS_PID="$REDIS_HOME/redis.pid"
REDIS_LOG="$LOG_DIR/redis.log"
REDIS_CONF="$REDIS_HOME/redis.conf"

cli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

answers() { [ "$(cli ping 2>/dev/null)" = "PONG" ]; }

is_ours() {
    local dir
    dir=$(cli config get dir 2>/dev/null | sed -n 2p)
    [ "$(realpath -m "$dir")" = "$(realpath -m "$REDIS_HOME")" ]
}

write_config() {
    cat >"$REDIS_CONF" <<EOF
# Written by deploy/redis.sh at every start.
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
dir $REDIS_HOME
daemonize yes
pidfile $REDIS_PID
logfile $REDIS_LOG
loglevel notice
save ""
appendonly no
databases 16
EOF
}

start() {
    ensure_commands "${REDIS_NEEDS[@]}"
    lock_service redis
    if answers; then
        is_ours || die "port $REDIS_PORT is answered by a Redis that is not ours ($REDIS_HOME); stop it or set HOTLINE_REDIS_PORT"
        say "already running on 127.0.0.1:$REDIS_PORT"
        return 0
    fi
    port_in_use "$REDIS_PORT" && die "port $REDIS_PORT is taken by something that is not Redis; free it or set HOTLINE_REDIS_PORT"
    mkdir -p "$REDIS_HOME"
    write_config
    local t0=$SECONDS
    : >>"$REDIS_LOG"
    if ! redis-server "$REDIS_CONF" 9>&-; then
        show_log_tail "$REDIS_LOG"
        die "redis-server failed to start (read $REDIS_LOG)"
    fi
    for _ in $(seq 100); do
        answers && break
        sleep 0.1
    done
    answers || {
        show_log_tail "$REDIS_LOG"
        die "redis-server started but does not answer PING on 127.0.0.1:$REDIS_PORT (read $REDIS_LOG)"
    }
    say "started on 127.0.0.1:$REDIS_PORT in $((SECONDS - t0)) s ($(cli info server | sed -n 's/^redis_version:\(.*\)\r$/Redis \1/p'), log $REDIS_LOG)"
}

stop() {
    lock_service redis
    local running=0
    if answers; then
        running=1
        if ! is_ours; then
            warn "port $REDIS_PORT is answered by a Redis that is not ours; leaving it alone"
            return 0
        fi
        cli shutdown nosave >/dev/null 2>&1 || true
        for _ in $(seq 100); do
            answers || break
            sleep 0.1
        done
    fi
    # A server that no longer answers but still runs (hung): end it by its pidfile.
    if [ -f "$REDIS_PID" ]; then
        local pid
        pid=$(cat "$REDIS_PID")
        if kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
            running=1
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
        fi
        rm -f "$REDIS_PID"
    fi
    answers && die "still answering on 127.0.0.1:$REDIS_PORT after shutdown (read $REDIS_LOG)"
    if [ "$running" -eq 1 ]; then say "stopped"; else say "not running"; fi
}

status() {
    if answers && is_ours; then
        say "running on 127.0.0.1:$REDIS_PORT: $(cli info server | sed -n 's/^redis_version:\(.*\)\r$/Redis \1/p')"
        return 0
    elif answers; then
        say "port $REDIS_PORT is answered by a Redis that is not ours"
        return 3
    fi
    say "not running (port $REDIS_PORT)"
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
