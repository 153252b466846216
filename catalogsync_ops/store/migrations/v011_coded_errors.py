"""Version 11: why an attempt failed, kept as a code and its parameters.

`job_items.last_error_code`, `last_error_params_json`, `item_attempts.error_code`,
`error_params_json` and `source_health.last_error_code`, `last_error_params_json`: a coded
`SourceError` (catalogsync_ops/messages.py) keeps its code and values beside the English text
(`last_error`, `error`), so the console words it in the reader's language. Failures recorded
before this version, and uncoded ones (an unexpected exception), keep only their text.
"""
from __future__ import annotations

NAME = "coded_errors"

SQL = """
ALTER TABLE job_items ADD COLUMN last_error_code TEXT;
ALTER TABLE job_items ADD COLUMN last_error_params_json TEXT;
ALTER TABLE item_attempts ADD COLUMN error_code TEXT;
ALTER TABLE item_attempts ADD COLUMN error_params_json TEXT;
ALTER TABLE source_health ADD COLUMN last_error_code TEXT;
ALTER TABLE source_health ADD COLUMN last_error_params_json TEXT;
"""
