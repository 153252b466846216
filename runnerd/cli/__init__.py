"""`runnerd`: the daemon's command line. Everything but `run` reads state and writes commands.

The commands live by group: `jobs.py` (status, listings and every command that steers the
queue), `config.py` (catalogsync.env), `sources.py` (source health and breakers),
`operations.py` (init, run, backup, restore, demo server), `library.py` (playlists for the
player), `wanted.py` (songs the library could not get), `notify.py` (a test notification),
`probe.py`; `base.py` holds the group and what they share.
"""
from __future__ import annotations

from runnerd.cli import config, jobs, library, notify, operations, probe, sources, wanted  # noqa: F401 (each registers its commands)
from runnerd.cli.base import cli

__all__ = ["cli", "main"]


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="runnerd")
