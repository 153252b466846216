"""Where a song lands in LIBRARY_DIR: DOWNLOAD_LAYOUT rendered with names safe on Windows/SMB."""
from __future__ import annotations

import os
import re
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.fileio import make_folders

_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
MAX_COMPONENT_BYTES = 180  # SMB and most file systems allow 255; leave room for " (2)" and ".part"


def sanitize_component(text: str, *, fallback: str = "_") -> str:
    """One path component safe on Windows, SMB shares and Linux alike."""
    text = unicodedata.normalize("NFC", str(text or ""))
    text = _FORBIDDEN.sub("_", text).strip().rstrip(". ")
    if not text or text in (".", ".."):
        text = fallback
    if text.split(".")[0].upper() in _RESERVED:
        text = "_" + text
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_COMPONENT_BYTES:
        text = encoded[:MAX_COMPONENT_BYTES].decode("utf-8", errors="ignore").rstrip(". ") or fallback
    return text


def render_layout(template: str, fields: dict[str, object]) -> str:
    """The relative path (with '/') for a song; each field is sanitised as a path component."""
    safe = {key: sanitize_component(str(value) if value not in (None, "") else "Unknown")
            for key, value in fields.items()}
    ext = safe.get("ext", "bin").lower()
    safe["ext"] = ext
    rendered = template.format(**safe)
    parts = [p for p in PurePosixPath(rendered).parts if p not in ("", "/", ".", "..")]
    stem_parts, last = parts[:-1], parts[-1]
    stem = last[: -(len(ext) + 1)] if last.endswith("." + ext) else last
    last = sanitize_component(stem) + "." + ext
    return "/".join([sanitize_component(p) for p in stem_parts] + [last])


LYRICS_SUFFIX = ".lrc"


def lyrics_beside(rel_path: str) -> str:
    """Where a song's lyrics go: beside it, with the same name and `.lrc` (what players look for)."""
    name_start = rel_path.rfind("/") + 1
    dot = rel_path.rfind(".")
    return (rel_path[:dot] if dot > name_start else rel_path) + LYRICS_SUFFIX


def with_suffix_number(rel_path: str, n: int) -> str:
    """'a/b.mp3' -> 'a/b (n).mp3'."""
    path = PurePosixPath(rel_path)
    return str(path.with_name(f"{path.stem} ({n}){path.suffix}"))


def resolve_collision(rel_path: str, is_free: Callable[[str], bool], *, limit: int = 100) -> str:
    """The first of rel_path, 'name (2).ext', 'name (3).ext', … that `is_free` accepts."""
    if is_free(rel_path):
        return rel_path
    for n in range(2, limit + 2):
        candidate = with_suffix_number(rel_path, n)
        if is_free(candidate):
            return candidate
    raise RuntimeError(f"more than {limit} songs want the path {rel_path!r}; change DOWNLOAD_LAYOUT")


def check_inside(root: Path, dest: Path, *own: Path) -> None:
    """Refuse to write `dest` when its folder, links followed, is not inside LIBRARY_DIR `root`,
    or when `dest` or one of the product's own files beside it (`own`: its part file, sidecars)
    is a symbolic link: a link planted in the library never makes a download or a repair write
    outside it. Nothing is removed: the reason names the link to remove."""
    library = root.resolve()
    folder = dest.parent.resolve()
    if folder != library and library not in folder.parents:
        raise SourceError.coded("outside_library", ErrorClass.CONFIG, path=str(dest), library=str(root))
    for path in (dest, *own):
        if path.is_symlink():
            raise SourceError.coded("symlink_in_library", ErrorClass.CONFIG, path=str(path))


KEPT_DIR = ".catalogsync/kept"  # hidden: music servers and the orphan walk pass it by


def set_aside(root: Path, rel_path: str) -> Path:
    """Move a library file someone changed out of the way, into LIBRARY_DIR/.catalogsync/kept/
    under its own path with the time added, so a fresh download never overwrites it."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    rel = PurePosixPath(rel_path)
    target = root / KEPT_DIR / rel.parent / f"{rel.stem}.{stamp}{rel.suffix}"
    n = 1
    while target.exists():
        n += 1
        target = target.with_name(f"{rel.stem}.{stamp}-{n}{rel.suffix}")
    make_folders(target.parent)
    os.replace(root / rel_path, target)
    return target
