"""What travels between the runner and its source host (`host.py`, `host_main.py`): tracks,
playlists, links and errors as plain JSON values, one call or answer per line."""
from __future__ import annotations

from typing import Any

from catalogsync_ops.errors import SourceError
from catalogsync_ops.messages import Said, as_param
from catalogsync_ops.sources.base import PlaylistInfo, Resolved, Track, Unresolved


def track_to_wire(track: Track) -> dict[str, Any]:
    return {"platform": track.platform, "external_id": track.external_id, "title": track.title,
            "artists": list(track.artists), "album": track.album, "duration_s": track.duration_s,
            "track_no": track.track_no, "cover_url": track.cover_url, "extra": dict(track.extra)}


def track_from_wire(data: dict[str, Any]) -> Track:
    return Track(data["platform"], data["external_id"], data["title"], tuple(data.get("artists") or ()),
                 data.get("album"), data.get("duration_s"), data.get("track_no"), data.get("cover_url"),
                 extra=dict(data.get("extra") or {}))


def _unresolved_to_wire(entry: Unresolved) -> dict[str, Any]:
    return {"external_id": entry.external_id, "title": entry.title, "reason": entry.reason,
            "position": entry.position}


def playlist_to_wire(info: PlaylistInfo) -> dict[str, Any]:
    return {"platform": info.platform, "url": info.url, "external_id": info.external_id, "title": info.title,
            "tracks": [track_to_wire(t) for t in info.tracks],
            "unresolved": [_unresolved_to_wire(u) for u in info.unresolved],
            "skipped": [_unresolved_to_wire(u) for u in info.skipped], "encoding": info.encoding,
            "declared": info.declared, "missing": info.missing, "partial_reason": as_param(info.partial_reason)}


def playlist_from_wire(data: dict[str, Any]) -> PlaylistInfo:
    return PlaylistInfo(data["platform"], data["url"], data.get("external_id"), data["title"],
                        [track_from_wire(t) for t in data["tracks"]],
                        unresolved=[Unresolved(**u) for u in data.get("unresolved", [])],
                        skipped=[Unresolved(**u) for u in data.get("skipped", [])], encoding=data.get("encoding"),
                        declared=data.get("declared"), missing=int(data.get("missing") or 0),
                        partial_reason=_said(data.get("partial_reason")))


def _said(value: Any) -> Any:
    """A coded message back from the wire (a Said reads as its English text, and keeps its code)."""
    if isinstance(value, dict) and isinstance(value.get("code"), str):
        return Said(value["code"], **dict(value.get("params") or {}))
    return value


def resolved_to_wire(resolved: Resolved) -> dict[str, Any]:
    return {"url": resolved.url, "ext": resolved.ext, "headers": dict(resolved.headers), "size": resolved.size,
            "service": resolved.service, "quality": resolved.quality, "lyrics": resolved.lyrics}


def resolved_from_wire(data: dict[str, Any]) -> Resolved:
    return Resolved(url=data["url"], ext=data["ext"], headers=dict(data.get("headers") or {}), size=data.get("size"),
                    service=data.get("service"), quality=data.get("quality"), lyrics=data.get("lyrics"))


def error_to_wire(exc: SourceError) -> dict[str, Any]:
    return {"class": exc.error_class.value, "message": str(exc), "source": exc.source, "details": exc.details,
            "code": exc.code, "params": exc.params if exc.code else None}


def error_from_wire(data: dict[str, Any]) -> SourceError:
    error = SourceError(data["message"], data["class"], source=data.get("source"), details=data.get("details"))
    if data.get("code"):
        error.code, error.params = data["code"], dict(data.get("params") or {})
    return error
