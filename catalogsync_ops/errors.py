"""Error classes shared by the processes; each carries the HTTP status the web UI answers with."""
from __future__ import annotations


class CatalogsyncError(Exception):
    """Base class: a problem a person can act on; the message says how."""

    status = 500


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


class ConfigError(CatalogsyncError):
    """An env file that does not validate; `problems` lists each line and key at fault."""

    status = 400

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])
