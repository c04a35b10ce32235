# Shared helpers for the deploy/*.sh scripts. Sourced, not run.
# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR="$ROOT/var"
LOG_DIR="$VAR/log"

# Ports and names of the loopback services (override for a second checkout on one machine).
PG_PORT=${HOTLINE_PG_PORT:-54329}
PG_DB=${HOTLINE_PG_DB:-hotline}
PG_USER=hotline
REDIS_PORT=${HOTLINE_REDIS_PORT:-63799}
REDIS_DB=${HOTLINE_REDIS_DB:-0}
ES_BASE_HTTP_PORT=${HOTLINE_ES_BASE_HTTP_PORT:-9249}
ES_HTTP_PORT=$((ES_BASE_HTTP_PORT + 1)) # the runner numbers nodes from 1
ES_TRANSPORT_PORT=${HOTLINE_ES_TRANSPORT_PORT:-9350}
ES_CLUSTER_NAME=hotline-test

mkdir -p "$LOG_DIR"

say() { printf '%s: %s\n' "${SERVICE:-deploy}" "$*"; }
warn() { printf '%s: %s\n' "${SERVICE:-deploy}" "$*" >&2; }
die() {
    printf '%s: ERROR: %s\n' "${SERVICE:-deploy}" "$*" >&2
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# ensure_commands "cmd:debian-package" ...
# Installs the Debian packages of missing commands when root (one apt-get update
# per call); otherwise names what to install and fails.
ensure_commands() {
    local pair cmd pkg missing=()
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        if [ "${cmd#/}" != "$cmd" ]; then
            # an absolute path pattern, e.g. /usr/lib/postgresql/*/bin/initdb
            # shellcheck disable=SC2086
            compgen -G "$cmd" >/dev/null && continue
        else
            command -v "$cmd" >/dev/null 2>&1 && continue
        fi
        case " ${missing[*]} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if is_root && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >"$LOG_DIR/apt.log" 2>&1 || {
            tail -20 "$LOG_DIR/apt.log" >&2
            die "apt-get update failed (see $LOG_DIR/apt.log)"
        }
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG_DIR/apt.log" 2>&1 || {
            tail -20 "$LOG_DIR/apt.log" >&2
            die "apt-get install ${missing[*]} failed (see $LOG_DIR/apt.log)"
        }
    else
        die "missing: ${missing[*]}. Install them first, e.g.: sudo apt-get install -y ${missing[*]}"
    fi
}

# The Debian packages each service needs, as ensure_commands pairs.
POSTGRES_NEEDS=("/usr/lib/postgresql/*/bin/initdb:postgresql" "pg_isready:postgresql-client" "psql:postgresql-client")
REDIS_NEEDS=("redis-server:redis-server" "redis-cli:redis-tools")
ES_NEEDS=("java:default-jre-headless" "mvn:maven" "curl:curl")

# A TCP port that nothing listens on answers "connection refused".
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Print the last lines of a log so a failure explains itself.
show_log_tail() {
    local file=$1 lines=${2:-25}
    if [ -s "$file" ]; then
        printf -- '----- last %s lines of %s -----\n' "$lines" "$file" >&2
        tail -n "$lines" "$file" >&2
        printf -- '-----\n' >&2
    fi
}

# Serialise start/stop of one service between concurrent callers (several test
# runs on one machine share the services).
lock_service() {
    exec 9>"$VAR/.$1.lock"
    flock -w 300 9 || die "another start/stop of $1 holds $VAR/.$1.lock"
}
