#!/usr/bin/env bash
# Run the whole orchestrator on this machine for development (`make run`):
#
#   bootstrap -> Redis -> migrate -> collectstatic -> admin user (first time) ->
#   scheduler + rqworker + web server, until Ctrl-C.
#
# Each process writes to .run/<name>.log; the logs are also shown here, prefixed with the name.
# Ctrl-C or SIGTERM stops them all; if one of them dies, its log tail is shown and the rest stop.
#
# Environment:
#   PORT=8080          web server port (listens on 0.0.0.0)
#   REDIS_PORT=6379    Redis port on 127.0.0.1: a Redis already answering there is used,
#                      otherwise one is started (no persistence) and stopped at the end
#   REDIS_URL=...      use this Redis instead and start none
#   DEBUG=true         Django DEBUG (default true here, false in settings.py)
#   WEB=runserver      or WEB=gunicorn
#   FOLLOW_LOGS=1      0 = do not show the logs here, only in .run/
#   STOP_TIMEOUT=10    seconds to let processes stop after SIGTERM before SIGKILL (a worker
#                      finishes its current task on SIGTERM)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/bootstrap.sh

export PATH="$ROOT/.venv/bin:$PATH"
PY="$ROOT/.venv/bin/python"
export DEBUG="${DEBUG:-true}"
export PYTHONUNBUFFERED=1 # logs reach .run/*.log as they happen
PORT="${PORT:-8080}"
REDIS_PORT="${REDIS_PORT:-6379}"
STOP_TIMEOUT="${STOP_TIMEOUT:-10}"
RUN_DIR="$ROOT/.run"
mkdir -p "$RUN_DIR"

say() { printf '[run] %s\n' "$*"; }

# --- process management --------------------------------------------------------------------
# Each child runs in its own session (setsid), so that
#  - a Ctrl-C in the terminal reaches only this script, which stops the children in order
#    (the worker first finishes its task) instead of all of them dying at once, and
#  - `kill -- -PID` reaches the child's own children too (runserver's autoreloader, RQ's work
#    horse) and nothing else.
# setsid does not fork here (a background job of a non-interactive shell is no group leader),
# so $! is the child's pid and its process group id.
names=()
pids=()
REDIS_PID=""
FOLLOW_PID=""

start() {
    local name="$1"
    shift
    : >"$RUN_DIR/$name.log"
    setsid "$@" </dev/null >>"$RUN_DIR/$name.log" 2>&1 &
    names+=("$name")
    pids+=("$!")
}

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# stop_groups PGID...: SIGTERM, up to STOP_TIMEOUT s of grace, then SIGKILL.
stop_groups() {
    local pgid deadline=$((SECONDS + STOP_TIMEOUT)) alive
    for pgid in "$@"; do kill -TERM -- "-$pgid" 2>/dev/null || true; done
    while :; do
        alive=()
        for pgid in "$@"; do group_alive "$pgid" && alive+=("$pgid"); done
        [ "${#alive[@]}" = 0 ] && break
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "still running after ${STOP_TIMEOUT}s, killing: process groups ${alive[*]}"
            for pgid in "${alive[@]}"; do kill -KILL -- "-$pgid" 2>/dev/null || true; done
            break
        fi
        sleep 0.2
    done
    for pgid in "$@"; do wait "$pgid" 2>/dev/null || true; done
}

STOPPING=0
stop_all() {
    [ "$STOPPING" = 1 ] && return 0
    STOPPING=1
    trap '' INT TERM HUP # a second Ctrl-C must not cut the shutdown short
    if [ "${#pids[@]}" -gt 0 ]; then
        say "stopping ${names[*]}..."
        stop_groups "${pids[@]}"
    fi
    # Redis last: the worker and scheduler talk to it while they shut down.
    if [ -n "$REDIS_PID" ]; then
        say "stopping redis-server..."
        stop_groups "$REDIS_PID"
    fi
    if [ -n "$FOLLOW_PID" ]; then
        kill -TERM -- "-$FOLLOW_PID" 2>/dev/null || true
        wait "$FOLLOW_PID" 2>/dev/null || true
    fi
    say "stopped. Logs are in .run/"
}

trap stop_all EXIT
trap 'echo; say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM
trap 'exit 129' HUP

# Give up with the log tail of process NAME/PID.
died() {
    local name="$1" pid="$2" rc=0
    wait "$pid" 2>/dev/null || rc=$?
    say "$name exited (status $rc). Last lines of .run/$name.log:"
    tail -n 30 "$RUN_DIR/$name.log" | sed 's/^/    /'
    exit 1
}

