"""Sources by the short names used in DOWNLOAD_SOURCES and pool URLs.

`demo`, `demo2` and `m3u` are built in; the platform sources (`qq`, `netease`, …) come through
the optional `musicdl` extra and are only imported when used.
"""
from __future__ import annotations

import importlib.util
import re
from typing import Any
from urllib.parse import urlsplit

from catalogsync_ops.config.settings import KNOWN_SOURCES
from catalogsync_ops.sources.base import PlaylistInfo, Resolved, Source, Track
from catalogsync_ops.errors import SourceError
from catalogsync_ops.errors import ErrorClass

__all__ = ["PlaylistInfo", "Resolved", "Source", "SourceError", "Track", "build_source", "platform_for_url",
           "MUSICDL_SOURCES", "OFFLINE_SOURCES"]

OFFLINE_SOURCES = ("demo", "demo2", "m3u")

# Platform sources reached through musicdl, with the hosts their playlist URLs live on.
# Order matters: fivesing's host is a subdomain of kugou's.
MUSICDL_SOURCES: dict[str, tuple[str, ...]] = {
    "fivesing": ("5sing.kugou.com",),
    "qq": ("y.qq.com", "i.y.qq.com", "c.y.qq.com"),
    "netease": ("music.163.com", "y.music.163.com", "163cn.tv"),
    "kuwo": ("kuwo.cn", "www.kuwo.cn", "m.kuwo.cn"),
    "migu": ("music.migu.cn", "m.music.migu.cn", "c.migu.cn"),
    "kugou": ("kugou.com", "www.kugou.com", "m.kugou.com"),
    "qianqian": ("music.91q.com", "music.taihe.com"),
    "joox": ("joox.com", "www.joox.com"),
    "lizhi": ("lizhi.fm", "www.lizhi.fm"),
    "ximalaya": ("ximalaya.com", "www.ximalaya.com"),
}
assert set(OFFLINE_SOURCES) | set(MUSICDL_SOURCES) == set(KNOWN_SOURCES), "keep config.KNOWN_SOURCES in step"


def musicdl_available() -> bool:
    """Whether the optional musicdl extra is installed."""
    return importlib.util.find_spec("musicdl") is not None


def platform_for_url(url: str) -> str | None:
    """The source name a playlist URL belongs to, or None when nobody supports it."""
    parts = urlsplit(url.strip())
    path = parts.path if parts.scheme else url
    if path.lower().endswith((".m3u", ".m3u8")):
        return "m3u"
    for name in ("demo2", "demo"):
        if parts.scheme in ("http", "https") and re.fullmatch(rf"/{name}/playlist/\w+/?", parts.path):
            return name
    host = (parts.hostname or "").lower()
    for name, hosts in MUSICDL_SOURCES.items():
        if any(host == h or host.endswith("." + h) for h in hosts):
            return name
    return None


def build_source(name: str, *, settings: dict[str, Any] | None = None, session=None) -> Source:
    """Make the source `name`; `settings` are config values (DEMO_BASE_URL, HTTP_TIMEOUT_SECONDS)."""
    settings = settings or {}
    timeout = float(settings.get("HTTP_TIMEOUT_SECONDS", 30))
    if name in ("demo", "demo2"):
        from catalogsync_ops.sources.demo import DemoSource

        return DemoSource(name, base_url=settings.get("DEMO_BASE_URL") or "http://127.0.0.1:8765",
                          session=session, timeout=timeout)
    if name == "m3u":
        from catalogsync_ops.sources.m3u import M3USource

        return M3USource(session=session, timeout=timeout)
    if name in MUSICDL_SOURCES:
        if not musicdl_available():
            raise SourceError(
                f"the {name!r} source needs the musicdl extra: pip install 'catalogsync-ops[musicdl]' "
                "(into the same venv as runnerd), then restart runnerd", ErrorClass.CONFIG)
        from catalogsync_ops.sources.musicdl_source import MusicdlSource

        return MusicdlSource(name, timeout=timeout)
    raise SourceError(f"unknown source {name!r}; known sources: {', '.join(KNOWN_SOURCES)}", ErrorClass.CONFIG)
