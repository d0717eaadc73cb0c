#!/usr/bin/env bash
# The whole check, as CI runs it (`.ci/run` -> `make test` -> this script):
#
#   1. bootstrap with the test packages (chromium, postgresql, redis-server, graphviz)
#   2. lint: ruff check, ruff format --check, lint-imports
#   3. collectstatic into a temp dir (catches a missing vendored file before the browser does)
#   4. pytest on SQLite (all tests)
#   5. pytest on a throw-away PostgreSQL 15 (same tests but tests/browser and the modules marked
#      no_database), stopped at exit
#   6. the soak: web + scheduler + 4 workers on SQLite for SOAK_SECONDS (bench/bench_soak.py),
#      run beside step 5 (SOAK_ALONE=1: after it)
#
# Every step runs even if an earlier one failed, so one run shows every problem; the exit status
# is non-zero if any step failed. Arguments go to both pytest runs: scripts/test.sh -k foo -x
#
# Environment knobs:
#   PYTEST_WORKERS=N   pytest-xdist workers (default 2; 0 = no xdist, e.g. for --pdb)
#   SKIP_LINT=1        skip step 2 (and 3)
#   TEST_POSTGRES=0    skip step 5
#   TEST_SQLITE=0      skip step 4
#   TEST_SOAK=0|1      skip / run step 6 (default: run it when no pytest arguments are given)
#   SOAK_SECONDS=N     length of the soak (default 300)
#   SOAK_ALONE=1       run the soak after the PostgreSQL phase, not beside it
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/bootstrap.sh --test

export PATH="$ROOT/.venv/bin:$PATH"
PY="$ROOT/.venv/bin/python"

# Per-run scratch space: two test runs in one checkout (or a `make run` beside them) must not
# share a test database file, static root or log folder.
TMP="$(mktemp -d -t orchestrator-test.XXXXXX)"
PG_DIR=""
PG_BIN=""

cleanup() {
    if [ -n "${soak_pid:-}" ]; then kill "$soak_pid" 2>/dev/null || true; fi
    stop_postgres
    rm -rf "$TMP"
}
trap cleanup EXIT
# Turn signals into a normal exit so the EXIT trap stops PostgreSQL.
trap 'exit 130' INT
trap 'exit 143' TERM

failures=()
t_start=$SECONDS

# step NAME CMD...: run CMD, remember a failure instead of stopping (set -e is off inside `if`).
step() {
    local name="$1" rc=0 t0=$SECONDS
    shift
    printf '\n==> %s\n' "$name"
    "$@" || rc=$?
    if [ "$rc" != 0 ]; then
        failures+=("$name (exit $rc)")
        printf '==> FAILED: %s (exit %s, %ss)\n' "$name" "$rc" "$((SECONDS - t0))"
    else
        printf '==> ok: %s (%ss)\n' "$name" "$((SECONDS - t0))"
    fi
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- PostgreSQL ----------------------------------------------------------------------------
# PostgreSQL refuses to run as root: as root, its tools run as the `postgres` user (created by
# the Debian package) with runuser, in a directory that user owns. fsync=off and friends: the
# data is thrown away at exit, so durability only costs time.
find_pg_bin() {
    local d
    # shellcheck disable=SC2012 # plain directory names
    for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        # cd: the postgres user may not be allowed into the checkout (getcwd errors).
        (cd "$PG_DIR" && runuser -u postgres -- "$@")
    else
        (cd "$PG_DIR" && "$@")
    fi
}

start_postgres() {
    PG_BIN="$(find_pg_bin)" || {
        echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2
        return 1
    }
    # Not under $TMP: mktemp -d makes it 0700 root, which the postgres user cannot enter.
    PG_DIR="$(mktemp -d -t orchestrator-pg.XXXXXX)"
    mkdir -p "$PG_DIR/sock"
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres:postgres "$PG_DIR"
    fi
    as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
        >"$PG_DIR/initdb.log" 2>&1 || {
        cat "$PG_DIR/initdb.log" >&2
        return 1
    }
    local attempt port
    for attempt in 1 2 3; do # the free port may be taken before PostgreSQL binds it: retry
        port="$(free_port)"
        if as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 30 \
            -o "-p $port -k $PG_DIR/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null; then
            # The database named in DATABASE_URL; pytest-django creates test_orchestrator[_gwN]
            # beside it.
            as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres orchestrator || return 1
            export DATABASE_URL="postgres://postgres@127.0.0.1:$port/orchestrator"
            echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($PG_DIR)"
            return 0
        fi
        echo "pg_ctl start failed (attempt $attempt):" >&2
        tail -n 20 "$PG_DIR/postgres.log" >&2 || true
    done
    return 1
}

stop_postgres() {
    if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
        if [ -f "$PG_DIR/data/postmaster.pid" ]; then
            # immediate: no checkpoint, the data is about to be deleted anyway.
            as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
        fi
        rm -rf "$PG_DIR"
        PG_DIR=""
    fi
}

# --- pytest --------------------------------------------------------------------------------
# xdist: pytest-django gives each worker its own test database by appending _gwN to the test
# database name, which for SQLite is the file TEST_DATABASE_PATH (settings.py): *.sqlite3_gw0.
# --durations: the slowest tests of each phase, to keep the suite well under 15 minutes.
pytest_opts=(-q --durations=15)
workers="${PYTEST_WORKERS:-2}"
user_sets_workers=0
for arg in "$@"; do
    case "$arg" in -n | -n[0-9]* | -nauto | --numprocesses* | no:xdist | -pno:xdist | --pdb | --trace) user_sets_workers=1 ;; esac
