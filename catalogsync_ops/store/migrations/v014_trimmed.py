"""Version 14: history in two steps. HISTORY_DETAIL_DAYS after a job finished, what went right
and the step-by-step item events go, and so does a song's repeated failure (the wanted list
keeps the song: since when, how many nights, the last reason); `job_runs.trimmed_at` says when.
The first failure of each song and the job's summary stay until HISTORY_RETENTION_DAYS.
"""
from __future__ import annotations

NAME = "trimmed"

SQL = """
ALTER TABLE job_runs ADD COLUMN trimmed_at TEXT;
CREATE INDEX job_runs_trimmable_idx ON job_runs (finished_at) WHERE trimmed_at IS NULL AND finished_at IS NOT NULL;
"""
