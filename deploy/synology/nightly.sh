#!/usr/bin/env bash
# Queue the nightly full pipeline for the running runnerd (DSM Task Scheduler, "Scheduled
# Task", daily). When last night's job is still queued, running or paused, it queues nothing.
set -euo pipefail
. "$(dirname "$0")/common.sh"
need_runtime
exec "$VENV_DIR/bin/runnerd" enqueue full_pipeline --unless-pending --note nightly
