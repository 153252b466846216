"""Cover art for tagging: fetched by URL, the last few kept (an album's songs share one)."""
from __future__ import annotations

import threading
from collections import OrderedDict

import requests

COVERS_KEPT = 16
COVERS_MAX_BYTES = 2 * 2**20
COVER_MAX_BYTES = 5 * 2**20  # a bigger "cover" is not one


class RecentCovers:
    """The covers a worker fetched last, by URL: the songs of one album share one cover, and a
    playlist or a library often holds several of them in a row, so it is asked for once, not per
    song. Bounded (COVERS_KEPT pictures, COVERS_MAX_BYTES in all): the runner stays small."""

    def __init__(self) -> None:
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str) -> bytes | None:
        with self._lock:
            data = self._kept.get(url)
            if data is not None:
                self._kept.move_to_end(url)
            return data

    def put(self, url: str, data: bytes) -> None:
        with self._lock:
            self._kept[url] = data
            self._kept.move_to_end(url)
            while len(self._kept) > COVERS_KEPT or sum(map(len, self._kept.values())) > COVERS_MAX_BYTES:
                self._kept.popitem(last=False)


def fetch_cover(session: requests.Session, url: str | None, kept: RecentCovers, *, timeout: float) -> bytes | None:
    """The picture at `url` (from `kept` when it was fetched lately); None when there is none or
    it cannot be had: a missing cover never fails a song."""
    if not url:
        return None
    data = kept.get(url)
    if data is not None:
        return data
    try:
        response = session.get(url, timeout=timeout)
        if response.ok and len(response.content) < COVER_MAX_BYTES:
            kept.put(url, response.content)
            return response.content
    except requests.RequestException:
        pass
    return None
