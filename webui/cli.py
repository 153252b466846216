"""`catalogsync-web`: the web process's command line."""
from __future__ import annotations

import click

from catalogsync_ops import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="catalogsync-web")
def cli() -> None:
    """The Catalogsync operations console (web UI)."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="catalogsync-web")
