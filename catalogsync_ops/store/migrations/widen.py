"""Widening a CHECK list in place, for migrations that add values to one (v005, v008)."""
from __future__ import annotations

from catalogsync_ops.store.connection import Connection


def widen_checks(conn: Connection, replacements) -> None:
    """Rewrite CHECK lists in place, inside the caller's transaction: `replacements` are
    (table, old text, new text). Only for lists that widen (every stored row stays valid):
    SQLite's documented procedure for changing a constraint without copying the table."""
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    try:
        for table, old, new in replacements:
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (table, )).fetchone()[0]
            if new in sql:
                continue
            if old not in sql:
                raise RuntimeError(f"{table}'s CHECK is not the one an earlier version wrote; refusing to rewrite it")
            conn.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                         (sql.replace(old, new), table))
        conn.execute(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        conn.execute("PRAGMA writable_schema = OFF")
