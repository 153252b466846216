"""A separate process that downloads one URL to a final path (killed at random by a test).

Usage: python -m tests.helpers.download_one URL DEST
"""
from __future__ import annotations

import sys
from pathlib import Path

import requests

from catalogsync_ops.transfer.downloader import download_to


def main() -> None:
    url, dest = sys.argv[1], Path(sys.argv[2])
    with requests.Session() as session:
        download_to(url, dest, session=session, verify_audio=False, chunk_size=64 * 1024)


if __name__ == "__main__":
    main()
