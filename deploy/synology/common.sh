# Shared by the Synology scripts: where things live. Every path can be set before calling a
# script (in the DSM task: `CATALOGSYNC_ROOT=/volume2/apps/catalogsync bash …/start_runnerd.sh`)
# or in $CATALOGSYNC_ROOT/catalogsync.conf (plain VAR=value lines). Defaults follow the layout
#   /volumeN/<share>/catalogsync/app      this checkout (code, scripts)
#   /volumeN/<share>/catalogsync/venv     the Python environment (install_runtime.sh makes it)
#   /volumeN/<share>/catalogsync/home     catalogsync.env, the database, input pools, logs,
#                                         and by default the library and its mirror
# where CATALOGSYNC_ROOT is the folder that holds app/.
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP_DIR="${APP_DIR:-$(cd "$SCRIPT_DIR/../.." && pwd)}"
CATALOGSYNC_ROOT="${CATALOGSYNC_ROOT:-$(dirname "$APP_DIR")}"
if [ -f "$CATALOGSYNC_ROOT/catalogsync.conf" ]; then
    # shellcheck disable=SC1091
    . "$CATALOGSYNC_ROOT/catalogsync.conf"
fi
VENV_DIR="${VENV_DIR:-$CATALOGSYNC_ROOT/venv}"
CATALOGSYNC_HOME="${CATALOGSYNC_HOME:-$CATALOGSYNC_ROOT/home}"
CATALOGSYNC_ENV_FILE="${CATALOGSYNC_ENV_FILE:-$CATALOGSYNC_HOME/catalogsync.env}"
LOG_FILE_DIR="${LOG_FILE_DIR:-$CATALOGSYNC_HOME/logs}"
export CATALOGSYNC_ENV_FILE

need_runtime() {
    if [ ! -x "$VENV_DIR/bin/runnerd" ]; then
        echo "No runtime at $VENV_DIR: run $SCRIPT_DIR/install_runtime.sh first." >&2
        exit 1
    fi
    if [ ! -f "$CATALOGSYNC_ENV_FILE" ]; then
        echo "No settings at $CATALOGSYNC_ENV_FILE: run $SCRIPT_DIR/install_runtime.sh first." >&2
        exit 1
    fi
}

# Start a long-running command in the background with its output appended to a log file, and
# wait until it says it is ready (it writes its pid to $LOG_FILE_DIR/<name>.ready: systemd's
# READY=1, said to a file) or ends (exit 0: another instance already serves; the log says which).
# A slow NAS may take a while to start Python: START_WAIT_SECONDS (default 120) bounds the wait,
# after which the script leaves it starting and says so (a boot-up task should not block).
start_background() {
    local name="$1"; shift
    mkdir -p "$LOG_FILE_DIR"
    local log="$LOG_FILE_DIR/$name.log"
    local ready="$LOG_FILE_DIR/$name.ready"
    rm -f "$ready"
    echo "--- $(date -u +%Y-%m-%dT%H:%M:%SZ) starting: $*" >>"$log"
    CATALOGSYNC_READY_FILE="$ready" nohup "$@" >>"$log" 2>&1 </dev/null &
    local pid=$!
    local waited=0 limit=$(( ${START_WAIT_SECONDS:-120} * 5 ))
    while kill -0 "$pid" 2>/dev/null; do
        if [ -f "$ready" ] && [ "$(cat "$ready" 2>/dev/null)" = "$pid" ]; then
            echo "$pid" >"$LOG_FILE_DIR/$name.pid"
            echo "$name started (pid $pid); log: $log"
            return 0
        fi
        if [ "$waited" -ge "$limit" ]; then
            echo "$pid" >"$LOG_FILE_DIR/$name.pid"
            echo "$name is still starting after ${START_WAIT_SECONDS:-120} s (pid $pid); see $log"
            return 0
        fi
        sleep 0.2 2>/dev/null || sleep 1
        waited=$((waited + 1))
    done
    local code=0
    wait "$pid" || code=$?
    if [ "$code" = 0 ]; then
        # --if-not-running: another instance already serves; the log says which.
        tail -n 1 "$log"
        return 0
    fi
    echo "$name did not start (exit $code); the end of $log:" >&2
    tail -n 20 "$log" >&2
    return "$code"
}
