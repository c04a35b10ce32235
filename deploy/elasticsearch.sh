#!/usr/bin/env bash
# One genuine Elasticsearch 7.10.2 node on 127.0.0.1:9250, data under var/elasticsearch.
#
#   deploy/elasticsearch.sh start    fetch the jars once (Maven Central), start in the
#                                    background, wait (<= 180 s) for yellow/green;
#                                    a no-op when our node already answers
#   deploy/elasticsearch.sh stop     end the node (TERM, then KILL after 60 s) and wait
#   deploy/elasticsearch.sh status   exit 0 when the node is yellow/green, 3 when not
#
# The node runs inside a JVM through org.codelibs:elasticsearch-cluster-runner
# (deploy/elasticsearch/pom.xml): no Docker, no download from Elastic. It binds
# to 127.0.0.1 only, HTTP 9250, transport 9350, single-node discovery.
set -euo pipefail
SERVICE=elasticsearch
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ES_HOME="$VAR/elasticsearch"
ES_LIB="$VAR/es-lib"
ES_PID="$VAR/elasticsearch.pid"
ES_LOG="$LOG_DIR/elasticsearch.log"
MVN_LOG="$LOG_DIR/maven.log"
POM="$ROOT/deploy/elasticsearch/pom.xml"
URL="http://127.0.0.1:$ES_HTTP_PORT"
WAIT_SECONDS=${HOTLINE_ES_WAIT_SECONDS:-180}
ES_HEAP_MIN=${HOTLINE_ES_HEAP_MIN:-512m}
ES_HEAP_MAX=${HOTLINE_ES_HEAP_MAX:-1g}
MAIN_CLASS=org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner

http_get() { curl -fsS -m "${2:-3}" "$URL$1" 2>/dev/null; }

json_field() { sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p" | head -n 1; }

health_status() { http_get /_cluster/health | json_field status; }

is_ours() { [ "$(http_get / | json_field cluster_name)" = "$ES_CLUSTER_NAME" ]; }

healthy() {
    case "$(health_status)" in green | yellow) return 0 ;; *) return 1 ;; esac
}

# The pid of our node, from the pidfile, checked against what that pid really runs.
node_pid() {
    local pid
    [ -f "$ES_PID" ] || return 1
    pid=$(cat "$ES_PID")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$MAIN_CLASS.*-basePath $ES_HOME " || return 1
    printf '%s\n' "$pid"
}

fetch_artifacts() {
    local want have=""
    want=$(sha256sum "$POM" | cut -d' ' -f1)
    [ -f "$ES_LIB/.pom.sha256" ] && have=$(cat "$ES_LIB/.pom.sha256")
    if [ "$want" = "$have" ] && compgen -G "$ES_LIB/elasticsearch-cluster-runner-*.jar" >/dev/null; then
        return 0
    fi
    say "fetching the node's jars from Maven Central into $ES_LIB (log $MVN_LOG)"
    local t0=$SECONDS tmp="$ES_LIB.tmp.$$"
    rm -rf "$tmp"
    if ! mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" >"$MVN_LOG" 2>&1; then
        rm -rf "$tmp"
        show_log_tail "$MVN_LOG"
        die "mvn could not fetch org.codelibs:elasticsearch-cluster-runner (read $MVN_LOG)"
    fi
    echo "$want" >"$tmp/.pom.sha256"
    rm -rf "$ES_LIB"
    mv "$tmp" "$ES_LIB"
    say "fetched $(find "$ES_LIB" -name '*.jar' | wc -l) jars in $((SECONDS - t0)) s"
}

write_config() {
    mkdir -p "$ES_HOME/node_1/config"
    # The runner keeps an existing elasticsearch.yml; the values it sets itself
    # (cluster.name, node.name, http.port, paths) come from the command line.
    cat >"$ES_HOME/node_1/config/elasticsearch.yml" <<EOF
# Written by deploy/elasticsearch.sh at every start.
network.host: 127.0.0.1
transport.port: $ES_TRANSPORT_PORT
discovery.type: single-node
# A test node must not go read-only because the disk of a CI machine is nearly full.
cluster.routing.allocation.disk.threshold_enabled: false
action.auto_create_index: true
EOF
}

