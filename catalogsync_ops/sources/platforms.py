"""Which platform a playlist URL belongs to, by the short names of DOWNLOAD_SOURCES."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from catalogsync_ops.config.settings import KNOWN_SOURCES

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
assert set(OFFLINE_SOURCES) | set(MUSICDL_SOURCES) == set(KNOWN_SOURCES), "keep config/settings.py KNOWN_SOURCES in step"


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
