"""Why something was refused, as codes with parameters: one template per code, in English here;
the console words them in the reader's language from the same code and parameters (no page
ever parses a sentence back into a code).

A parameter named in `CODE_PARAMS` holds a code itself (a state, a job type): it is shown as a
word, never as an id (`pause_requested` reads "pause requested").
"""
from __future__ import annotations

import json
from typing import Any

MESSAGES: dict[str, str] = {
    # something named does not exist
    "not_found": "{subject} {id} does not exist",
    # a state change the state machine does not allow
    "cannot_become": "{subject} {id} is {status}; it cannot become {to} (from {status} it can become: {allowed})",
    "changed_meanwhile": "{subject} {id} changed state while being updated; try again",
    "job_already": "job {job_id} is already {status}",
    "job_nothing_to_pause": "job {job_id} is {status}; nothing to pause",
    "job_finished_nothing_to_cancel": "job {job_id} is {status}; it has finished, nothing to cancel",
    "job_not_paused": "job {job_id} is {status}; only a paused job can be resumed",
    "job_not_queued": "job {job_id} is {status}; only a queued job can start",
    "job_priority_moot": "job {job_id} is {status}; its priority no longer matters",
    "job_over_enqueue_new": "job {job_id} is {status}; enqueue a new job instead",
    "job_over_item": "job {job_id} is {status}; enqueue a new job to fetch item {item_id}",
    "job_no_failed_items": "job {job_id} has no failed items",
    "job_no_failed_items_of_class": "job {job_id} has no failed items with error class {error_class!r}",
    "job_no_failed_items_from_source": "job {job_id} has no failed items with source {source!r}",
    "job_no_failed_items_of_class_from_source": "job {job_id} has no failed items with error class {error_class!r} "
                                                "and source {source!r}",
    "job_stages_open": "job {job_id} still has unfinished stages: {stages}",
    "job_still_running": "job {job_id} still has {count} items running; it pauses when they finish",
    "job_still_stopping": "job {job_id} still has {count} items stopping",
    "job_not_pause_requested": "job {job_id} is {status}; only a job whose pause was requested can finish pausing",
    "job_not_cancel_requested": "job {job_id} is {status}; only a job whose cancel was requested can finish "
                                "canceling",
    "item_not_retryable": "item {item_id} is {status}; only failed, interrupted or canceled items can be retried",
    "item_owned_elsewhere": "item {item_id} is owned by attempt {owner}, not {attempt}; this worker's result is "
                            "discarded",
    "items_owned_elsewhere": "{lost} of {count} items are no longer owned by their attempt; recording them one by "
                             "one",
    "stage_no_items": "stage {stage_id} is {status}; no items can be added",
    "stage_cannot_start": "stage {stage_id} is {status}; only a pending or paused stage can start",
    "stage_job_cannot_start": "job {job_id} is {status}; its stages cannot start",
    "stage_unfinished": "stage {stage_id} still has {queued} queued, {running} running and {interrupted} "
                        "interrupted items; it cannot finish yet",
    "stage_not_built": "stage {stage} could not make its items: {error}; the job failed, nothing else stopped",
    "stage_not_closed": "stage {stage} could not finish: {error}",
    "runner_already_paused": "the runner is already paused",
    "runner_not_paused": "the runner is not paused",
    # commands that cannot be applied now
    "config_invalid": "the config file is invalid, so no job can start; fix catalogsync.env first",
    "no_env_file": "this runner has no env file to write",
    "unknown_source": "unknown source {source!r}; known sources: {known}",
    "no_open_drift": "there is no open drift to repair (a verify job finds it)",
    "drift_songs_gone": "the songs of this drift are no longer in the catalog; nothing can be fetched again",
    "no_webhook": "no notification webhook is set: set NOTIFY_WEBHOOK_URL in catalogsync.env first",
    "invalid_payload": "invalid payload: {detail}",
    "runner_stopped_applying": "the runner stopped while applying this command, so it is not tried again (it may "
                               "have stopped it); send it again if it is still wanted",
    "apply_failed": "could not be applied ({detail}); nothing was changed",
    # what a verify found about one file or object (library/drift.py)
    "drift_not_on_disk": "not on disk",
    "drift_size_differs": "size {recorded} recorded, {found} on disk",
    "drift_content_differs": "content differs from the recorded SHA-256",
    "drift_not_in_backup": "not in {place}",
    "drift_object_size_differs": "size {uploaded} uploaded, {listed} listed",
    "drift_etag_differs": "ETag {uploaded} uploaded, {listed} listed",
    "drift_object_content_differs": "content differs from the uploaded SHA-256",
    "drift_orphan": "an audio file the catalog does not know",
    # why a song could not be had (SourceError.coded): the item and its attempt keep the code
    "source_said": "{source}: {error}",
    "tried_sources": "{tried}",
    "request_silent": "{what}: {url} did not answer ({reason})",
    "request_answered": "{what}: {url} answered {http_status} {reason}",
    "request_not_json": "{what}: {url} did not return JSON",
    "what_song": "{source} song {id}",
    "what_lyrics": "the lyrics of {source} song {id}",
    "what_playlist": "{source} playlist {id}",
    "what_search": "{source} search",
    "not_a_regular_file": "{path} is not a regular file ({reason}); a playlist can name audio files only",
    "local_file_changed": "{path} changed while it was copied ({size} bytes when opened, {read} read); try again",
    "outside_library": "{path} is outside LIBRARY_DIR ({library}): a symbolic link leads there, so nothing is "
                       "written through it; remove the link",
    "symlink_in_library": "{path} is a symbolic link where the product writes its own file; nothing is written "
                          "through it; remove the link",
    "download_silent": "download of {url} failed: {reason}",
    "download_answered": "download of {url} answered {http_status} {reason}",
    "download_size_differs": "{url} is {size} bytes but the source said {expected}",
    "download_broke_off": "download of {url} broke off after {written} bytes: {reason}",
    "download_ended_early": "download of {url} ended after {written} of {size} bytes; it will resume",
    "disk_full_at": "the disk of {folder!r} is full",
    "disk_space_low": "only {free_mib} MiB free in {folder!r}, {need_mib} MiB needed and MIN_FREE_DISK_MB={min_mib} "
                      "must stay free; free some space or lower MIN_FREE_DISK_MB",
    "wrong_range": "the server answered a Range request with the wrong range",
    "no_file_at": "no file at {path!r}",
    "audio_unreadable": "{name}: not a readable audio file ({reason})",
    "audio_not_audio": "{name}: not an audio file (an error page or a truncated body?)",
    "audio_empty": "{name}: audio of zero length",
    "audio_preview": "{source} gave a {length} s clip of a {wanted} s song (a trial preview, not the song)",
    "song_gone": "song {song_id} is no longer in the catalog",
    "cannot_search_for": "{source} cannot search for songs from {platform}",
    "found_nothing": "{source} found nothing for {song!r}",
    "no_candidate": "no candidate on {source} is {song!r}; the closest, {closest!r}: {why}",
    "scored_below": "scored {score} (needs {threshold})",
    "no_source_can": "no source can download this song; set DOWNLOAD_SOURCES",
    "quality_not_offered": "{source} offers it only at {offered}, below the least DOWNLOAD_QUALITY accepts ({least})",
    "quality_below": "{source} gave {found}, below the least DOWNLOAD_QUALITY accepts ({least}); it was not kept",
    # why a platform's read of a playlist is not proven whole (sources/musicdl_answers.py)
    "partial_page_failed": "a page of the playlist failed ({error}); {platform} declares {declared} songs, "
                           "{listed} were listed",
    "partial_page_failed_uncounted": "a page of the playlist failed ({error}); {platform} did not say how many songs "
                                     "it holds, {listed} were listed",
    "partial_unreadable": "{pages} page(s) of the playlist came back in a form that could not be read",
    "partial_uncounted": "{platform} did not say how many songs the playlist holds, so the read cannot be proven whole",
    "partial_no_page": "no page of the playlist was seen, so the read cannot be proven whole",
    "partial_short": "{platform} declares {declared} songs, its pages listed {listed}",
    # upgrades (pipeline/upgrade.py): the old file stays
    "nothing_better": "{source} offers it at {offered}, nothing above the {have} file we have",
    "upgrade_not_better": "{source} gave {found}, no better than the {have} file we have; the old file stays",
    "upgrade_transcoded": "{source} gave {found}: a lossy file's sound in a lossless container, refused as an "
                          "upgrade; the old file stays",
    "upgrade_file_changed": "{path} is not the file that was recorded (changed or gone): run a verify and a repair "
                            "before an upgrade",
    # a platform through musicdl (sources/musicdl_source.py, musicdl_runtime.py, host.py)
    "what_searching": "searching {keyword!r}",
    "what_looking_up": "looking up the link of {song!r}",
    "what_reading_playlist": "reading the playlist",
    "platform_no_link": "{source}: no download link for {song!r} (a membership song, or taken down)",
    "platform_encrypted": "{source}: {song!r} is only offered as an encrypted {ext} file, which no player can open",
    "platform_hls": "{source}: {song!r} is only offered as an HLS stream, which is not downloaded yet",
    "platform_unreadable_search": "{source}: {what}: the platform answered in a form musicdl cannot read (its API "
                                  "may have changed; a newer musicdl may read it)",
    "musicdl_cannot": "{source}: musicdl cannot do this ({what}) for {source}",
    "musicdl_failed": "{source}: {what} failed: {detail}",
    "musicdl_failed_many": "{source}: {what} failed: {detail} ({count} requests failed)",
    "musicdl_found_nothing": "{source}: {what} found nothing there (missing, private, or not the right kind of link)",
    "musicdl_timed_out": "{source}: {what} timed out: {reason}",
    "musicdl_no_connection": "{source}: {what} failed: cannot connect ({reason})",
    "musicdl_http": "{source}: {what} failed: HTTP {http_status}",
    "musicdl_unreadable": "{source}: {what}: the platform's answer could not be read ({reason})",
    "musicdl_gave_nothing": "{source}: {what} gave nothing",
    "musicdl_inside": "{source}: {what} failed inside musicdl ({reason})",
    "host_gone": "{source}: the source host is gone; the next try starts it again",
    "host_silent": "{source}: {what}: musicdl went {waited} s without a word (HTTP_TIMEOUT_SECONDS is {timeout}); "
                   "its process was stopped and the next call starts a new one",
    "host_interrupted": "{source}: {what}: {error}",
    # why a candidate scored as it did, or was refused (library/matching.py)
    "match_title": "title {score}",
    "match_title_far": "title: {candidate!r} vs {wanted!r} ({score})",
    "match_version_extra": "version: {label} not asked for",
    "match_version_missing": "version: {label} missing",
    "match_artists": "artists {score}",
    "match_artists_differ": "artists: {candidate} vs {wanted}",
    "match_artists_unknown": "artists unknown",
    "match_guests": "credits {n} guest(s) not asked for",
    "match_album_same": "album same",
    "match_album_differs": "album differs ({album})",
    "match_duration": "duration {candidate} s vs {wanted} s",
    "match_clip": "{said} (a clip or preview)",
    "match_other_cut": "{said} (another cut)",
}

