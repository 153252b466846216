"""Versions of catalogsync.env: record, apply (atomically), roll back, diff.

Only runnerd writes the file (through the apply_config / rollback_config commands) and the
CLI's `init`; everyone else proposes content as a command. Every content the file has had
becomes a `config_revisions` row: made in the UI or CLI, rolled back, or edited outside
(noticed by the watchdog observer in runnerd).
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

from catalogsync_ops.config.envfile import (
    Config,
    Problem,
    changed_secrets,
    check_text,
    mask_text,
    problems_with,
    read_env_file,
    unmask_text,
)
from catalogsync_ops.errors import ConfigError, NotFound
from catalogsync_ops.fileio import fsync_dir, make_folders
from catalogsync_ops.store.connection import Connection, iso, transaction

SOURCES = ("init", "ui", "cli", "api", "external", "rollback", "startup")


def sha256_text(text: str) -> str:
    """Hex SHA-256 of text encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so a reader sees the old or the new file, never a mix.

    Temp file in the same folder, fsync, the old file's mode (and owner, when we may),
    rename over, fsync the folder.
    """
    path = Path(path)
    folder = path.parent
    make_folders(folder)
    try:
        old = path.stat()
    except FileNotFoundError:
        old = None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if old is not None:
            os.chmod(tmp, old.st_mode & 0o7777)
            if hasattr(os, "chown") and os.geteuid() == 0:
                os.chown(tmp, old.st_uid, old.st_gid)
        else:
            os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def read_env_text(env_path: Path) -> str:
    """The current content of the env file ('' when it does not exist)."""
    try:
        return read_env_file(env_path)
    except FileNotFoundError:
        return ""


def record_revision(
    conn: Connection,
    env_path: Path,
    text: str,
    *,
    source: str,
    note: str | None = None,
    problems: list[Problem] | None = None,
    rollback_of: int | None = None,
    command_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Insert a config_revisions row (status 'invalid' when any problem is an error)."""
    if source not in SOURCES:
        raise ValueError(f"unknown revision source {source!r}; one of {', '.join(SOURCES)}")
    problems = problems or []
    status = "invalid" if problems_with(problems, "error") else "applied"
    with transaction(conn):
        return int(conn.execute(
            "INSERT INTO config_revisions (file_path, content, content_sha256, source, status, problems_json,"
            " note, rollback_of, command_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(env_path), text, sha256_text(text), source, status,
             json.dumps([p.__dict__ for p in problems], ensure_ascii=False) if problems else None,
             note, rollback_of, command_id, iso(now)),
        ).lastrowid)


def latest_revision(conn: Connection, *, status: str | None = None):
    """The newest revision row (optionally of one status), or None."""
    if status:
        return conn.execute("SELECT * FROM config_revisions WHERE status = ? ORDER BY id DESC LIMIT 1",
                            (status,)).fetchone()
    return conn.execute("SELECT * FROM config_revisions ORDER BY id DESC LIMIT 1").fetchone()


def get_revision(conn: Connection, revision_id: int):
    """One revision row, or NotFound."""
    row = conn.execute("SELECT * FROM config_revisions WHERE id = ?", (revision_id,)).fetchone()
    if row is None:
        raise NotFound.coded("not_found", subject="config_revision", id=revision_id)
    return row


def list_revisions(conn: Connection, *, limit: int = 50, before_id: int | None = None) -> list[dict]:
    """Revisions newest first, keyset-paginated, without their content."""
    rows = conn.execute(
        "SELECT id, source, status, note, rollback_of, command_id, content_sha256, created_at, problems_json"
        " FROM config_revisions WHERE id < ? ORDER BY id DESC LIMIT ?",
        (before_id if before_id is not None else 2**62, limit),
    ).fetchall()
    return [dict(row) for row in rows]


def apply_config_text(
    conn: Connection,
    env_path: Path,
    new_text: str,
    *,
    source: str,
    note: str | None = None,
    command_id: int | None = None,
    rollback_of: int | None = None,
    now: datetime | None = None,
) -> tuple[int, Config]:
    """Validate `new_text`, write it atomically and record the revision.

    Masked secrets in `new_text` keep their saved values. Invalid content raises ConfigError
    and leaves the file byte-for-byte as it was.
    """
    env_path = Path(env_path)
    current = read_env_text(env_path)
    text = unmask_text(new_text, current)
    config, problems = check_text(text, env_path.resolve().parent)
    if config is None:
        errors = problems_with(problems, "error")
        raise ConfigError("the new config was not applied:\n" + "\n".join(f"  {p}" for p in errors), errors)
    atomic_write_text(env_path, text)
    revision_id = record_revision(conn, env_path, text, source=source, note=note, problems=problems,
                                  rollback_of=rollback_of, command_id=command_id, now=now)
    return revision_id, config


def rollback_to(conn: Connection, env_path: Path, revision_id: int, *, note: str | None = None,
                command_id: int | None = None, now: datetime | None = None) -> tuple[int, Config]:
    """Make an earlier revision's content current again, as a new 'rollback' revision."""
    target = get_revision(conn, revision_id)
    if target["status"] != "applied":
        raise ConfigError(f"revision {revision_id} was invalid and was never applied; pick an applied one")
    return apply_config_text(conn, env_path, target["content"], source="rollback",
                             note=note or f"rollback to revision {revision_id}", command_id=command_id,
                             rollback_of=revision_id, now=now)


def record_if_changed(conn: Connection, env_path: Path, *, source: str = "external",
                      now: datetime | None = None) -> int | None:
    """Record the file's content as a revision when it differs from the newest one.

    Used at start-up and by the watchdog observer for edits made outside. Invalid content is
    recorded with status 'invalid' and its problems; the runner keeps its last valid config.
    """
    text = read_env_text(env_path)
    latest = latest_revision(conn)
    if latest is not None and latest["content_sha256"] == sha256_text(text):
        return None
    _, problems = check_text(text, Path(env_path).resolve().parent)
    return record_revision(conn, env_path, text, source=source, problems=problems, now=now)


def diff_texts(old: str, new: str, *, old_name: str = "current", new_name: str = "proposed") -> str:
    """A unified diff of two env texts with every secret masked on both sides; a secret that
    changed shows as "******** (changed)", never its value."""
    changed = changed_secrets(old, new)
    return "".join(difflib.unified_diff(
        mask_text(old).splitlines(keepends=True), mask_text(new, changed=changed).splitlines(keepends=True),
        fromfile=old_name, tofile=new_name,
    ))


def diff_revisions(conn: Connection, old_id: int, new_id: int | None, env_path: Path) -> str:
    """Diff between two revisions, or between a revision and the file as it is now."""
    old = get_revision(conn, old_id)["content"]
    if new_id is None:
        return diff_texts(old, read_env_text(env_path), old_name=f"revision {old_id}", new_name="current file")
    return diff_texts(old, get_revision(conn, new_id)["content"], old_name=f"revision {old_id}",
                      new_name=f"revision {new_id}")