check_children() {
    local i
    for i in "${!pids[@]}"; do
        kill -0 "${pids[$i]}" 2>/dev/null || died "${names[$i]}" "${pids[$i]}"
    done
    if [ -n "$REDIS_PID" ] && ! kill -0 "$REDIS_PID" 2>/dev/null; then
        died redis "$REDIS_PID"
    fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- Redis ---------------------------------------------------------------------------------
if port_in_use "$PORT"; then
    say "port $PORT is already in use: stop what listens there or run with PORT=<other port>"
    exit 1
fi

if [ -n "${REDIS_URL:-}" ]; then
    if [ "$(redis-cli -u "$REDIS_URL" ping 2>/dev/null)" != PONG ]; then
        say "REDIS_URL=$REDIS_URL does not answer PING"
        exit 1
    fi
    say "using Redis at $REDIS_URL"
elif [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
    export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    say "using the Redis already running on port $REDIS_PORT"
else
    # A development cache: no RDB/AOF files. Queued jobs do not survive a restart; the
    # scheduler finds such task instances again.
    : >"$RUN_DIR/redis.log"
    setsid redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$RUN_DIR" \
        </dev/null >>"$RUN_DIR/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 100); do
        [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
        kill -0 "$REDIS_PID" 2>/dev/null || died redis "$REDIS_PID"
        sleep 0.1
    done
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] || {
        say "redis-server did not answer on port $REDIS_PORT within 10 s (see .run/redis.log)"
        exit 1
    }
    export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    say "started redis-server on 127.0.0.1:$REDIS_PORT (log: .run/redis.log)"
fi

# --- database, static files, first user ----------------------------------------------------
say "migrate"
"$PY" manage.py migrate --noinput
say "collectstatic"
"$PY" manage.py collectstatic --noinput -v0

# Exit status 0: an `admin` user exists; 3: none; anything else: an error (shown).
ADMIN_PASSWORD=""
admin_rc=0
"$PY" - <<'PY' || admin_rc=$?
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
import django

django.setup()
from django.contrib.auth import get_user_model

sys.exit(0 if get_user_model().objects.filter(username="admin").exists() else 3)
PY
if [ "$admin_rc" = 3 ]; then
    PW="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(12))')"
    # A failure here (e.g. the command changed) should not keep the rest from running.
    if "$PY" manage.py users create --role Admin --username admin --email admin@example.com \
        --firstname Admin --lastname User --password "$PW" >"$RUN_DIR/create-admin.log" 2>&1; then
        ADMIN_PASSWORD="$PW"
    else
        say "WARNING: could not create the admin user:"
        sed 's/^/    /' "$RUN_DIR/create-admin.log"
    fi
elif [ "$admin_rc" != 0 ]; then
    say "WARNING: could not check for an admin user (status $admin_rc)"
fi

# --- the processes -------------------------------------------------------------------------
start scheduler "$PY" manage.py scheduler
start worker "$PY" manage.py rqworker default
case "${WEB:-runserver}" in
    runserver) start web "$PY" manage.py runserver "0.0.0.0:$PORT" ;;
    gunicorn) start web gunicorn orchestrator_site.wsgi:application --bind "0.0.0.0:$PORT" --workers 2 --access-logfile - ;;
    *)
        say "WEB must be runserver or gunicorn"
        exit 2
        ;;
esac

if [ "${FOLLOW_LOGS:-1}" != 0 ]; then
    # One process group for all the tails, so stop_all ends them with one kill.
    # shellcheck disable=SC2016 # expanded by the inner bash
    RUN_DIR="$RUN_DIR" setsid bash -c '
        for n in "$@"; do
            tail -n +1 -F "$RUN_DIR/$n.log" 2>/dev/null | sed -u "s/^/[$n] /" &
        done
        wait' _ "${names[@]}" &
    FOLLOW_PID=$!
fi

# Wait for the web server to accept connections (runserver runs its checks first).
for _ in $(seq 600); do
    port_in_use "$PORT" && break
    check_children
    sleep 0.1
done

echo
say "------------------------------------------------------------------"
say "Orchestrator: http://localhost:$PORT/"
if [ -n "$ADMIN_PASSWORD" ]; then
    say "Created user 'admin' with password: $ADMIN_PASSWORD"
    say "(shown only this once; change it with: .venv/bin/python manage.py changepassword admin)"
fi
say "Redis: $REDIS_URL    DEBUG=$DEBUG"
say "Logs: .run/scheduler.log .run/worker.log .run/web.log${REDIS_PID:+ .run/redis.log}"
say "Ctrl-C stops everything."
say "------------------------------------------------------------------"

# Watch the children. `sleep & wait` rather than a plain sleep: a trapped signal interrupts
# `wait` at once, while a foreground sleep would delay the trap until it ends.
while :; do
    check_children
    sleep 1 &
    wait $! || true
done
