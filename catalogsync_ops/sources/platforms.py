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
    "qq": ("y.qq.com", "i.y.qq.com", "c.y.qq.com", "music.qq.com"),
    "netease": ("music.163.com", "y.music.163.com", "163cn.tv"),
    "kuwo": ("kuwo.cn", "www.kuwo.cn", "m.kuwo.cn"),
    "migu": ("music.migu.cn", "m.music.migu.cn", "c.migu.cn", "h5.nf.migu.cn"),
    "kugou": ("kugou.com", "www.kugou.com", "m.kugou.com"),
    "qianqian": ("music.91q.com", "music.taihe.com", "music.baidu.com"),
    "joox": ("joox.com", "www.joox.com"),
}
# Hosts under a platform's domain that musicdl treats as another platform we do not offer.
FOREIGN_HOSTS = {"bodian.kuwo.cn": "Kuwo's Bodian app (musicdl reads it as a platform of its own)",
                 "lizhi.fm": "Lizhi, an audiobook platform", "ximalaya.com": "Ximalaya, an audiobook platform"}

assert set(OFFLINE_SOURCES) | set(MUSICDL_SOURCES) == set(KNOWN_SOURCES), \
    "keep config/settings.py KNOWN_SOURCES in step"


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
    if any(host == h or host.endswith("." + h) for h in FOREIGN_HOSTS):
        return None
    for name, hosts in MUSICDL_SOURCES.items():
        if any(host == h or host.endswith("." + h) for h in hosts):
            return name
    return None


def why_unsupported(url: str) -> str:
    """Why a pool line is no playlist we can read, in words for the pool's problem list."""
    host = (urlsplit(url.strip()).hostname or "").lower()
    for foreign, what in FOREIGN_HOSTS.items():
        if host == foreign or host.endswith("." + foreign):
            return f"{url[:100]!r} is a link of {what}, which is not supported"
    return (f"no source supports {url[:100]!r} (supported: demo playlists, .m3u/.m3u8 files, and with the musicdl "
            "extra qq, netease, kuwo, migu, kugou, qianqian, joox and fivesing playlists)")
