"""Version 10: commands declared once, refusals kept as codes.

- `job_commands.kind` is checked for its shape only (a lower-case word): which kinds exist is
  said by `engine/command_specs.py`, and the runner refuses a kind it does not know with that
  reason, so adding a kind needs no migration.
- `job_commands.reject_code` and `reject_params_json`: why a command was refused, as a code
  and its parameters (catalogsync_ops/messages.py); `reject_reason` keeps the English text
  made from them. Commands refused before this version keep only their text.
- `drift.detail_code` and `detail_params_json`: what a verify found, the same way.
"""
from __future__ import annotations

import re

from catalogsync_ops.store.connection import Connection
from catalogsync_ops.store.migrations.widen import widen_checks

NAME = "command_specs"

KIND_SHAPE = "kind GLOB '[a-z]*' AND kind NOT GLOB '*[^a-z_]*' AND length(kind) <= 40"

SQL = """
ALTER TABLE job_commands ADD COLUMN reject_code TEXT;
ALTER TABLE job_commands ADD COLUMN reject_params_json TEXT;
ALTER TABLE drift ADD COLUMN detail_code TEXT;
ALTER TABLE drift ADD COLUMN detail_params_json TEXT;
"""


def kind_list(conn: Connection) -> str:
    """The CHECK list of kinds the table was made (and widened) with, as written."""
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'job_commands'").fetchone()[0]
    found = re.search(r"kind IN \([^)]*\)", sql)
    return found.group(0) if found else KIND_SHAPE


def apply(conn: Connection) -> None:
    widen_checks(conn, [("job_commands", kind_list(conn), KIND_SHAPE)])