wait_healthy() {
    local pid=$1 deadline=$((SECONDS + WAIT_SECONDS))
    while [ $SECONDS -lt $deadline ]; do
        healthy && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log_tail "$ES_LOG" 40
            die "the node exited while starting (read $ES_LOG)"
        fi
        sleep 1
    done
    show_log_tail "$ES_LOG" 40
    die "no yellow/green health on $URL after $WAIT_SECONDS s (read $ES_LOG); the node is left running for inspection, stop it with deploy/elasticsearch.sh stop"
}

start() {
    ensure_commands "${ES_NEEDS[@]}"
    lock_service elasticsearch
    local pid t0=$SECONDS
    if http_get / >/dev/null; then
        is_ours || die "port $ES_HTTP_PORT is answered by something that is not our node (no cluster named $ES_CLUSTER_NAME); stop it or set HOTLINE_ES_BASE_HTTP_PORT"
        if pid=$(node_pid); then
            wait_healthy "$pid"
        else
            healthy || die "our node answers on $URL but is $(health_status) (read $ES_LOG)"
        fi
        say "already running on $URL"
        return 0
    fi
    if pid=$(node_pid); then
        say "the node (pid $pid) is starting; waiting for it"
        wait_healthy "$pid"
        say "running on $URL"
        return 0
    fi
    port_in_use "$ES_HTTP_PORT" && die "port $ES_HTTP_PORT is taken by something that is not Elasticsearch; free it or set HOTLINE_ES_BASE_HTTP_PORT"
    port_in_use "$ES_TRANSPORT_PORT" && die "transport port $ES_TRANSPORT_PORT is taken; free it or set HOTLINE_ES_TRANSPORT_PORT"

    fetch_artifacts
    write_config
    t0=$SECONDS
    printf '\n===== %s deploy/elasticsearch.sh start =====\n' "$(date -Is)" >>"$ES_LOG"
    # setsid: the node leaves the caller's process group, so a Ctrl-C in the
    # terminal that started it does not reach it; only "stop" ends it.
    # log4j2.formatMsgNoLookups: ES 7.10.2 ships log4j 2.11 (CVE-2021-44228).
    setsid nohup java "-Xms$ES_HEAP_MIN" "-Xmx$ES_HEAP_MAX" \
        -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Dlog4j2.formatMsgNoLookups=true \
        -XX:+UseG1GC -XX:+HeapDumpOnOutOfMemoryError "-XX:HeapDumpPath=$ES_HOME" \
        -cp "$ES_LIB/*" "$MAIN_CLASS" \
        -basePath "$ES_HOME" -numOfNode 1 -baseHttpPort "$ES_BASE_HTTP_PORT" \
        -clusterName "$ES_CLUSTER_NAME" \
        </dev/null >>"$ES_LOG" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$ES_PID"
    wait_healthy "$pid"
    is_ours || die "a node answers on $URL but it is not ours (read $ES_LOG)"
    say "started on $URL in $((SECONDS - t0)) s ($(http_get / | json_field number), pid $pid, log $ES_LOG)"
}

stop() {
    lock_service elasticsearch
    local pid
    if ! pid=$(node_pid); then
        rm -f "$ES_PID"
        if http_get / >/dev/null && is_ours; then
            die "our node answers on $URL but $ES_PID does not name it; end it by hand"
        fi
        say "not running"
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 600); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "pid $pid still running after 60 s; killing it"
        kill -9 "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    kill -0 "$pid" 2>/dev/null && die "could not end pid $pid"
    rm -f "$ES_PID"
    say "stopped"
}

status() {
    local s
    if http_get / >/dev/null && is_ours; then
        s=$(health_status)
        say "running on $URL: Elasticsearch $(http_get / | json_field number), cluster $ES_CLUSTER_NAME is $s"
        case "$s" in green | yellow) return 0 ;; *) return 3 ;; esac
    elif http_get / >/dev/null; then
        say "port $ES_HTTP_PORT is answered by an Elasticsearch that is not ours"
        return 3
    elif node_pid >/dev/null; then
        say "starting (pid $(node_pid)), not answering yet on $URL"
        return 3
    fi
    say "not running ($URL)"
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
