"""Drift: what a verify found that differs from the catalog, one row per kind, place and path.

A row is `open` until a later verify no longer finds it (`resolved`) or a `repair_drift`
command queues its repair (`repairing`, then resolved or open again when the repair job ends).
The checks themselves are in `catalogsync_ops/pipeline/verify.py`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from catalogsync_ops.messages import render
from catalogsync_ops.store.connection import Connection, iso, transaction


class DriftKind(StrEnum):
    FILE_MISSING = "file_missing"
    FILE_CHANGED = "file_changed"
    OBJECT_MISSING = "object_missing"
    OBJECT_CHANGED = "object_changed"
    ORPHAN = "orphan"


FILE_KINDS = (DriftKind.FILE_MISSING, DriftKind.FILE_CHANGED)
OBJECT_KINDS = (DriftKind.OBJECT_MISSING, DriftKind.OBJECT_CHANGED)
LIBRARY = "library"  # the place of library files and orphans; a backup's is `backend:bucket`


@dataclass(frozen=True)
class Found:
    """What a verify found about one file or object; `code` and `params` say what differs
    (catalogsync_ops/messages.py), `detail` is their English text."""

    kind: DriftKind
    path: str
    code: str
    params: dict = field(default_factory=dict)
    file_location_id: int | None = None
    upload_task_id: int | None = None
    song_id: int | None = None

    @property
    def detail(self) -> str:
        return render(self.code, self.params)


def record_drift(conn: Connection, found: list[Found], *, job_id: int | None, place: str, kinds,
                 where: str = "1", params: tuple = ()) -> int:
    """Write what a part found, and mark resolved what it covered (`where`) and no longer
    finds. Inside the caller's transaction. Returns how many were resolved."""
    ts = iso()
    conn.executemany(
        "INSERT INTO drift (kind, place, path, file_location_id, upload_task_id, song_id, detail, detail_code,"
        " detail_params_json, status, found_job_id, first_seen_at, last_seen_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)"
        " ON CONFLICT (kind, place, path) DO UPDATE SET detail = excluded.detail,"
        " detail_code = excluded.detail_code, detail_params_json = excluded.detail_params_json,"
        " file_location_id = excluded.file_location_id, upload_task_id = excluded.upload_task_id,"
        " song_id = excluded.song_id, found_job_id = excluded.found_job_id, last_seen_at = excluded.last_seen_at,"
        " first_seen_at = CASE WHEN status = 'resolved' THEN excluded.first_seen_at ELSE first_seen_at END,"
        " repair_job_id = CASE WHEN status = 'resolved' THEN NULL ELSE repair_job_id END,"
        " status = CASE WHEN status = 'resolved' THEN 'open' ELSE status END, resolved_at = NULL",
        [(f.kind.value, place, f.path, f.file_location_id, f.upload_task_id, f.song_id, f.detail, f.code,
          json.dumps(f.params, ensure_ascii=False), job_id, ts, ts) for f in found])
    marks = ", ".join("?" for _ in kinds)
    return conn.execute(
        f"UPDATE drift SET status = 'resolved', resolved_at = ? WHERE place = ? AND kind IN ({marks})"
        f" AND status != 'resolved' AND last_seen_at != ? AND ({where})",
        (ts, place, *[k.value for k in kinds], ts, *params)).rowcount


def settle_repairs(conn: Connection) -> int:
    """Drift whose repair job has ended: resolved when the file is back in the library (or the
    object uploaded again), open again otherwise (the job's failed items say why)."""
    rows = conn.execute(
        "SELECT d.id, d.kind, d.file_location_id, d.upload_task_id FROM drift d JOIN job_runs j ON j.id = "
        "d.repair_job_id"
        " WHERE d.status = 'repairing' AND j.status IN ('completed', 'completed_with_errors', 'failed', 'canceled')"
    ).fetchall()
    if not rows:
        return 0
    ts = iso()
    with transaction(conn):
        for row in rows:
            if row["kind"] in {k.value for k in FILE_KINDS}:
                done = conn.execute("SELECT 1 FROM file_locations WHERE id = ? AND verified_at IS NOT NULL",
                                    (row["file_location_id"],)).fetchone()
            else:
                done = conn.execute("SELECT 1 FROM upload_tasks WHERE id = ? AND status = 'uploaded'",
                                    (row["upload_task_id"],)).fetchone()
            conn.execute("UPDATE drift SET status = ?, resolved_at = ? WHERE id = ?",
                         ("resolved" if done else "open", ts if done else None, row["id"]))
    return len(rows)


def drift_counts(conn: Connection, *, status: str | None = None) -> dict[str, int]:
    """Drift by kind: open and being repaired (or of one status)."""
    where, params = ("status = ?", (status,)) if status else ("status != 'resolved'", ())
    return {r[0]: r[1] for r in conn.execute(f"SELECT kind, COUNT(*) FROM drift WHERE {where} GROUP BY kind", params)}


def list_drift(conn: Connection, *, kind: str | None = None, include_resolved: bool = False, limit: int = 500,
               after_id: int | None = None) -> list[dict[str, Any]]:
    """Drift rows for the drift page and `runnerd drift`, oldest first."""
    where, params = ["1"], []
    if not include_resolved:
        where.append("status != 'resolved'")
    if kind:
        where.append("kind = ?")
        params.append(kind)
    if after_id:
        where.append("id > ?")
        params.append(after_id)
    # A repair that ended without mending the row (it is open again) says why: its song's failed
    # item in that repair job (class, text, code and values, as an item's error reads).
    return [dict(r) for r in conn.execute(
        "SELECT d.*, f.last_error_class AS repair_error_class, f.last_error AS repair_error,"
        " f.last_error_code AS repair_error_code, f.last_error_params_json AS repair_error_params_json"
        " FROM drift d LEFT JOIN job_items f ON d.status = 'open' AND d.repair_job_id IS NOT NULL"
        " AND f.id = (SELECT MAX(i.id) FROM job_items i WHERE i.job_id = d.repair_job_id AND i.status = 'failed'"
        " AND i.song_id = d.song_id)"
        f" WHERE {' AND '.join('d.' + w if w != '1' else w for w in where)} ORDER BY d.id LIMIT ?", (*params, limit))]
