"""Errors shared by every room of the core and both processes.

`CatalogsyncError` and its subclasses carry the HTTP status the web UI answers with;
`ErrorClass` says why an attempt failed, and `SourceError` is a failure that carries one (raised
by sources, downloads, uploads and tagging alike).
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any, Self


class CatalogsyncError(Exception):
    """Base class: a problem a person can act on; the message says how.

    A coded one (`coded()`) also carries its code and parameters (catalogsync_ops/messages.py):
    what is stored and shown in other languages, the English message being made from them."""

    status = 500
    code: str | None = None
    params: dict[str, Any] = {}  # noqa: RUF012 - replaced per instance by coded()

    @classmethod
    def coded(cls, code: str, **params: Any) -> Self:
        from catalogsync_ops.messages import render

        error = cls(render(code, params))
        error.code, error.params = code, params
        return error


class DatabaseLocationError(CatalogsyncError):
    """The database file is somewhere SQLite in WAL mode cannot safely live."""

    status = 500


class SchemaTooNewError(CatalogsyncError):
    """The database was written by a newer version of the product."""

    status = 500


class NotFound(CatalogsyncError):
    """A job, stage, item, command or revision id that does not exist."""

    status = 404


class TransitionError(CatalogsyncError):
    """A state change that the state machine does not allow from the current state."""

    status = 409


class CommandRejected(CatalogsyncError):
    """A command that makes no sense in the current state; the reason is shown to the person."""

    status = 409


class InvalidCommand(CatalogsyncError):
    """A command whose kind or payload is malformed; it is never written."""

    status = 400


class IdempotencyConflict(InvalidCommand):
    """An idempotency key already used for another command."""

    status = 409


class ConfigError(CatalogsyncError):
    """An env file that does not validate; `problems` lists each line and key at fault."""

    status = 400

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class ErrorClass(StrEnum):
    """Why an attempt failed, so failures can be grouped and retried by kind."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    NOT_FOUND = "not_found"
    NO_MATCH = "no_match"
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"
    DISK_FULL = "disk_full"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    INVALID_AUDIO = "invalid_audio"
    UNSUPPORTED = "unsupported"
    CONFIG = "config"
    INTERRUPTED = "interrupted"
    INTERNAL = "internal"
    PARSE = "parse"  # the platform answered, but not in a form we (or musicdl) can read
    ENCRYPTED = "encrypted"  # an encrypted container (mflac, mgg, ncm, kgm, qmc…) we cannot play
    PREVIEW = "preview"  # a trial clip far shorter than the song (a membership song)
    INCOMPATIBLE = "incompatible"  # the installed musicdl lacks what the adapter uses: work waits


# Failures that say the song itself is not to be had (not a fault of the network, the setup or
# the moment): nights of these in a row make a missing song unavailable (WANTED_GIVE_UP_NIGHTS).
GONE_FOR_GOOD = frozenset({ErrorClass.NOT_FOUND, ErrorClass.NO_MATCH, ErrorClass.ENCRYPTED, ErrorClass.PREVIEW})


class SourceError(Exception):
    """A source could not do what was asked; `error_class` says why, the message how to fix it.

    A coded one (`coded()`) also carries its code and parameters (catalogsync_ops/messages.py):
    the item and its attempt keep them, and the console words the error in the reader's
    language; its English text is made from them. Text from outside (a platform's own message,
    a library's exception) travels as a parameter, shown as written.
    """

    code: str | None = None
    params: dict[str, Any] = {}  # noqa: RUF012 - replaced per instance by coded()

    def __init__(self, message: str, error_class: ErrorClass | str = ErrorClass.INTERNAL, *,
                 source: str | None = None, details: dict | None = None) -> None:
        super().__init__(message)
        self.error_class = ErrorClass(error_class)
        self.source = source
        self.details = details  # what the attempt page shows beside the message (candidates, …)

    @classmethod
    def coded(cls, code: str, error_class: ErrorClass | str = ErrorClass.INTERNAL, *, source: str | None = None,
              details: dict | None = None, **params: Any) -> SourceError:
        from catalogsync_ops.messages import render

        if source is not None:
            params.setdefault("source", source)  # the error's source, and its message's {source}
        error = cls(render(code, params), error_class, source=source, details=details)
        error.code, error.params = code, params
        return error

    def as_param(self) -> dict[str, Any]:
        """This error as another message's parameter: its code and values, or its text."""
        return {"code": self.code, "params": self.params} if self.code else {"text": str(self)}


class Deferred(Exception):
    """Work that must wait, without spending an attempt: its only sources are closed for now."""

    def __init__(self, message: str, until) -> None:
        super().__init__(message)
        self.until = until
