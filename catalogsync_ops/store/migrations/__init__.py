"""Ordered, named schema migrations, applied at start by whichever process comes first.

One file per migration (`vNNN_name.py`, each with `NAME`, `SQL`, and optionally `apply(conn)`
for what SQL alone cannot say, run after the SQL in the same transaction). A migration's SQL is frozen
once released: its CHECK lists are written out, not built from the enums, and
`tests/test_schema.py` fails when an enum gains a value that the database would reject, which
is the cue to add a migration. Migrations never drop user data. Taking a backup before an
upgrade is not done here but by `store/database.py`, which owns the order of opening.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from catalogsync_ops.errors import SchemaTooNewError
from catalogsync_ops.store.connection import Connection, iso, transaction
from catalogsync_ops.store.migrations import (
    v001_initial,
    v002_web_auth,
    v003_throughput,
    v004_notifications,
    v005_platforms,
    v006_hardening,
    v007_activity,
    v008_verify,
    v009_platform_edges,
    v010_command_specs,
    v011_coded_errors,
    v012_wanted,
    v013_retention,
    v014_trimmed,
    v015_quality,
    v016_lyrics,
    v017_upgrades,
    v018_activity_minutes,
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    apply: Callable[[Connection], None] | None = None


MIGRATIONS: tuple[Migration, ...] = tuple(
    Migration(version, module.NAME, module.SQL, getattr(module, "apply", None))
    for version, module in enumerate((v001_initial, v002_web_auth, v003_throughput, v004_notifications,
                                      v005_platforms, v006_hardening, v007_activity, v008_verify,
                                      v009_platform_edges, v010_command_specs, v011_coded_errors, v012_wanted,
                                      v013_retention, v014_trimmed, v015_quality,
                                      v016_lyrics, v017_upgrades, v018_activity_minutes), 1)
)

LATEST_VERSION = MIGRATIONS[-1].version


def _split_statements(sql: str) -> list[str]:
    """Split a migration into statements (Connection.execute runs one at a time)."""
    statements, buffer = [], ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def current_version(conn: Connection) -> int:
    """Return the highest applied migration version (0 for an empty database)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def apply_migrations(conn: Connection, *, target: int | None = None) -> list[int]:
    """Apply every migration not yet recorded, in order, in one IMMEDIATE transaction.

    Two processes starting together serialise on the write lock; the second sees the
    versions the first recorded and applies nothing. Returns the versions applied.
    """
    target = LATEST_VERSION if target is None else target
    with transaction(conn):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        have = current_version(conn)
        if have > LATEST_VERSION:
            raise SchemaTooNewError(
                f"The database {conn.path!r} has schema version {have}, but this version of "
                f"catalogsync-ops knows only up to {LATEST_VERSION}. It was written by a newer "
                "release: upgrade catalogsync-ops, or restore a backup made before the upgrade."
            )
        applied = []
        for migration in MIGRATIONS:
            if migration.version <= have or migration.version > target:
                continue
            for statement in _split_statements(migration.sql):
                conn.execute(statement)
            if migration.apply is not None:
                migration.apply(conn)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, iso()),
            )
            applied.append(migration.version)
    return applied
