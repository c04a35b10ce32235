#!/usr/bin/env bash
# The whole test suite on real services: `make test` and .ci/run call this.
#
#   deploy/run-tests.sh [pytest args...]
#
# 1. the virtualenv with requirements.txt and requirements-test.txt (stamped)
# 2. Debian's chromium for the browser tests, the front-end packages
# 3. PostgreSQL, Redis and Elasticsearch on loopback (deploy/services.sh start)
# 4. python -m pytest "$@" against them
# 5. on exit, always, stops the services that this run started (those already
#    running before it, e.g. for a developer's other work, are left running)
#
# A service that cannot start fails the run (with CI=true and without: tests are
# never skipped for a missing service). HOTLINE_PG_DB / HOTLINE_REDIS_DB /
# SEARCH_INDEX_PREFIX let concurrent runs on one machine keep apart.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf 'run-tests: %s\n' "$*"; }
die() {
    printf 'run-tests: ERROR: %s\n' "$*" >&2
    exit 1
}
T0=$SECONDS

# --- 1. Python ---------------------------------------------------------------
make --no-print-directory -s venv
TEST_STAMP=.venv/.requirements-test.sha256
want=$(cat requirements.txt requirements-test.txt constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$TEST_STAMP" 2>/dev/null)" != "$want" ]; then
    say "installing requirements-test.txt"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-test.txt -c constraints.txt
    echo "$want" >"$TEST_STAMP"
fi

# --- 2. Browser and front-end packages ----------------------------------------
# chromium drives the browser tests; a CJK font makes their screenshots readable;
# gettext builds the English translations; nginx fronts the production daphne in
# tests/trust/test_proxy.py (Debian's package is installed without starting its service).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || missing+=(fonts-wqy-microhei)
command -v msgfmt >/dev/null 2>&1 || missing+=(gettext)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian packages: ${missing[*]}"
        mkdir -p var/log
        # policy-rc.d 101: packages with a service (nginx) are installed, not started on port 80.
        policy=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy=/usr/sbin/policy-rc.d
        fi
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >var/log/apt-test-deps.log 2>&1 ||
            { [ -z "$policy" ] || rm -f "$policy"; tail -20 var/log/apt-test-deps.log >&2; die "apt-get install ${missing[*]} failed (read var/log/apt-test-deps.log)"; }
        [ -z "$policy" ] || rm -f "$policy"
    else
        die "missing for the tests: ${missing[*]}; install them: sudo apt-get install -y ${missing[*]}"
    fi
fi
make --no-print-directory -s assets translations
say "dependencies ready in $((SECONDS - T0)) s"

# --- 3. Services ---------------------------------------------------------------
SERVICES=(postgres redis elasticsearch)
declare -A WAS_UP=()
for svc in "${SERVICES[@]}"; do
    if bash deploy/"$svc".sh status >/dev/null 2>&1; then WAS_UP[$svc]=1; fi
done

stop_started() {
    local rc=$? svc
    trap - EXIT INT TERM
    if [ -n "${HOTLINE_KEEP_SERVICES:-}" ]; then
        say "HOTLINE_KEEP_SERVICES is set: leaving the services running"
    else
        for svc in elasticsearch redis postgres; do
            if [ -z "${WAS_UP[$svc]:-}" ]; then
                bash deploy/"$svc".sh stop || rc=1
            fi
        done
    fi
    say "finished in $((SECONDS - T0)) s (exit $rc)"
    exit "$rc"
}
trap stop_started EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T1=$SECONDS
if ! bash deploy/services.sh start; then
    die "a backing service failed to start (see the messages above); ${CI:+CI=true: }no test runs without PostgreSQL, Redis and Elasticsearch"
fi
say "services ready in $((SECONDS - T1)) s"
eval "$(bash deploy/services.sh env)"
export SEARCH_INDEX_PREFIX=${SEARCH_INDEX_PREFIX:-test}
say "DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL ELASTICSEARCH_URL=$ELASTICSEARCH_URL SEARCH_INDEX_PREFIX=$SEARCH_INDEX_PREFIX"

# --- 4. The suite --------------------------------------------------------------
rc=0
.venv/bin/python -m pytest "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    printf 'run-tests: ERROR: pytest collected no tests (exit 5): a run that tests nothing is a failure\n' >&2
    rc=1
fi
exit "$rc"
