#!/usr/bin/env bash
# Set up Catalogsync Ops on its embedded defaults (SQLite, the demo source, a local mirror
# folder for uploads) in ./var/quickstart, then show the runner status.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
HOME_DIR=${CATALOGSYNC_HOME:-$PWD/var/quickstart}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "catalogsync-ops needs Python 3.11 or newer; $("$PYTHON" --version 2>&1) found." >&2
    exit 1
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e .

if [ ! -f "$HOME_DIR/catalogsync.env" ]; then
    "$VENV/bin/runnerd" init --home "$HOME_DIR"
fi
export CATALOGSYNC_ENV_FILE="$HOME_DIR/catalogsync.env"
echo
echo "Home: $HOME_DIR   (export CATALOGSYNC_ENV_FILE=$CATALOGSYNC_ENV_FILE)"
"$VENV/bin/runnerd" config check
"$VENV/bin/runnerd" status || true
