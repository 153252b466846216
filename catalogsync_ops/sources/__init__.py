"""Sources by the short names used in DOWNLOAD_SOURCES and pool URLs.

`demo`, `demo2` and `m3u` are built in; the platform sources (`qq`, `netease`, …) come through
the optional `musicdl` extra and are only imported when used.
"""
from __future__ import annotations

import importlib.util
from typing import Any

from catalogsync_ops.config.settings import KNOWN_SOURCES
from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.sources.base import Source
from catalogsync_ops.sources.platforms import MUSICDL_SOURCES


def musicdl_available() -> bool:
    """Whether the optional musicdl extra is installed."""
    return importlib.util.find_spec("musicdl") is not None


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
        from catalogsync_ops.sources.host import HostedSource

        # musicdl runs in the source host, a supervised process of its own (sources/host.py).
        return HostedSource(name, timeout=timeout, rate=float(settings.get("PLATFORM_REQUESTS_PER_SECOND", 4)),
                            concurrency=int(settings.get("PLATFORM_MAX_CONCURRENT_REQUESTS", 2)),
                            link_services=str(settings.get("PLATFORM_LINK_SERVICES") or "official_first"),
                            processes=int(settings.get("SOURCE_HOST_PROCESSES", 1)),
                            lyrics=settings.get("LYRICS", "both") != "off")
    raise SourceError(f"unknown source {name!r}; known sources: {', '.join(KNOWN_SOURCES)}", ErrorClass.CONFIG)
