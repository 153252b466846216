"""The order test files start in: the longest first, so that no long file starts last and keeps
the whole run waiting on one worker. pytest-xdist hands files to workers in collection order
(deploy/run-tests.sh turns off its own reordering, by count of tests, which put one-test files
of half a minute last). Each file's seconds are in tests/file_seconds.json, written by a run
with CATALOGSYNC_RECORD_SECONDS=1; a file it does not name (a new one) starts after those it
does, the files with more tests first."""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

SECONDS_FILE = Path(__file__).resolve().parent.parent / "file_seconds.json"
RECORD = os.environ.get("CATALOGSYNC_RECORD_SECONDS", "") == "1"
_recorded: Counter[str] = Counter()


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(session, config, items) -> None:
    known = json.loads(SECONDS_FILE.read_text(encoding="utf-8")) if SECONDS_FILE.exists() else {}
    counts = Counter(_file(item.nodeid) for item in items)
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        first.setdefault(_file(item.nodeid), index)
    items.sort(key=lambda item: (-float(known.get(_file(item.nodeid), -1)), -counts[_file(item.nodeid)],
                                 first[_file(item.nodeid)]))


def pytest_runtest_logreport(report) -> None:
    if RECORD:
        _recorded[_file(report.nodeid)] += report.duration


def pytest_sessionfinish(session, exitstatus) -> None:
    # The controller (or a run without workers) writes it: workers' reports reach it too.
    if RECORD and _recorded and not hasattr(session.config, "workerinput"):
        seconds = {name: round(value, 1) for name, value in sorted(_recorded.items())}
        SECONDS_FILE.write_text(json.dumps(seconds, indent=1) + "\n", encoding="utf-8")
