#!/usr/bin/env bash
# Run the whole orchestrator on this machine for development (`make run`):
#
#   bootstrap -> Redis -> migrate -> collectstatic -> admin user (first time) ->
#   scheduler + rqworker + web server, until Ctrl-C.
#
# Each process writes to .run/<name>.log; the logs are also shown here, prefixed with the name.
# Ctrl-C or SIGTERM stops them all. If one of them exits (or is killed), its log tail and the
# command that starts it again are shown and the others keep running: kill the scheduler and the
# web UI shows its "scheduler is not running" banner until `manage.py scheduler` runs again.
# The admin user's generated password is kept in .run/admin-password (mode 600) and shown at
# each start while it is there.
#
# Environment:
#   PORT=8080          web server port (listens on 0.0.0.0)
#   REDIS_PORT=6379    Redis port on 127.0.0.1: a Redis already answering there is used,
#                      otherwise one is started (no persistence) and stopped at the end
#   REDIS_URL=...      use this Redis instead and start none
#   DEBUG=true         Django DEBUG (default true here, false in settings.py)
#   WEB=runserver      or WEB=gunicorn
#   SCHEDULER=0        do not start the scheduler (start it by hand: .venv/bin/python manage.py scheduler)
#   WORKER=0           do not start the worker (.venv/bin/python manage.py rqworker default)
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
RUN_DIR="${RUN_DIR:-$ROOT/.run}" # RUN_DIR=...: another folder (tests)
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
commands=() # how to start each again by hand, for the message when it exits
gone=()     # 1 once the process has exited and been reported
REDIS_PID=""
FOLLOW_PID=""

start() {
    local name="$1" again="$2"
    shift 2
    : >"$RUN_DIR/$name.log"
    setsid "$@" </dev/null >>"$RUN_DIR/$name.log" 2>&1 &
    names+=("$name")
    pids+=("$!")
    commands+=("$again")
    gone+=(0)
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
    local i running_names=() running_pids=()
    for i in "${!pids[@]}"; do
        if [ "${gone[$i]}" = 0 ]; then
            running_names+=("${names[$i]}")
            running_pids+=("${pids[$i]}")
        fi
    done
    if [ "${#running_pids[@]}" -gt 0 ]; then
        say "stopping ${running_names[*]}..."
        stop_groups "${running_pids[@]}"
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

# A process that exited: its log tail and how to start it again; the others keep running (they
# do not depend on one another, only on Redis and the database).
exited() {
    local i="$1" rc=0
    wait "${pids[$i]}" 2>/dev/null || rc=$?
    gone[i]=1
    # Anything left of its process group (runserver's autoreloader child, a work horse).
    kill -KILL -- "-${pids[$i]}" 2>/dev/null || true
    say "${names[$i]} exited (status $rc). Last lines of .run/${names[$i]}.log:"
    tail -n 15 "$RUN_DIR/${names[$i]}.log" | sed 's/^/    /'
    say "The others keep running. To start ${names[$i]} again, in another terminal: ${commands[$i]}"
}

check_children() {
    local i alive=0
    for i in "${!pids[@]}"; do
        [ "${gone[$i]}" = 1 ] && continue
        if kill -0 "${pids[$i]}" 2>/dev/null; then
            alive=$((alive + 1))
        else
            exited "$i"
        fi
    done
    if [ "${#pids[@]}" -gt 0 ] && [ "$alive" = 0 ]; then
        say "every process has exited"
        exit 1
    fi
    if [ -n "$REDIS_PID" ] && ! kill -0 "$REDIS_PID" 2>/dev/null; then
        died redis "$REDIS_PID" # everything needs Redis: stop the rest
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
PASSWORD_FILE="$RUN_DIR/admin-password"
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
        (umask 077 && printf '%s\n' "$PW" >"$PASSWORD_FILE")
    else
        say "WARNING: could not create the admin user:"
        sed 's/^/    /' "$RUN_DIR/create-admin.log"
    fi
elif [ "$admin_rc" != 0 ]; then
    say "WARNING: could not check for an admin user (status $admin_rc)"
fi

# --- the processes -------------------------------------------------------------------------
# The hand-start commands name the Redis this run uses when it is not the default one.
ENV_HINT=""
[ "$REDIS_URL" != "redis://127.0.0.1:6379/0" ] && ENV_HINT="REDIS_URL=$REDIS_URL "
if [ "${SCHEDULER:-1}" != 0 ]; then
    start scheduler "${ENV_HINT}.venv/bin/python manage.py scheduler" "$PY" manage.py scheduler
fi
if [ "${WORKER:-1}" != 0 ]; then
    start worker "${ENV_HINT}.venv/bin/python manage.py rqworker default" "$PY" manage.py rqworker default
fi
case "${WEB:-runserver}" in
    runserver)
        start web "${ENV_HINT}DEBUG=$DEBUG .venv/bin/python manage.py runserver 0.0.0.0:$PORT" \
            "$PY" manage.py runserver "0.0.0.0:$PORT"
        ;;
    gunicorn)
        start web "${ENV_HINT}.venv/bin/gunicorn orchestrator_site.wsgi:application --bind 0.0.0.0:$PORT" \
            gunicorn orchestrator_site.wsgi:application --bind "0.0.0.0:$PORT" --workers 2 --access-logfile -
        ;;
    *)
        say "WEB must be runserver or gunicorn"
        exit 2
        ;;
