#!/usr/bin/env bash
# Stop runnerd cleanly (SIGTERM: in-flight items finish within SHUTDOWN_GRACE_SECONDS or
# resume on the next start) and the console. For a DSM shutdown task, or by hand.
set -euo pipefail
. "$(dirname "$0")/common.sh"
need_runtime
pid="$("$VENV_DIR/bin/runnerd" status --json 2>/dev/null | "$VENV_DIR/bin/python" -c \
    'import json,sys; r=json.load(sys.stdin)["runner"]; print(r.get("pid") or "" if r["state"] == "up" else "")' || true)"
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 180); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    echo "runnerd (pid $pid) stopped"
else
    echo "runnerd is not running"
fi
pid_file="$LOG_FILE_DIR/catalogsync-web.pid"
web_pid="$(cat "$pid_file" 2>/dev/null || true)"
# Only the console serve_console.sh started (its pid file), and only if that pid still is it.
if [ -n "$web_pid" ] && tr '\0' ' ' <"/proc/$web_pid/cmdline" 2>/dev/null | grep -q "catalogsync-web serve"; then
    kill -TERM "$web_pid"
    for _ in $(seq 1 30); do kill -0 "$web_pid" 2>/dev/null || break; sleep 1; done
    echo "console (pid $web_pid) stopped"
else
    echo "the console is not running (from serve_console.sh)"
fi
rm -f "$pid_file"
