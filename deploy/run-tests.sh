#!/usr/bin/env bash
# Run the test suite on a fresh machine: make a venv, install the package with its test
# extra, and run pytest. Extra arguments go to pytest (e.g. -k pause, -x).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "catalogsync-ops needs Python 3.11 or newer; $("$PYTHON" --version 2>&1) found." >&2
    exit 1
fi
# The browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing Debian's chromium for the browser tests…"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "The browser tests need Chromium: sudo apt-get install chromium" >&2
        exit 1
    fi
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[test]'

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
exec "$VENV/bin/python" -m pytest "$@"
