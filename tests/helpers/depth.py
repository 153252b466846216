"""How far the generated-input tests go. CI runs them in full (`CATALOGSYNC_TESTS=full`, set by
`.ci/run`); a run on a person's machine goes a quarter of the way, with the same fixed seeds, so
that the suite stays a matter of minutes. Each test that generates inputs asks `examples(n)`
with its full count; bounds that grow with the walk scale with `share()`."""
from __future__ import annotations

import os

FULL = os.environ.get("CATALOGSYNC_TESTS", "").strip().lower() == "full"
QUICK_SHARE = 0.25


def share() -> float:
    """The part of each full walk this run takes (1.0 in CI)."""
    return 1.0 if FULL else QUICK_SHARE


def examples(full: int, *, least: int = 10) -> int:
    """How many examples a test whose full run takes `full` makes in this run."""
    return full if FULL else max(least, round(full * QUICK_SHARE))
