"""Version 1: the catalog and the queue (jobs, stages, items, attempts, workers, commands,
events, logs, config revisions, runners), with the stage counters kept by triggers.

The CHECK lists are written out, not built from the enums: a released migration is frozen."""
from __future__ import annotations

NAME = "initial"

JOB_STATUS_CHECK = (
    "'queued', 'running', 'pause_requested', 'paused', 'cancel_requested', 'completed', "
    "'completed_with_errors', 'failed', 'canceled'"
)
STAGE_STATUS_CHECK = (
    "'pending', 'running', 'pause_requested', 'paused', 'completed', 'completed_with_errors', "
    "'failed', 'canceled', 'skipped'"
)
ITEM_STATUS_CHECK = "'queued', 'running', 'succeeded', 'failed', 'canceled', 'skipped', 'interrupted'"
ERROR_CLASS_CHECK = (
    "'timeout', 'connection', 'http_4xx', 'http_5xx', 'not_found', 'no_match', 'rate_limited', "
    "'auth', 'disk_full', 'checksum_mismatch', 'invalid_audio', 'unsupported', 'config', "
    "'interrupted', 'internal'"
)


SQL = f"""
CREATE TABLE runner_instances (
    id INTEGER PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'stopping', 'stopped', 'gone')),
    config_revision_id INTEGER,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    stopped_at TEXT
);
CREATE INDEX runner_instances_status_idx ON runner_instances (status, id);

-- One row: the runner-wide pause survives restarts of the daemon.
CREATE TABLE runner_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_at TEXT,
    pause_reason TEXT
);
INSERT INTO runner_state (id, paused) VALUES (1, 0);

CREATE TABLE config_revisions (
    id INTEGER PRIMARY KEY,
    file_path TEXT NOT NULL,
    content TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    source TEXT NOT NULL
        CHECK (source IN ('init', 'ui', 'cli', 'api', 'external', 'rollback', 'startup')),
    status TEXT NOT NULL CHECK (status IN ('applied', 'invalid')),
    problems_json TEXT,
    note TEXT,
    rollback_of INTEGER REFERENCES config_revisions (id),
    command_id INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX config_revisions_status_idx ON config_revisions (status, id);

CREATE TABLE playlist_pools (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    origin TEXT NOT NULL DEFAULT 'file' CHECK (origin IN ('file', 'ui')),
    source_path TEXT,
    last_collected_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE playlists (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    url TEXT NOT NULL UNIQUE,
    external_id TEXT,
    title TEXT,
    track_count INTEGER,
    last_synced_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX playlists_platform_idx ON playlists (platform, external_id);

CREATE TABLE pool_playlists (
    pool_id INTEGER NOT NULL REFERENCES playlist_pools (id) ON DELETE CASCADE,
    playlist_id INTEGER NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    position INTEGER NOT NULL DEFAULT 0,
    line_no INTEGER,
    removed_at TEXT,
    PRIMARY KEY (pool_id, playlist_id)
);
CREATE INDEX pool_playlists_playlist_idx ON pool_playlists (playlist_id);

CREATE TABLE songs (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    external_id TEXT NOT NULL,
    title TEXT NOT NULL,
    artists TEXT NOT NULL DEFAULT '',
    album TEXT,
    duration_s REAL,
    track_no INTEGER,
    cover_url TEXT,
    extra_json TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (platform, external_id)
);
CREATE INDEX songs_title_idx ON songs (title);

CREATE TABLE playlist_songs (
    playlist_id INTEGER NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    song_id INTEGER NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    added_at TEXT NOT NULL,
    removed_at TEXT,
    PRIMARY KEY (playlist_id, song_id)
);
CREATE INDEX playlist_songs_song_idx ON playlist_songs (song_id);

CREATE TABLE file_locations (
    id INTEGER PRIMARY KEY,
    song_id INTEGER NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
    library_root TEXT NOT NULL,
    rel_path TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    format TEXT,
    source TEXT,
    verified_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (library_root, rel_path)
);
CREATE INDEX file_locations_song_idx ON file_locations (song_id);

CREATE TABLE upload_tasks (
    id INTEGER PRIMARY KEY,
    file_location_id INTEGER NOT NULL REFERENCES file_locations (id) ON DELETE CASCADE,
    backend TEXT NOT NULL,
    bucket TEXT NOT NULL DEFAULT '',
    object_key TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'uploading', 'uploaded', 'failed')),
    size_bytes INTEGER,
    etag TEXT,
    checksum_sha256 TEXT,
    multipart_upload_id TEXT,
    parts_json TEXT,
    last_error TEXT,
    uploaded_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (file_location_id, backend, bucket, object_key)
);
CREATE INDEX upload_tasks_status_idx ON upload_tasks (backend, status);

CREATE TABLE job_runs (
    id INTEGER PRIMARY KEY,
    job_type TEXT NOT NULL
        CHECK (job_type IN ('full_pipeline', 'collect', 'sync', 'download', 'upload')),
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ({JOB_STATUS_CHECK})),
    priority INTEGER NOT NULL DEFAULT 0,
    scope_json TEXT NOT NULL DEFAULT '{{}}',
    config_revision_id INTEGER REFERENCES config_revisions (id),
    config_snapshot_json TEXT NOT NULL DEFAULT '{{}}',
    command_id INTEGER,
    note TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX job_runs_status_priority_idx ON job_runs (status, priority DESC, id);

CREATE TABLE job_stages (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    seq_no INTEGER NOT NULL,
    stage_type TEXT NOT NULL CHECK (stage_type IN ('collect', 'sync', 'download', 'upload')),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ({STAGE_STATUS_CHECK})),
    -- Per-status item counters, kept in the same transaction as every item transition.
    n_queued INTEGER NOT NULL DEFAULT 0,
    n_running INTEGER NOT NULL DEFAULT 0,
    n_succeeded INTEGER NOT NULL DEFAULT 0,
    n_failed INTEGER NOT NULL DEFAULT 0,
    n_canceled INTEGER NOT NULL DEFAULT 0,
    n_skipped INTEGER NOT NULL DEFAULT 0,
    n_interrupted INTEGER NOT NULL DEFAULT 0,
    materialized_at TEXT,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL,
    UNIQUE (job_id, seq_no)
);

CREATE TABLE job_items (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    stage_id INTEGER NOT NULL REFERENCES job_stages (id) ON DELETE CASCADE,
    item_type TEXT NOT NULL CHECK (item_type IN ('pool', 'playlist', 'song', 'upload', 'noop')),
    item_key TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ({ITEM_STATUS_CHECK})),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    playlist_pool_id INTEGER,
    playlist_id INTEGER,
    song_id INTEGER,
    file_location_id INTEGER,
    upload_task_id INTEGER,
    display_text TEXT,
    payload_json TEXT,
    runner_instance_id INTEGER,
    worker_id INTEGER,
    last_error TEXT,
    last_error_class TEXT CHECK (last_error_class IS NULL OR last_error_class IN ({ERROR_CLASS_CHECK})),
    last_source TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL,
    UNIQUE (stage_id, item_key)
);
-- Claim: the oldest due queued item of a stage.
CREATE INDEX job_items_claim_idx ON job_items (stage_id, status, next_attempt_at, id);
-- Job detail: items of a job by status, keyset-paginated by id.
CREATE INDEX job_items_job_status_idx ON job_items (job_id, status, id);

-- Stage counters follow every item insert, status change and delete, in the same transaction.
CREATE TRIGGER job_items_count_insert AFTER INSERT ON job_items BEGIN
    UPDATE job_stages SET
        n_queued = n_queued + (NEW.status = 'queued'),
        n_running = n_running + (NEW.status = 'running'),
        n_succeeded = n_succeeded + (NEW.status = 'succeeded'),
        n_failed = n_failed + (NEW.status = 'failed'),
        n_canceled = n_canceled + (NEW.status = 'canceled'),
        n_skipped = n_skipped + (NEW.status = 'skipped'),
        n_interrupted = n_interrupted + (NEW.status = 'interrupted')
    WHERE id = NEW.stage_id;
END;
CREATE TRIGGER job_items_count_update AFTER UPDATE OF status ON job_items
WHEN OLD.status <> NEW.status BEGIN
    UPDATE job_stages SET
        n_queued = n_queued - (OLD.status = 'queued') + (NEW.status = 'queued'),
        n_running = n_running - (OLD.status = 'running') + (NEW.status = 'running'),
        n_succeeded = n_succeeded - (OLD.status = 'succeeded') + (NEW.status = 'succeeded'),
        n_failed = n_failed - (OLD.status = 'failed') + (NEW.status = 'failed'),
        n_canceled = n_canceled - (OLD.status = 'canceled') + (NEW.status = 'canceled'),
        n_skipped = n_skipped - (OLD.status = 'skipped') + (NEW.status = 'skipped'),
        n_interrupted = n_interrupted - (OLD.status = 'interrupted') + (NEW.status = 'interrupted')
    WHERE id = NEW.stage_id;
END;
CREATE TRIGGER job_items_count_delete AFTER DELETE ON job_items BEGIN
    UPDATE job_stages SET
        n_queued = n_queued - (OLD.status = 'queued'),
        n_running = n_running - (OLD.status = 'running'),
        n_succeeded = n_succeeded - (OLD.status = 'succeeded'),
        n_failed = n_failed - (OLD.status = 'failed'),
        n_canceled = n_canceled - (OLD.status = 'canceled'),
        n_skipped = n_skipped - (OLD.status = 'skipped'),
        n_interrupted = n_interrupted - (OLD.status = 'interrupted')
    WHERE id = OLD.stage_id;
END;

CREATE TABLE item_attempts (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES job_items (id) ON DELETE CASCADE,
    attempt_no INTEGER NOT NULL,
    runner_instance_id INTEGER,
    worker_id INTEGER,
    source TEXT,
    outcome TEXT NOT NULL DEFAULT 'running'
        CHECK (outcome IN ('running', 'succeeded', 'failed', 'interrupted', 'canceled', 'skipped')),
    error_class TEXT CHECK (error_class IS NULL OR error_class IN ({ERROR_CLASS_CHECK})),
    error TEXT,
    details_json TEXT,
    bytes_done INTEGER,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_ms INTEGER
);
CREATE UNIQUE INDEX item_attempts_item_attempt_idx ON item_attempts (item_id, attempt_no);

CREATE TABLE job_workers (
    id INTEGER PRIMARY KEY,
    runner_instance_id INTEGER NOT NULL REFERENCES runner_instances (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    stage_type TEXT CHECK (stage_type IS NULL OR stage_type IN ('collect', 'sync', 'download', 'upload')),
    state TEXT NOT NULL DEFAULT 'starting'
        CHECK (state IN ('starting', 'idle', 'busy', 'stopping', 'stopped', 'dead')),
    job_id INTEGER,
    stage_id INTEGER,
    item_id INTEGER,
    song_id INTEGER,
    playlist_id INTEGER,
    display_text TEXT,
    bytes_done INTEGER,
    bytes_total INTEGER,
    speed_bps REAL,
    item_started_at TEXT,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    UNIQUE (runner_instance_id, name)
);

CREATE TABLE job_commands (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN (
        'enqueue_job', 'pause_job', 'resume_job', 'cancel_job', 'retry_item',
        'retry_failed_items', 'reprioritize_job', 'pause_runner', 'resume_runner',
        'apply_config', 'rollback_config')),
    payload_json TEXT NOT NULL DEFAULT '{{}}',
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'rejected')),
    idempotency_key TEXT UNIQUE,
    origin TEXT NOT NULL DEFAULT 'cli',
    requested_by TEXT,
    result_json TEXT,
    reject_reason TEXT,
    runner_instance_id INTEGER,
    created_at TEXT NOT NULL,
    applied_at TEXT
);
CREATE INDEX job_commands_pending_idx ON job_commands (id) WHERE status = 'pending';

CREATE TABLE job_events (
    id INTEGER PRIMARY KEY,
    job_id INTEGER REFERENCES job_runs (id) ON DELETE CASCADE,
    stage_id INTEGER,
    item_id INTEGER,
    command_id INTEGER,
    kind TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    message TEXT,
    data_json TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX job_events_job_idx ON job_events (job_id, id);

CREATE TABLE job_logs (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    level TEXT NOT NULL,
    logger TEXT NOT NULL,
    job_id INTEGER,
    item_id INTEGER,
    runner_instance_id INTEGER,
    message TEXT NOT NULL,
    traceback TEXT
);
CREATE INDEX job_logs_job_idx ON job_logs (job_id, id);
CREATE INDEX job_logs_level_idx ON job_logs (level, id);
CREATE INDEX job_logs_created_idx ON job_logs (created_at);
"""
