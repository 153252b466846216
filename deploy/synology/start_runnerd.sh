#!/usr/bin/env bash
# Start runnerd in the background (DSM Task Scheduler, boot-up trigger). Starting it twice is
# harmless: the second finds the runner lock held and exits 0.
set -euo pipefail
. "$(dirname "$0")/common.sh"
need_runtime
start_background runnerd "$VENV_DIR/bin/runnerd" run --if-not-running
