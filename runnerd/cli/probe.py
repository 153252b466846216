"""`runnerd probe URL`: what a playlist holds and, per download source, the candidates for each
track with their scores, why the best one won or lost, and how long each call took."""
from __future__ import annotations

import sys
import time
from typing import Any

import click

from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.config.settings import SETTINGS_BY_KEY
from catalogsync_ops.errors import ConfigError, SourceError
from catalogsync_ops.library.matching import best_match
from catalogsync_ops.sources import build_source
from catalogsync_ops.sources.platforms import platform_for_url, why_unsupported
from runnerd.cli.base import Context, cli, echo_json, pass_ctx

EXIT_PLAYLIST_FAILED = 1
EXIT_SOURCE_FAILED = 5


def _settings(ctx: Context) -> dict[str, Any]:
    settings = {k: s.default for k, s in SETTINGS_BY_KEY.items()}
    if ctx.env_file.exists():
        try:
            settings.update(load_config(ctx.env_file).values)
        except ConfigError:
            pass  # probing must work while the config is being fixed
    return settings


def _match_on(source, track) -> dict[str, Any]:
    started = time.monotonic()
    try:
        found = source.search(track) if source.can_search else []
    except SourceError as exc:
        return {"error": str(exc), "error_class": exc.error_class.value,
                "ms": round((time.monotonic() - started) * 1000)}
    match, scored = best_match(track, found)
    return {"ms": round((time.monotonic() - started) * 1000), "accepted": match is not None,
            "title": (match or (scored[0] if scored else None)).track.display if scored else None,
            "score": (match or scored[0]).score if scored else None,
            "refused": None if match or not scored else scored[0].refused,
            "candidates": [{"title": m.track.display, "album": m.track.album, "duration_s": m.track.duration_s,
                            "score": m.score, "refused": m.refused, "why": list(m.reasons)} for m in scored[:5]]}


@cli.command()
@click.argument("url")
@click.option("--download-sources", default=None, help="Comma-separated sources to match each track on.")
@click.option("--json", "as_json", is_flag=True, help="Print nothing but JSON on stdout.")
@pass_ctx
def probe(ctx: Context, url: str, download_sources: str | None, as_json: bool) -> None:
    """Show what a playlist URL holds and, with --download-sources, the candidates per track.

    Exits 1 when the playlist cannot be read and 5 when a download source failed (its error and
    class are in the report); 0 otherwise, even when a track found no match.
    """
    settings = _settings(ctx)
    platform = platform_for_url(url)

    def fail(message: str, error_class: str) -> None:
        if as_json:
            echo_json({"url": url, "platform": platform, "error": message, "error_class": error_class})
        else:
            click.echo(f"runnerd probe: {message} [{error_class}]", err=True)
        sys.exit(EXIT_PLAYLIST_FAILED)

    if platform is None:
        fail(why_unsupported(url), "unsupported")
    sources = []
    try:
        origin = build_source(platform, settings=settings)
        sources = [origin] + [build_source(name.strip(), settings=settings)
                              for name in (download_sources.split(",") if download_sources else []) if name.strip()]
        started = time.monotonic()
        try:
            playlist = origin.parse_playlist(url)
        except SourceError as exc:
            fail(str(exc), exc.error_class.value)
        report: dict[str, Any] = {"url": url, "platform": platform, "title": playlist.title,
                                  "ms": round((time.monotonic() - started) * 1000), "tracks": [],
                                  "unresolved": [{"id": u.external_id, "title": u.title, "reason": u.reason}
                                                 for u in playlist.unresolved],
                                  "skipped": [{"id": u.external_id, "title": u.title, "reason": u.reason}
                                              for u in playlist.skipped], "encoding": playlist.encoding}
        failed = False
        for track in playlist.tracks:
            entry = {"title": track.title, "artists": list(track.artists), "album": track.album,
                     "duration_s": track.duration_s, "id": track.external_id, "matches": {}}
            for source in sources[1:]:
                if source.name == platform:
                    entry["matches"][source.name] = {"title": track.display, "score": 1.0, "accepted": True,
                                                     "same_platform": True}
                    continue
                entry["matches"][source.name] = result = _match_on(source, track)
                failed = failed or "error" in result
            report["tracks"].append(entry)
    except SourceError as exc:
        fail(str(exc), exc.error_class.value)
    finally:
        for source in sources:
            source.close()
    if as_json:
        echo_json(report)
    else:
        _print(report)
    sys.exit(EXIT_SOURCE_FAILED if failed else 0)


def _print(report: dict[str, Any]) -> None:
    read_as = f", read as {report['encoding']}" if report.get("encoding") else ""
    click.echo(f"{report['platform']}: {report['title']} ({len(report['tracks'])} tracks, read in {report['ms']} ms"
               f"{read_as})")
    for entry in report["unresolved"]:
        click.echo(f"  not resolved: {entry['title'] or entry['id']} — {entry['reason']}")
    for entry in report["skipped"]:
        click.echo(f"  skipped {entry['id']}: {entry['title']} — {entry['reason']}")
    for i, entry in enumerate(report["tracks"], 1):
        who = ", ".join(entry["artists"])
        click.echo(f"{i:>3}. {who + ' - ' if who else ''}{entry['title']}")
        for name, m in entry["matches"].items():
            if "error" in m:
                click.echo(f"       {name}: error [{m['error_class']}] {m['error']} ({m['ms']} ms)")
            elif m.get("title") is None:
                click.echo(f"       {name}: no candidates ({m.get('ms', 0)} ms)")
            else:
                if m.get("accepted", True):
                    verdict = "ok"
                else:
                    verdict = f"NO MATCH: {m['refused']}" if m.get("refused") else "NO MATCH (below threshold)"
                click.echo(f"       {name}: {m['title']}  score {m['score']:.2f}  {verdict}"
                           + (f" ({m['ms']} ms)" if "ms" in m else ""))
                for c in m.get("candidates", [])[1:4]:
                    why = f"refused: {c['refused']}" if c.get("refused") else "; ".join(c["why"])
                    click.echo(f"           also: {c['title']}  {c['score']:.2f}  ({why})")