done
if [ "$workers" != 0 ] && [ "$user_sets_workers" = 0 ] && "$PY" -c 'import xdist' 2>/dev/null; then
    pytest_opts+=(-n "$workers")
fi

# Tests start their own Redis (tests/conftest_services.py). Point the default somewhere nothing
# listens, so a test that forgets the fixture fails here as it would in CI instead of writing
# into the Redis of a `make run` on this machine.
export REDIS_URL="redis://127.0.0.1:9/0"
export LOGS_FOLDER="$TMP/logs"
export STATIC_ROOT="$TMP/static"
export TEST_DATABASE_PATH="$TMP/test-db.sqlite3"

# pytest's exit code 5 means "no tests collected": fine for the PostgreSQL run when the
# arguments select only browser tests.
pytest_allow_empty() {
    local rc=0
    "$@" || rc=$?
    [ "$rc" = 5 ] && { echo "(no tests selected)"; return 0; }
    return "$rc"
}

# `python -m pytest` puts the checkout on sys.path, so `tests.conftest_services` imports.
run_sqlite() { env -u DATABASE_URL "$PY" -m pytest "${pytest_opts[@]}" "$@"; }

run_postgres() {
    start_postgres || return 1
    local ignore=()
    if [ -d tests/browser ]; then
        ignore=(--ignore=tests/browser) # browser tests do not depend on the database engine
    fi
    local rc=0
    # Modules marked no_database ran in the SQLite phase (tests/conftest.py).
    ONLY_DATABASE_TESTS=1 pytest_allow_empty "$PY" -m pytest "${pytest_opts[@]}" "${ignore[@]}" "$@" || rc=$?
    stop_postgres
    unset DATABASE_URL
    return "$rc"
}

if [ "${SKIP_LINT:-0}" != 1 ]; then
    step "ruff check" ruff check .
    step "ruff format --check" ruff format --check .
    step "lint-imports" lint-imports
    step "collectstatic" env -u DATABASE_URL "$PY" manage.py collectstatic --noinput -v0
fi
SOAK="${TEST_SOAK:-$([ "$#" = 0 ] && echo 1 || echo 0)}"
SOAK_NAME="soak (SQLite, ${SOAK_SECONDS:-300} s)"
run_soak() { "$PY" bench/bench_soak.py --seconds "${SOAK_SECONDS:-300}"; }
soak_pid=""
# The soak runs beside the PostgreSQL phase (it has its own Redis, SQLite file and ports): it
# is mostly waiting, the suite's budget is 15 minutes, and a soak under a busy machine is the
# harder soak. SOAK_ALONE=1 runs it on its own after the tests instead.
start_soak_beside() {
    printf '\n==> %s (started beside the PostgreSQL phase)\n' "$SOAK_NAME"
    soak_t0=$SECONDS
    run_soak >"$TMP/soak.log" 2>&1 &
    soak_pid=$!
}
finish_soak_beside() {
    local rc=0
    wait "$soak_pid" || rc=$?
    printf '\n==> %s\n' "$SOAK_NAME"
    cat "$TMP/soak.log"
    if [ "$rc" != 0 ]; then
        failures+=("$SOAK_NAME (exit $rc)")
        printf '==> FAILED: %s (exit %s, %ss)\n' "$SOAK_NAME" "$rc" "$((SECONDS - soak_t0))"
    else
        printf '==> ok: %s (%ss)\n' "$SOAK_NAME" "$((SECONDS - soak_t0))"
    fi
}

if [ "${TEST_SQLITE:-1}" != 0 ]; then
    step "pytest (SQLite)" run_sqlite "$@"
fi
if [ "${TEST_POSTGRES:-1}" != 0 ]; then
    [ "$SOAK" = 1 ] && [ "${SOAK_ALONE:-0}" != 1 ] && start_soak_beside
    step "pytest (PostgreSQL)" run_postgres "$@"
fi
if [ -n "$soak_pid" ]; then
    finish_soak_beside
elif [ "$SOAK" = 1 ]; then
    step "$SOAK_NAME" run_soak
fi

printf '\n'
if [ "${#failures[@]}" -gt 0 ]; then
    printf 'FAILED after %ss:\n' "$((SECONDS - t_start))"
    printf '  - %s\n' "${failures[@]}"
    exit 1
fi
printf 'All checks passed in %ss.\n' "$((SECONDS - t_start))"
