"""Playlist pools: every *.txt file in INPUT_DIR lists playlist URLs, one per line."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from catalogsync_ops.sources.platforms import platform_for_url, why_unsupported

MAX_URL_CHARS = 2000  # browsers' and most servers' own limit on a URL


@dataclass(frozen=True)
class PoolEntry:
    line_no: int
    url: str
    platform: str


@dataclass(frozen=True)
class PoolProblem:
    line_no: int
    text: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.message}"


def pool_files(input_dir: Path) -> list[Path]:
    """The pool files of INPUT_DIR, by name (hidden files and editor backups skipped)."""
    if not input_dir.is_dir():
        return []
    return sorted(p for p in input_dir.glob("*.txt") if p.is_file() and not p.name.startswith("."))


def pool_path(input_dir: Path, name: str) -> Path | None:
    """The file of the pool `name`: only a pool INPUT_DIR lists (a name that is a path, absolute
    or with `..`, names none)."""
    return next((p for p in pool_files(input_dir) if pool_name(p) == name), None)


def pool_name(path: Path) -> str:
    """A pool is named after its file: 'chinese.txt' -> 'chinese'."""
    return path.stem


def read_pool(path: Path) -> tuple[list[PoolEntry], list[PoolProblem]]:
    """The playlist URLs of a pool file, and its lines that are not usable (with why)."""
    entries: list[PoolEntry] = []
    problems: list[PoolProblem] = []
    seen: set[str] = set()
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    for line_no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        url = line.split()[0]
        if len(url) > MAX_URL_CHARS:
            problems.append(PoolProblem(line_no, line[:80], f"{line[:80]!r}… is {len(url)} characters long; a "
                                        f"playlist URL is at most {MAX_URL_CHARS}"))
            continue
        looks_like_url = "://" in url or url.lower().endswith((".m3u", ".m3u8"))
        if not looks_like_url:
            problems.append(PoolProblem(line_no, line[:300], f"{line[:80]!r} is not a playlist URL"))
            continue
        platform = platform_for_url(url)
        if platform is None:
            problems.append(PoolProblem(line_no, line[:300], why_unsupported(url)[:300]))
            continue
        if url in seen:
            continue
        seen.add(url)
        entries.append(PoolEntry(line_no, url, platform))
    return entries, problems