esac

# Wait for the web server to accept connections (runserver runs its checks first).
for _ in $(seq 600); do
    port_in_use "$PORT" && break
    check_children
    sleep 0.1
done

# The summary comes last, after the start-up lines (they are in .run/*.log), so the login is
# the last thing on the screen before the processes' new log lines.
echo
say "------------------------------------------------------------------"
say "Orchestrator: http://localhost:$PORT/"
if [ "$admin_rc" = 3 ] && [ -s "$PASSWORD_FILE" ]; then
    say "Created the user 'admin' with the password: $(cat "$PASSWORD_FILE")"
elif [ -s "$PASSWORD_FILE" ]; then
    say "Log in as 'admin' with the password: $(cat "$PASSWORD_FILE")   (kept in .run/admin-password)"
else
    say "Log in with your user; to reset the admin's password: .venv/bin/python manage.py changepassword admin"
fi
[ -s "$PASSWORD_FILE" ] && say "(after changing it with manage.py changepassword admin, delete .run/admin-password)"
say "Redis: $REDIS_URL    DEBUG=$DEBUG"
say "Running: ${names[*]}   Logs: .run/<name>.log${REDIS_PID:+ (and .run/redis.log)}"
[ "${SCHEDULER:-1}" = 0 ] && say "No scheduler (SCHEDULER=0): start one with ${ENV_HINT}.venv/bin/python manage.py scheduler"
[ "${WORKER:-1}" = 0 ] && say "No worker (WORKER=0): start one with ${ENV_HINT}.venv/bin/python manage.py rqworker default"
say "A process that exits leaves the others running. Ctrl-C stops everything."
say "------------------------------------------------------------------"

if [ "${FOLLOW_LOGS:-1}" != 0 ]; then
    # New lines only: the start-up lines are in the files. One process group for all the tails,
    # so stop_all ends them with one kill.
    # shellcheck disable=SC2016 # expanded by the inner bash
    RUN_DIR="$RUN_DIR" setsid bash -c '
        for n in "$@"; do
            tail -n 0 -F "$RUN_DIR/$n.log" 2>/dev/null | sed -u "s/^/[$n] /" &
        done
        wait' _ "${names[@]}" &
    FOLLOW_PID=$!
fi

# Watch the children. `sleep & wait` rather than a plain sleep: a trapped signal interrupts
# `wait` at once, while a foreground sleep would delay the trap until it ends.
while :; do
    check_children
    sleep 1 &
    wait $! || true
done
