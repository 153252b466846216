"""Catalogsync Ops: the shared core of runnerd and the web UI (schema, states, queue, config)."""
from __future__ import annotations

__version__ = "0.1.0"
