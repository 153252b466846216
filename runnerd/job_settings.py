"""Each running job's settings (the config revision it was queued under, secrets included) and
its uploader, made once per job and closed when the job finishes."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from catalogsync_ops.config.envfile import check_text
from catalogsync_ops.store.connection import Connection
from catalogsync_ops.transfer.storage import build_uploader


class JobSettings:
    def __init__(self, conn: Callable[[], Connection], env_dir: Path, current: Callable[[], dict[str, Any]]) -> None:
        self._conn, self._env_dir, self._current = conn, env_dir, current
        self._jobs: dict[int, tuple[dict[str, Any], Any]] = {}

    def settings(self, job) -> dict[str, Any]:
        """The job's config: its revision's values, or the runner's when the revision is gone."""
        cached = self._jobs.get(job["id"])
        if cached is None:
            values = None
            if job["config_revision_id"]:
                row = self._conn().execute("SELECT content FROM config_revisions WHERE id = ? AND status = 'applied'",
                                           (job["config_revision_id"],)).fetchone()
                if row is not None:
                    config, _ = check_text(row["content"], self._env_dir)
                    values = config.values if config else None
            cached = self._jobs[job["id"]] = (values or self._current(), None)
        return cached[0]

    def uploader(self, job) -> Any:
        """The job's uploader (None when nothing is backed up), made at its first use."""
        values = self.settings(job)
        _, uploader = self._jobs[job["id"]]
        if uploader is None and values.get("OBJECT_BACKEND_NAME") != "none":
            uploader = build_uploader(values)
            self._jobs[job["id"]] = (values, uploader)
        return uploader

    def close(self, job_id: int) -> None:
        _, uploader = self._jobs.pop(job_id, (None, None))
        if uploader is not None:
            uploader.close()
