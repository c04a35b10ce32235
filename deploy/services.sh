#!/usr/bin/env bash
# PostgreSQL, Redis and Elasticsearch together, on loopback, data under var/.
#
#   deploy/services.sh start     start all three (each a no-op when already up);
#                                Elasticsearch starts in parallel with the others
#   deploy/services.sh stop      stop all three
#   deploy/services.sh status    exit 0 only when all three answer
#   deploy/services.sh env       print the settings that point the project at them:
#                                eval "$(deploy/services.sh env)"
set -euo pipefail
SERVICE=services
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lib.sh
. "$HERE/lib.sh"

start() {
    local t0=$SECONDS failed=() es_pid es_rc=0
    # One apt-get for everything missing, before the parallel starts (dpkg has one lock).
    ensure_commands "${POSTGRES_NEEDS[@]}" "${REDIS_NEEDS[@]}" "${ES_NEEDS[@]}"
    bash "$HERE/elasticsearch.sh" start &
    es_pid=$!
    bash "$HERE/postgres.sh" start || failed+=("postgres (read $VAR/postgres/postgresql.log)")
    bash "$HERE/redis.sh" start || failed+=("redis (read $LOG_DIR/redis.log)")
    wait "$es_pid" || es_rc=$?
    [ "$es_rc" -eq 0 ] || failed+=("elasticsearch (read $LOG_DIR/elasticsearch.log)")
    if [ ${#failed[@]} -gt 0 ]; then
        local f
        for f in "${failed[@]}"; do warn "FAILED to start: $f"; done
        exit 1
    fi
    say "all up in $((SECONDS - t0)) s"
}

stop() {
    local rc=0
    bash "$HERE/elasticsearch.sh" stop || rc=1
    bash "$HERE/redis.sh" stop || rc=1
    bash "$HERE/postgres.sh" stop || rc=1
    return "$rc"
}

status() {
    local rc=0
    bash "$HERE/postgres.sh" status || rc=3
    bash "$HERE/redis.sh" status || rc=3
    bash "$HERE/elasticsearch.sh" status || rc=3
    return "$rc"
}

env_lines() {
    echo "export DATABASE_URL=postgres://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB REDIS_URL=redis://127.0.0.1:$REDIS_PORT/$REDIS_DB ELASTICSEARCH_URL=http://127.0.0.1:$ES_HTTP_PORT"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) env_lines ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
