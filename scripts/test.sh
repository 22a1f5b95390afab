#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need (a virtualenv with the
# project and its test extras, Debian's prometheus for promtool and the Prometheus server, Chromium
# for the browser test), starts PostgreSQL and Redis if they are down, then lints, type-checks and runs pytest
# with branch coverage. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    log "creating .venv"
    "$python" -m venv .venv
fi
log "installing obssched with its test extras"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

need_debs=()
command -v promtool >/dev/null 2>&1 || need_debs+=(prometheus)
command -v chromium >/dev/null 2>&1 || need_debs+=(chromium)
if [ ${#need_debs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing Debian packages: ${need_debs[*]}"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${need_debs[@]}" >/dev/null
    else
        log "cannot install ${need_debs[*]} (not root); the tests that need them will skip"
    fi
fi
# Installing Debian's package starts its Prometheus service (on :9090, scraping the machine):
# that service is stopped. Any other Prometheus on the machine is not ours to stop; the tests
# start their own servers on free ports and stop them themselves.
if [ -d /run/systemd/system ]; then
    systemctl stop prometheus >/dev/null 2>&1 || true
elif [ -x /etc/init.d/prometheus ]; then
    service prometheus stop >/dev/null 2>&1 || true
fi

if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# Redis serves the contract suite of APScheduler 3's RedisJobStore; it keeps nothing on disk.
if command -v redis-server >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi

failed=()
log "ruff"
.venv/bin/ruff check . || failed+=("ruff check")
.venv/bin/ruff format --check . || failed+=("ruff format")
log "mypy"
.venv/bin/mypy || failed+=(mypy)
# Branch coverage of obssched, held at its floor ([tool.coverage.report] fail_under) when the
# whole suite runs; a run narrowed by arguments reports it without the floor.
coverage_args=(--cov=obssched --cov-branch --cov-report=term-missing:skip-covered)
if [ $# -gt 0 ]; then coverage_args+=(--cov-fail-under=0); fi
log "pytest"
status=0
.venv/bin/python -m pytest "${coverage_args[@]}" "$@" || status=$?
if [ "$status" = 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    failed+=("pytest (no tests)")
elif [ "$status" != 0 ]; then
    failed+=(pytest)
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "all checks passed" >&2
