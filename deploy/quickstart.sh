#!/usr/bin/env bash
# Set up Catalogsync Ops on its embedded defaults (SQLite, the demo source, a local mirror
# folder for uploads) in ./var/quickstart, start the demo platform, runnerd and the web
# console, and queue a first full pipeline. Ctrl-C stops all three cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
HOME_DIR=${CATALOGSYNC_HOME:-$PWD/var/quickstart}
DEMO_PORT=${DEMO_PORT:-8765}
WEB_PORT=${WEB_PORT:-8421}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "catalogsync-ops needs Python 3.11 or newer; $("$PYTHON" --version 2>&1) found." >&2
    exit 1
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e .

RUNNERD="$VENV/bin/runnerd"
if [ ! -f "$HOME_DIR/catalogsync.env" ]; then
    "$RUNNERD" init --home "$HOME_DIR"
    # The demo has a second platform that holds songs the first cannot serve.
    sed -i "s#^DOWNLOAD_SOURCES=.*#DOWNLOAD_SOURCES=demo,demo2#" "$HOME_DIR/catalogsync.env"
fi
export CATALOGSYNC_ENV_FILE="$HOME_DIR/catalogsync.env"
mkdir -p "$HOME_DIR/logs"

# 120 extra songs of 20 s, sent a little slowly: long enough to watch, pause and cancel.
# (DEMO_PORT=0 or WEB_PORT=0 picks a free port; the address each server reports is used.)
DEMO_LOG="$HOME_DIR/logs/demo-server.log"
: >"$DEMO_LOG"
"$RUNNERD" demo-server --port "$DEMO_PORT" --pool-file "$HOME_DIR/input/demo.txt" --songs 120 --song-seconds 20 \
    --slow-ms 20 >>"$DEMO_LOG" 2>&1 &
DEMO_PID=$!
RUNNER_PID=
WEB_PID=
stop() {
    [ -n "$WEB_PID" ] && kill -TERM "$WEB_PID" 2>/dev/null && wait "$WEB_PID" 2>/dev/null || true
    [ -n "$RUNNER_PID" ] && kill -TERM "$RUNNER_PID" 2>/dev/null && wait "$RUNNER_PID" 2>/dev/null || true
    kill -TERM "$DEMO_PID" 2>/dev/null && wait "$DEMO_PID" 2>/dev/null || true
}
trap stop EXIT INT TERM
for _ in $(seq 100); do grep -q "demo platform at\|Error" "$DEMO_LOG" && break; sleep 0.1; done
DEMO_URL=$(grep -o "demo platform at http://[^ ]*" "$DEMO_LOG" | head -1 | cut -d" " -f4 || true)
if [ -z "$DEMO_URL" ]; then
    cat "$DEMO_LOG" >&2
    exit 1
fi
sed -i "s#^DEMO_BASE_URL=.*#DEMO_BASE_URL=$DEMO_URL#" "$HOME_DIR/catalogsync.env"

"$RUNNERD" enqueue full_pipeline
# Their logs go to $HOME_DIR/logs (runnerd.log, catalogsync-web.log); this terminal keeps the
# few lines that matter, and the setup link last.
"$RUNNERD" run 2>>"$HOME_DIR/logs/runnerd.stderr" &
RUNNER_PID=$!
WEB_ERR="$HOME_DIR/logs/catalogsync-web.stderr"
: >"$WEB_ERR"
"$VENV/bin/catalogsync-web" serve --port "$WEB_PORT" 2>>"$WEB_ERR" &
WEB_PID=$!
for _ in $(seq 50); do grep -q "catalogsync-web on\|cannot listen" "$WEB_ERR" && break; sleep 0.1; done
grep "cannot listen" "$WEB_ERR" >&2 || true
SETUP=$(grep -o "http://[^ ]*/setup?token=[^ ]*" "$WEB_ERR" | tail -1 || true)
CONSOLE=$(grep -o "catalogsync-web on http://[^ ]*" "$WEB_ERR" | tail -1 | cut -d" " -f3 || true)
echo
echo "Console:   ${CONSOLE:-http://127.0.0.1:$WEB_PORT}"
echo "Home:      $HOME_DIR    Logs: $HOME_DIR/logs"
echo "Watch it:  CATALOGSYNC_ENV_FILE=$CATALOGSYNC_ENV_FILE $RUNNERD status"
echo "Library:   $HOME_DIR/library    Mirror: $HOME_DIR/mirror"
echo "Ctrl-C stops the console, the runner and the demo platform."
if [ -n "$SETUP" ]; then
    echo
    echo "+------------------------------------------------------------------------------+"
    echo "  First run: create your user here (one-time link, valid 24 hours):"
    echo "  $SETUP"
    echo "+------------------------------------------------------------------------------+"
fi
wait "$RUNNER_PID"
