#!/usr/bin/env bash
# Start the web console in the background (DSM Task Scheduler, boot-up trigger). Starting it
# twice is harmless: the second finds the console answering on WEB_PORT and exits 0.
set -euo pipefail
. "$(dirname "$0")/common.sh"
need_runtime
start_background catalogsync-web "$VENV_DIR/bin/catalogsync-web" serve --if-not-running
