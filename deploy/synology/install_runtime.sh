#!/usr/bin/env bash
# Install or upgrade the runtime: a venv under CATALOGSYNC_ROOT with this checkout installed,
# and (first time only) a working home made by `runnerd init`. Safe to run again after
# `git pull`: the venv is upgraded in place, the settings file is never touched, and the
# database is migrated (with a backup first) the next time runnerd or the console starts.
set -euo pipefail
. "$(dirname "$0")/common.sh"

find_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if ! PY="$(find_python)"; then
    echo "Catalogsync needs Python 3.11 or newer. On DSM 7.2, install Python 3.11 from the Package Center" >&2
    echo "(or set PYTHON=/path/to/python3.11) and run this again." >&2
    exit 1
fi
if [ -x "$VENV_DIR/bin/python" ] && ! "$VENV_DIR/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "The venv at $VENV_DIR is too old or broken; making a new one."
    rm -rf "$VENV_DIR"
fi
[ -x "$VENV_DIR/bin/python" ] || "$PY" -m venv "$VENV_DIR"
"$VENV_DIR/bin/python" -m pip install --quiet --upgrade pip
# PIP_EXTRAS=s3 (boto3 for S3 uploads) or s3,musicdl adds the optional parts.
target="$APP_DIR"
[ -z "${PIP_EXTRAS:-}" ] || target="$APP_DIR[$PIP_EXTRAS]"
# pip builds in the checkout's build/ folder, and setuptools copies whatever it finds there into
# the package: after an upgrade that moved or removed modules, an old build/ would ship them too.
rm -rf "$APP_DIR/build"
"$VENV_DIR/bin/python" -m pip install --quiet --upgrade "$target"
echo "Installed catalogsync-ops $("$VENV_DIR/bin/runnerd" --version | awk '{print $NF}') into $VENV_DIR"

if [ ! -f "$CATALOGSYNC_ENV_FILE" ]; then
    "$VENV_DIR/bin/runnerd" init --home "$(dirname "$CATALOGSYNC_ENV_FILE")"
    echo "Edit $CATALOGSYNC_ENV_FILE (LIBRARY_DIR, DOWNLOAD_SOURCES, uploads), or use the console's Config page."
else
    # An upgrade: the settings stay as they are; new settings use their defaults until set.
    "$VENV_DIR/bin/runnerd" config check || {
        echo "Fix the problems above in $CATALOGSYNC_ENV_FILE before starting runnerd." >&2
        exit 1
    }
fi
cp "$APP_DIR/deploy/catalogsync.env.example" "$(dirname "$CATALOGSYNC_ENV_FILE")/catalogsync.env.example"
echo "Next: set the console password with"
echo "  $VENV_DIR/bin/catalogsync-web --env-file $CATALOGSYNC_ENV_FILE set-password admin"
echo "and add the boot-up tasks start_runnerd.sh and serve_console.sh (deploy/synology/README.md)."
