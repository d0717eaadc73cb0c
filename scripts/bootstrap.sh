#!/usr/bin/env bash
# Idempotent set-up of a development/CI machine (Debian 12, run as root).
#
#   scripts/bootstrap.sh          OS packages to run the app (redis-server, graphviz), .venv, pip install
#   scripts/bootstrap.sh --test   also the OS packages the test suite needs (chromium, postgresql)
#   scripts/bootstrap.sh --force  re-run pip install even if pyproject.toml did not change
#
# Environment: PYTHON (interpreter for a new .venv, default python3), SKIP_APT=1 (never call apt).
#
# The second run must be fast (it is called by every `make run` / `make test`), so every step
# first checks whether there is anything to do: no apt-get update unless a package is missing,
# no pip unless pyproject.toml changed since the last successful install.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WITH_TEST=0
FORCE=0
for arg in "$@"; do
    case "$arg" in
        --test | test) WITH_TEST=1 ;;
        --force) FORCE=1 ;;
        -h | --help)
            sed -n '2,10p' "$0"
            exit 0
            ;;
        *)
            echo "bootstrap: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.bootstrap-pyproject.sha256"

log() { printf 'bootstrap: %s\n' "$*" >&2; }

# --- OS packages ---------------------------------------------------------------------------
# A package counts as present when the program we need is on the machine (that also works on a
# non-Debian developer machine) or dpkg says it is installed.
have_program() {
    case "$1" in
        redis-server) command -v redis-server >/dev/null && command -v redis-cli >/dev/null ;;
        graphviz) command -v dot >/dev/null ;;
        chromium) command -v chromium >/dev/null ;;
        # PostgreSQL's server binaries are not on PATH on Debian: look in /usr/lib/postgresql.
        postgresql) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null ;;
        # The .venv needs Python >= 3.11 with a working venv + ensurepip (Debian splits that
        # into python3-venv; a minimal Debian image has no python3 at all).
        python3 | python3-venv)
            "$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
            ;;
        *) return 1 ;;
    esac
}

have_package() {
    have_program "$1" && return 0
    # dpkg's word is not enough for python3: the interpreter on PATH may be too old or lack venv.
    case "$1" in python3 | python3-venv) return 1 ;; esac
    command -v dpkg-query >/dev/null &&
        [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

wanted=(redis-server graphviz)
if [ ! -x "$VENV/bin/python" ]; then
    wanted+=(python3 python3-venv)
fi
if [ "$WITH_TEST" = 1 ]; then
    wanted+=(chromium postgresql)
fi

missing=()
for pkg in "${wanted[@]}"; do
    have_package "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "${SKIP_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null; then
        log "missing OS packages: ${missing[*]} (no apt-get or SKIP_APT=1: install them yourself)"
        exit 1
    fi
    SUDO=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || {
            log "missing OS packages: ${missing[*]}; run as root or install sudo"
            exit 1
        }
        SUDO=(sudo)
    fi
    log "installing OS packages: ${missing[*]}"
    # One update per bootstrap, and only when something is missing (about 30-40 s in all).
    # apt starts no service here (no systemd): scripts/run.sh and scripts/test.sh start their own.
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" apt-get install -y -q "${missing[@]}"
    # Debian's python3 is the one to use when we had to install it (pyenv etc. may shadow it).
    if [[ " ${missing[*]} " == *" python3 "* ]] && ! have_program python3; then
        PYTHON=/usr/bin/python3
    fi
fi

# --- virtualenv ----------------------------------------------------------------------------
if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    # Missing, broken (e.g. its interpreter was removed) or too old: start again.
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
        log "$PYTHON is older than 3.11; set PYTHON=/path/to/python3.11+"
        exit 1
    }
    log "creating $VENV with $("$PYTHON" --version 2>&1)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    rm -f "$STAMP"
fi

# --- Python packages -----------------------------------------------------------------------
# The stamp holds the hash of pyproject.toml and the interpreter version of the last successful
# install, so a no-change run costs one sha256sum instead of a pip resolution (~10 s).
want_hash="$( (
    sha256sum pyproject.toml
    "$VENV/bin/python" -c 'import sys; print(sys.version)'
) | sha256sum | cut -d' ' -f1)"
have_hash="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$FORCE" = 1 ] || [ "$want_hash" != "$have_hash" ]; then
    log "pip install -e '.[test]'"
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    "$VENV/bin/python" -m pip install -q -e '.[test]'
    echo "$want_hash" >"$STAMP"
fi