# Parameters that hold a code (a state, a kind): words, not ids, wherever they are shown.
CODE_PARAMS = frozenset({"status", "to", "allowed", "subject", "stage"})


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and ("code" in value or "text" in value)


def _nested(value: dict[str, Any], words, translate) -> str:
    if value.get("code"):
        return render(value["code"], value.get("params"), words=words, translate=translate)
    return str(value.get("text", ""))


def word(code: Any) -> Any:
    """A code as an English word ("pause_requested" -> "pause requested"); other values as they are."""
    return code.replace("_", " ") if isinstance(code, str) else code


def render(code: str, params: dict[str, Any] | None = None, *, words=word, translate=lambda text: text) -> str:
    """The English text of a coded message. The console passes its own `words` (code parameters
    as words) and `translate` (the template and the words that join values) for the reader's
    language; a translated template that does not fit its values falls back to English.

    A parameter may itself be a message, `{"code", "params"}` (or `{"text"}`, shown as written),
    or a list of them (joined with "; "): a download's error names the request's error.
    """
    params = dict(params or {})
    for key, value in params.items():
        if _is_message(value):
            params[key] = _nested(value, words, translate)
        elif isinstance(value, list) and value and all(_is_message(v) for v in value):
            params[key] = translate("; ").join(_nested(v, words, translate) for v in value)
    for key in CODE_PARAMS & params.keys():
        value = params[key]
        if isinstance(value, (list, tuple)):
            params[key] = translate(", ").join(str(words(v)) for v in value) or translate("nothing (it is final)")
        else:
            params[key] = words(value)
    template = MESSAGES.get(code)
    if template is None:
        return f"{code} {params}" if params else code
    for attempt in (translate(template), template):
        try:
            return attempt.format(**params)
        except (KeyError, IndexError, ValueError):
            continue
    return f"{code} {params}" if params else code


def stored(value: Any) -> Any:
    """A message as a text column keeps it: a coded one as its JSON (`shown` words it), any
    other as it is."""
    return json.dumps(value.as_param(), ensure_ascii=False) if isinstance(value, Said) else value


def from_stored(text: Any) -> Any:
    """What `stored` kept: a coded message back as its {"code", "params"}, other text as it is."""
    if isinstance(text, str) and text.startswith('{"code"'):
        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, dict) and isinstance(value.get("code"), str):
            return value
    return text


class Said(str):
    """A coded message that reads as its English text wherever a string goes (a log, the CLI, a
    test); `as_param()` gives its code and values, for the console to word it."""

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, **params: Any) -> Said:
        said = super().__new__(cls, render(code, params))
        said.code, said.params = code, params
        return said

    def as_param(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params}


def as_param(value: Any) -> Any:
    """A `Said` as its code and values; anything else as it is."""
    return value.as_param() if isinstance(value, Said) else value
