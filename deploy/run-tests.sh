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
# The browser tests drive Debian's Chromium (Playwright cannot download its own browser here);
# a CJK font makes the screenshots of the Chinese pages readable (optional).
need=""
command -v chromium >/dev/null 2>&1 || need="chromium"
# The systemd units are checked with systemd-analyze verify (it runs without systemd running).
command -v systemd-analyze >/dev/null 2>&1 || need="${need:+$need }systemd"
# The power-cut tests mount a FUSE file system (tools/forgetfs.py) with libfuse 3.
command -v fusermount3 >/dev/null 2>&1 || need="${need:+$need }fuse3"
if command -v fc-list >/dev/null 2>&1 && [ -z "$(fc-list :lang=zh 2>/dev/null)" ] || ! command -v fc-list >/dev/null 2>&1; then
    optional="fonts-wqy-zenhei"
else
    optional=""
fi
if [ -n "$need$optional" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing Debian packages the tests use: $need $optional"
        apt-get update -qq || echo "(apt-get update failed; trying the installed package lists)"
        [ -z "$need" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
        [ -z "$optional" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $optional >/dev/null \
            || echo "(no CJK font installed: Chinese text in screenshots shows as boxes)"
    elif [ -n "$need" ]; then
        echo "The tests need these Debian packages: sudo apt-get install $need" >&2
        exit 1
    fi
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[test]'

# Test files run side by side (pytest-xdist, a file to a worker: its servers are shared by its
# tests). Many tests wait on a subprocess or a socket, so twice as many workers as cores, at most 8
# (CATALOGSYNC_TEST_WORKERS sets it; 0 runs everything in this process). A person's run walks a
# part of the generated inputs; CI walks them all (CATALOGSYNC_TESTS=full, tests/helpers/depth.py).
cores=$(nproc 2>/dev/null || echo 2)
workers=${CATALOGSYNC_TEST_WORKERS:-$(( cores * 2 > 8 ? 8 : cores * 2 ))}
parallel=()
# The longest files start first (tests/helpers/order.py), not xdist's order by count of tests.
[ "$workers" = 0 ] || parallel=(-n "$workers" --dist loadfile --no-loadscope-reorder)
# pytest exits 5 when it collected no test: that is a failure here, not a pass.
exec "$VENV/bin/python" -m pytest "${parallel[@]}" "$@"
