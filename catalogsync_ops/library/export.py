"""Playlists for the music player: each playlist as an M3U8 file beside the library.

Navidrome, Jellyfin and most players read `#EXTM3U` files with UTF-8 text and paths relative
to the playlist file. Each file lists the playlist's songs that are in the library, in the
playlist's order; songs not in the library yet are left out and counted in a comment. A file
is written (temp file, fsync, rename) only when its content changed, so a player's library
scan sees no change on a night with nothing new. Files this module wrote carry a
`#CATALOGSYNC:PLAYLIST=<id>` line: a playlist renamed or gone has its old file removed, and
files anyone else put in the folder are never touched.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from catalogsync_ops.fileio import fsync_dir, make_folders
from catalogsync_ops.library.layout import sanitize_component
from catalogsync_ops.store.connection import Connection

MARK = "#CATALOGSYNC:PLAYLIST="
SUFFIX = ".m3u8"
TEMP_SUFFIX = ".tmp"


@dataclass
class ExportSummary:
    folder: str
    playlists: int = 0
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # files of the owner's whose names a playlist has
    songs: int = 0
    missing: int = 0

    def as_dict(self) -> dict:
        return {"folder": self.folder, "playlists": self.playlists, "written": self.written,
                "unchanged": self.unchanged, "removed": self.removed, "kept": self.kept, "songs": self.songs,
                "missing": self.missing}


def _artists(raw: str | None) -> str:
    try:
        names = json.loads(raw or "[]")
    except ValueError:
        return raw or ""
    return ", ".join(names) if isinstance(names, list) else str(names)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())  # a title with a line break must not start a new entry


def playlist_text(title: str, playlist_id: int, songs: list[tuple], folder: Path,
                  library_root: Path) -> tuple[str, int]:
    """The M3U8 text of one playlist and how many of its songs it lists. `songs` holds
    (rel_path or None, title, artists json, duration_s) in playlist order."""
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(title)}", f"{MARK}{playlist_id}"]
    listed = 0
    missing = sum(1 for song in songs if song[0] is None)
    if missing:
        lines.append(f"# {missing} of {len(songs)} songs are not in the library yet")
    for rel_path, song_title, artists, duration in songs:
        if rel_path is None:
            continue
        seconds = int(duration + 0.5) if duration else -1  # whole seconds, halves up
        label = _one_line(f"{_artists(artists)} - {song_title}" if artists and artists != "[]" else song_title)
        lines.append(f"#EXTINF:{seconds},{label}")
        lines.append(os.path.relpath(library_root / rel_path, folder).replace(os.sep, "/"))
        listed += 1
    return "\n".join(lines) + "\n", listed


def write_if_changed(path: Path, text: str) -> bool:
    """Write atomically unless the file holds exactly this text already; True if written."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)  # the player's user reads it
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return True


def _our_file(path: Path) -> int | None:
    """The playlist id in a file this module wrote, else None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for _, line in zip(range(4), handle, strict=False):
                if line.startswith(MARK):
                    return int(line[len(MARK):].strip())
    except (OSError, ValueError):
        return None
    return None


def export_playlists(conn: Connection, library_root: Path, folder: Path) -> ExportSummary:
    """Write every playlist that has songs to `folder`; remove files of ours no playlist owns."""
    make_folders(folder)
    # A write cut off by a kill or a power cut leaves its temp file (".<name>.m3u8.<random>.tmp"):
    # ours, by its name, and never a player's to read.
    for stale in folder.glob(f".*{SUFFIX}.*{TEMP_SUFFIX}"):
        stale.unlink(missing_ok=True)
    summary = ExportSummary(folder=str(folder))
    playlists = conn.execute(
        "SELECT id, COALESCE(NULLIF(title, ''), url) AS title FROM playlists p WHERE EXISTS"
        " (SELECT 1 FROM playlist_songs ps WHERE ps.playlist_id = p.id AND ps.removed_at IS NULL)"
        " ORDER BY id").fetchall()
    # A file of the owner's (no mark of ours, or a link) keeps its name: the playlist takes
    # "<name> (<id>).m3u8" instead, and the summary says which were kept.
    present = {p.name.casefold(): p for p in folder.iterdir() if p.name.casefold().endswith(SUFFIX)}
    theirs = {key for key, p in present.items() if p.is_symlink() or not p.is_file() or _our_file(p) is None}
    taken: set[str] = set(theirs)
    names: dict[int, str] = {}
    for row in playlists:
        name = sanitize_component(row["title"], fallback=f"playlist {row['id']}")
        if (name + SUFFIX).casefold() in theirs:
            summary.kept.append(present[(name + SUFFIX).casefold()].name)
        if (name + SUFFIX).casefold() in taken:  # two playlists of one name (on a case-blind share too)
            name = f"{name} ({row['id']})"
        taken.add((name + SUFFIX).casefold())
        names[row["id"]] = name + SUFFIX
    rows = conn.execute(
        "SELECT ps.playlist_id, f.rel_path, s.title, s.artists, s.duration_s FROM playlist_songs ps"
        " JOIN songs s ON s.id = ps.song_id"
        " LEFT JOIN file_locations f ON f.song_id = ps.song_id AND f.library_root = ? AND f.verified_at IS NOT NULL"
        " WHERE ps.removed_at IS NULL ORDER BY ps.playlist_id, ps.position, ps.song_id", (str(library_root),))
    by_playlist: dict[int, list[tuple]] = {}
    for playlist_id, rel_path, title, artists, duration in rows:
        by_playlist.setdefault(playlist_id, []).append((rel_path, title, artists, duration))
    for row in playlists:
        songs = by_playlist.get(row["id"], [])
        text, listed = playlist_text(row["title"], row["id"], songs, folder, library_root)
        summary.playlists += 1
        summary.songs += listed
        summary.missing += len(songs) - listed
        if write_if_changed(folder / names[row["id"]], text):
            summary.written.append(names[row["id"]])
        else:
            summary.unchanged += 1
    wanted = set(names.values())
    for path in sorted(folder.glob("*" + SUFFIX)):
        if path.name not in wanted and not path.is_symlink() and _our_file(path) is not None:
            path.unlink()
            summary.removed.append(path.name)
    if summary.removed:
        fsync_dir(folder)
    return summary


def export_folder(config) -> Path | None:
    """Where the M3U8 files go (PLAYLIST_EXPORT_DIR, else LIBRARY_DIR/Playlists); None when off."""
    if not config["PLAYLIST_EXPORT"]:
        return None
    return Path(config["PLAYLIST_EXPORT_DIR"] or Path(config["LIBRARY_DIR"]) / "Playlists")
