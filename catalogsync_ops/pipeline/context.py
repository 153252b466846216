"""What every stage's work is given (a `WorkContext`: the worker's connection, the config values,
a cancel token, a progress callback, its sources) and what it gives back (an `Outcome`), and
which failures another attempt may fix."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from catalogsync_ops.engine import breakers
from catalogsync_ops.errors import Deferred, ErrorClass, SourceError
from catalogsync_ops.library.covers import RecentCovers
from catalogsync_ops.sources import build_source
from catalogsync_ops.sources.base import Source
from catalogsync_ops.store.connection import Connection
from catalogsync_ops.transfer.downloader import (
    CancelToken,
)
from catalogsync_ops.transfer.http import new_session
from catalogsync_ops.transfer.storage.base import Uploader

# Failures that another attempt cannot fix by itself: the item fails at once (a person can retry).
PERMANENT = frozenset({ErrorClass.NOT_FOUND, ErrorClass.NO_MATCH, ErrorClass.UNSUPPORTED, ErrorClass.CONFIG,
                       ErrorClass.AUTH, ErrorClass.HTTP_4XX, ErrorClass.ENCRYPTED, ErrorClass.PREVIEW})
# A download link that stopped working (refused, gone): it may have expired, so it is looked up once more.
STALE_LINK = frozenset({ErrorClass.AUTH, ErrorClass.NOT_FOUND})


def is_retryable(error_class: ErrorClass | str) -> bool:
    """Whether an automatic retry may help."""
    return ErrorClass(error_class) not in PERMANENT


@dataclass
class Outcome:
    """What one item's work produced, for its attempt row."""

    source: str | None = None
    bytes_done: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None  # a reason when there was nothing to do


@dataclass
class WorkContext:
    """Everything a worker thread needs to run items."""

    conn: Connection
    settings: dict[str, Any]
    cancel: CancelToken = field(default_factory=CancelToken)
    progress: Callable[[int, int | None], None] | None = None
    uploader: Uploader | None = None
    session: requests.Session = field(default_factory=new_session)
    _sources: dict[str, Source] = field(default_factory=dict)
    covers: RecentCovers = field(default_factory=RecentCovers)

    def source(self, name: str) -> Source:
        """The source `name`, made once per worker."""
        if name not in self._sources:
            self._sources[name] = build_source(name, settings=self.settings, session=self.session)
        return self._sources[name]

    def breaker(self, name: str) -> breakers.Verdict:
        """Whether the source may be called now (its circuit breaker)."""
        return breakers.check(self.conn, name)

    def call_source(self, name: str, fn: Callable[[], Any]) -> Any:
        """Call a source (through `fn`), recording the outcome in its health and breaker."""
        started = time.monotonic()
        try:
            result = fn()
        except SourceError as exc:
            if exc.error_class is ErrorClass.INCOMPATIBLE:
                # Not the platform's fault, nor the song's: the source waits until it is checked again.
                until = breakers.mark_incompatible(self.conn, name, str(exc))
                raise Deferred(f"{name} is incompatible: {exc}", until) from None
            self._record(name, exc.error_class, str(exc), started, exc)
            raise
        self._record(name, None, None, started)
        return result

    def _record(self, name: str, error_class, error: str | None, started: float,
                exc: SourceError | None = None) -> None:
        take = getattr(self._sources.get(name), "take_services", None)
        if take is not None:
            breakers.record_services(self.conn, name, take())
        coded = exc is not None and exc.code
        breakers.record(self.conn, name, error_class=error_class, error=error, latency_s=time.monotonic() - started,
                        error_code=exc.code if coded else None, error_params=exc.params if coded else None,
                        threshold=int(self.settings.get("SOURCE_BREAKER_FAILURES", 5)),
                        cooldown_s=float(self.settings.get("SOURCE_BREAKER_COOLDOWN_SECONDS", 60)))

    @property
    def library_root(self) -> str:
        return str(self.settings["LIBRARY_DIR"])

    @property
    def looks_ahead(self) -> bool:
        """Whether a source this worker used can look links up ahead (`look_ahead`)."""
        return any(hasattr(source, "resolve_ahead") for source in self._sources.values())

    def close(self) -> None:
        for source in self._sources.values():
            source.close()
        self.session.close()
