"""What the console and the API read of the catalog: pools, playlists, songs. Keyset-paginated,
reading the runner's kept counts, never walking the catalog on a page view."""
from __future__ import annotations

from typing import Any

from catalogsync_ops.store.connection import Connection


def pools_with_counts(conn: Connection) -> list[Any]:
    """Every playlist pool with how many playlists it lists now."""
    return conn.execute(
        "SELECT p.*, (SELECT COUNT(*) FROM pool_playlists pp WHERE pp.pool_id = p.id AND pp.removed_at IS NULL) AS n"
        " FROM playlist_pools p ORDER BY p.name").fetchall()


def playlist_page(conn: Connection, *, after_id: int = 0, limit: int = 50) -> list[Any]:
    """Playlists by id, keyset-paginated."""
    return conn.execute("SELECT * FROM playlists WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()


def unresolved_of_page(conn: Connection, *, after_id: int = 0, limit: int = 50, most: int = 500) -> list[Any]:
    """The entries the playlists of one page listed but no song could be made of."""
    return conn.execute(
        "SELECT u.*, p.title AS playlist_title FROM playlist_unresolved u JOIN playlists p ON p.id = u.playlist_id"
        " WHERE u.playlist_id IN (SELECT id FROM playlists WHERE id > ? ORDER BY id LIMIT ?)"
        " ORDER BY u.playlist_id, COALESCE(u.position, 1e9), u.id LIMIT ?", (after_id, limit, most)).fetchall()


def get_playlist(conn: Connection, playlist_id: int) -> Any:
    """One playlist's row, or None."""
    return conn.execute("SELECT * FROM playlists WHERE id = ?", (playlist_id,)).fetchone()


def find_songs(conn: Connection, text: str, *, after_id: int = 0, limit: int = 50) -> list[Any]:
    """Songs whose title, artists or album hold `text`, with their file and uploads; by id."""
    like = f"%{text}%"
    return conn.execute(
        "SELECT s.*, f.rel_path, f.verified_at, f.codec, f.quality, f.bitrate_kbps, f.sample_rate, f.bit_depth,"
        " f.spectrum, f.cutoff_hz,"
        " (SELECT GROUP_CONCAT(u.backend || ':' || u.status) FROM upload_tasks u WHERE u.file_location_id = f.id)"
        " AS uploads FROM songs s LEFT JOIN file_locations f ON f.song_id = s.id"
        " WHERE (s.title LIKE ? OR s.artists LIKE ? OR s.album LIKE ?) AND s.id > ? ORDER BY s.id LIMIT ?",
        (like, like, like, after_id, limit)).fetchall()


def files_below(conn: Connection, library_root: str, rungs: tuple[str, ...], *, after_song: int = 0,
                limit: int = 50) -> list[Any]:
    """Library files on one of `rungs` or never read (what an upgrade looks at), with their
    song and when a better copy was last looked for; by song id, keyset-paginated."""
    marks = ", ".join("?" for _ in rungs) or "NULL"
    return conn.execute(
        "SELECT s.id AS song_id, s.title, s.artists, s.platform, f.rel_path, f.codec, f.quality, f.bitrate_kbps,"
        " f.sample_rate, f.bit_depth, f.spectrum, f.cutoff_hz, f.upgrade_checked_at"
        " FROM file_locations f JOIN songs s ON s.id = f.song_id"
        f" WHERE +f.library_root = ? AND f.verified_at IS NOT NULL AND (f.quality IS NULL OR f.quality IN ({marks}))"
        " AND f.song_id > ? ORDER BY f.song_id LIMIT ?", (library_root, *rungs, after_song, limit)).fetchall()
