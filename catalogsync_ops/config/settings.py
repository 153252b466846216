"""The declared settings of `catalogsync.env`: the one place every tunable lives.

Each `Setting` says its type, default, allowed values, whether it is a secret, and one line of
help. The table drives parsing and validation (`envfile.py`), the masked view, the job snapshot,
`deploy/catalogsync.env.example`, `docs/config.md` and the README's config table
(`reference.py`; `python tools/gen_docs.py` regenerates them, a test keeps them in step).
"""
from __future__ import annotations

from dataclasses import dataclass

from catalogsync_ops.catalogue import language_codes
from catalogsync_ops.quality import RUNGS

MASK = "********"

# Source names accepted in DOWNLOAD_SOURCES. `demo`/`demo2` are the bundled demo platforms,
# `m3u` plays standard playlist files, the rest come through the optional `musicdl` extra.
KNOWN_SOURCES = (
    "demo", "demo2", "m3u",
    "qq", "netease", "kuwo", "migu", "kugou", "qianqian", "joox", "fivesing",
)
# Sources an earlier release offered, and why they are gone (a setting that names one says so).
RETIRED_SOURCES = {
    "lizhi": "Lizhi is an audiobook platform: musicdl gives its results as episodes, which are not downloaded",
    "ximalaya": "Ximalaya is an audiobook platform: musicdl gives its results as episodes, which are not downloaded",
}
LAYOUT_FIELDS = ("artist", "album", "title", "ext", "track", "platform", "playlist", "song_id")
LANGUAGE_CODES = language_codes()
NOTIFY_KINDS = ("job_finished", "job_failed", "runner_recovered", "disk_low", "source_down", "source_recovered")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Setting:
    """One key of catalogsync.env."""

    key: str
    # str | int | float | bool | path | dir | optdir | choice | sources | ladder | layout | url | host | events
    kind: str
    default: str
    help: str
    group: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("DB_PATH", "path", "catalogsync.db",
            "SQLite database shared by runnerd and the web UI; must be on a local disk.",
            "paths"),
    Setting("LIBRARY_DIR", "dir", "library", "Folder the downloaded, tagged songs are written to.", "paths"),
    Setting("INPUT_DIR", "dir", "input",
            "Folder of playlist pools: every *.txt file lists playlist URLs, one per line.",
            "paths"),
    Setting("LOG_DIR", "dir", "logs",
            "Folder for the log files runnerd.log and catalogsync-web.log (rotated at 10 MB, 5 kept), written beside "
            "stderr and the journal.",
            "paths"),
    Setting("PLAYLIST_EXPORT", "bool", "true",
            "After each job, write every playlist as an M3U8 file (UTF-8, paths relative to the file, in playlist "
            "order) for Navidrome, Jellyfin, Plex or any player; written only when it changed.",
            "paths"),
    Setting("PLAYLIST_EXPORT_DIR", "optdir", "",
            "Folder for those M3U8 files; empty: a folder named Playlists inside LIBRARY_DIR, where music servers that"
            " scan the library find them.",
            "paths"),
    Setting("DOWNLOAD_SOURCES", "sources", "demo",
            "Comma-separated sources tried in order when a song is downloaded.",
            "download"),
    Setting("DOWNLOAD_QUALITY", "ladder", ",".join(RUNGS),
            "The quality ladder, best first (" + ", ".join(RUNGS) + "): each source is asked for the best rung it "
            "offers; a file below the last rung listed is refused. What a file is, is read from it after download, "
            "not taken from the platform's word.",
            "download"),
    Setting("DOWNLOAD_QUALITY_ASK_ALL", "bool", "false",
            "Before downloading below the top rung, ask every source in DOWNLOAD_SOURCES what it offers and take "
            "the best (a search on each; the first source offering the top rung ends the asking).",
            "download"),
    Setting("UPGRADE_AFTER_PIPELINE", "bool", "false",
            "After each full pipeline (the nightly run), queue an upgrade: songs below the top rung of "
            "DOWNLOAD_QUALITY are looked for again, and a file is replaced only by one that is really better, read "
            "from the file (never a transcode, never a downgrade).",
            "download"),
    Setting("UPGRADE_RECHECK_DAYS", "int", "30",
            "An upgrade asks the sources again about a song only this many days after it last asked.",
            "download", minimum=0, maximum=3650),
    Setting("LYRICS", "choice", "both",
            "Lyrics from the source: embed (in the file's tags), sidecar (an .lrc file beside the song, with the same "
            "name, which Navidrome, Jellyfin and most players show), both, or off.",
            "download", choices=("both", "embed", "sidecar", "off")),
    Setting("DOWNLOAD_LAYOUT", "layout", "{artist}/{album}/{title}.{ext}",
            "Path of each song inside LIBRARY_DIR; fields: " + ", ".join(f"{{{f}}}" for f in LAYOUT_FIELDS) + ".",
            "download"),
    Setting("DEMO_BASE_URL", "url", "http://127.0.0.1:8765",
            "Address of the demo platform (runnerd demo-server) used by the demo and demo2 sources.",
            "download"),
    Setting("MIN_FREE_DISK_MB", "int", "1024",
            "Downloads fail as disk_full instead of writing when the library disk has less free space (MiB).",
            "download", minimum=0),
    Setting("PLATFORM_REQUESTS_PER_SECOND", "float", "4",
            "Requests a second to each real platform's API (qq, netease, kuwo, …), with jitter: being polite keeps the"
            " NAS from being banned.",
            "download", minimum=0.05, maximum=1000),
    Setting("PLATFORM_MAX_CONCURRENT_REQUESTS", "int", "2",
            "Requests to one platform's API in flight at once, across all workers.",
            "download", minimum=1, maximum=16),
    Setting("PLATFORM_LINK_SERVICES", "choice", "official_first",
            "Where song links are looked up: official (the platform's own API only), official_first (third-party link "
            "services only for a song the platform gives no link for) or musicdl (musicdl's order: third-party "
            "services first, often lossless). Third-party services receive the id of every song they are asked about.",
            "download", choices=("official", "official_first", "musicdl")),
    Setting("SOURCE_HOST_PROCESSES", "int", "1",
            "Processes that run musicdl's platform clients (the source host), about 90 MB each: more let several "
            "downloads look their links up at once, on a NAS with cores and memory to spare.",
            "download", minimum=1, maximum=8),
    Setting("SOURCE_BREAKER_FAILURES", "int", "5",
            "A source that fails this many calls in a row (cannot connect, silent, 5xx, 429) is left alone for a "
            "cooldown; work only it can do waits.",
            "download", minimum=1, maximum=1000),
    Setting("SOURCE_BREAKER_COOLDOWN_SECONDS", "float", "60",
            "First cooldown of a source whose breaker opened; doubles after each failed probe, up to an hour.",
            "download", minimum=1, maximum=3600),
    Setting("HTTP_TIMEOUT_SECONDS", "float", "30",
            "Seconds a source or download may stay silent before the attempt fails as timeout.",
            "download", minimum=1, maximum=600),
    Setting("OBJECT_BACKEND_NAME", "choice", "local",
            "Where files are uploaded: s3 (S3-compatible storage), local (a mirror folder) or none.",
            "upload", choices=("s3", "local", "none")),
    Setting("MIRROR_DIR", "dir", "mirror",
            "Mirror folder used when OBJECT_BACKEND_NAME=local (a second volume or a mounted share).",
            "upload"),
    Setting("OBJECT_BUCKET", "str", "", "Bucket name for OBJECT_BACKEND_NAME=s3.", "upload"),
    Setting("OBJECT_ENDPOINT", "url", "", "S3 endpoint URL (MinIO, Synology C2, R2, …); empty means AWS.", "upload"),
    Setting("OBJECT_REGION", "str", "us-east-1", "S3 region name.", "upload"),
    Setting("OBJECT_ACCESS_KEY_ID", "str", "", "S3 access key id.", "upload"),
    Setting("OBJECT_SECRET_ACCESS_KEY", "str", "", "S3 secret access key (masked in the UI).", "upload", secret=True),
    Setting("OBJECT_PREFIX", "str", "", "Key prefix inside the bucket or mirror, e.g. music/.", "upload"),
    Setting("OBJECT_CHECKSUM_MODE", "choice", "when_required",
            "S3 request checksums: when_required suits most S3-compatible servers; when_supported for AWS.",
            "upload", choices=("when_required", "when_supported")),
    Setting("COLLECT_WORKERS", "int", "1", "Worker threads for the collect stage.", "workers", minimum=1, maximum=16),
    Setting("SYNC_WORKERS", "int", "2", "Worker threads for the sync stage.", "workers", minimum=1, maximum=16),
    Setting("DOWNLOAD_WORKERS", "int", "3", "Worker threads for the download stage.", "workers", minimum=1, maximum=32),
    Setting("UPLOAD_WORKERS", "int", "2", "Worker threads for the upload stage.", "workers", minimum=1, maximum=32),
    Setting("VERIFY_WORKERS", "int", "2",
            "Worker threads for a deep verify (each hashes a part of the library; more threads than disks gain "
            "nothing). A fast verify uses at most two: one checks the library, the other waits for the backup's "
            "listing; without a backup it uses one.",
            "workers", minimum=1, maximum=16),
    Setting("MAX_ATTEMPTS", "int", "3",
            "Attempts per item before it is marked failed (a person can always retry).",
            "retries", minimum=1, maximum=50),
    Setting("RETRY_BACKOFF_SECONDS", "float", "30",
            "Wait before the first automatic retry; doubles each attempt, with jitter.",
            "retries", minimum=0, maximum=86400),
    Setting("RETRY_BACKOFF_MAX_SECONDS", "float", "3600",
            "Longest wait between automatic retries.",
            "retries", minimum=0, maximum=604800),
    Setting("WANTED_GIVE_UP_NIGHTS", "int", "7",
            "A missing song is marked unavailable (tried again only every WANTED_RECHECK_DAYS) after this many "
            "download stages in a row found it gone for good (not found, no match, encrypted, a preview); 0 never.",
            "retries", minimum=0, maximum=3650),
    Setting("WANTED_RECHECK_DAYS", "int", "30",
            "An unavailable song (given up automatically) is tried again after this many days.",
            "retries", minimum=1, maximum=3650),
    Setting("AUTO_RESUME_AFTER_RECOVERY", "bool", "false",
            "After a crash or power cut, resume interrupted jobs at once instead of leaving them paused.",
            "runner"),
    Setting("SHUTDOWN_GRACE_SECONDS", "int", "30",
            "On SIGTERM, seconds in-flight items may finish before they are interrupted.",
            "runner", minimum=0, maximum=3600),
    Setting("LOG_RETENTION_DAYS", "int", "30",
            "Log rows older than this are deleted (days).",
            "runner", minimum=1, maximum=3650),
    Setting("HISTORY_DETAIL_DAYS", "int", "7",
            "This many days after a job finished, what went right and its item events are deleted, and so is a song's "
            "repeated failure (the wanted list keeps the song); its new failures stay until HISTORY_RETENTION_DAYS.",
            "runner", minimum=1, maximum=36500),
    Setting("HISTORY_RETENTION_DAYS", "int", "90",
            "A finished job's items, attempts and item events are deleted this many days after it finished; the job, "
            "its stages' counts and every song's last outcome stay.",
            "runner", minimum=1, maximum=36500),
    Setting("COMMAND_RETENTION_DAYS", "int", "30",
            "Applied and rejected commands, sent notifications and sign-in attempts are deleted after this many days.",
            "runner", minimum=1, maximum=36500),
    Setting("LOG_RETENTION_ROWS", "int", "1000000", "At most this many log rows are kept.", "runner", minimum=1000),
    Setting("WEB_HOST", "host", "127.0.0.1",
            "Address the web UI listens on; 0.0.0.0 to reach it from the LAN (login is always required).",
            "web"),
    Setting("WEB_PORT", "int", "8421", "Port of the web UI.", "web", minimum=1, maximum=65535),
    Setting("WEB_COOKIE_SECURE", "bool", "false",
            "Send the sign-in cookie over HTTPS only: set true when the console is reached through an HTTPS reverse "
            "proxy (then plain http:// sign-ins stop working).",
            "web"),
    Setting("NOTIFY_WEBHOOK_URL", "url", "",
            "Webhook for notifications (empty: none). With NOTIFY_FORMAT: a JSON endpoint, an ntfy topic URL, a Bark "
            "URL, https://api.telegram.org/bot<token>/sendMessage or a ServerChan https://sctapi.ftqq.com/<key>.send "
            "URL.",
            "notify", secret=True),
    Setting("NOTIFY_FORMAT", "choice", "json",
            "Body the webhook gets: json (generic), ntfy, bark, telegram or serverchan.",
            "notify", choices=("json", "ntfy", "bark", "telegram", "serverchan")),
    Setting("NOTIFY_LANGUAGE", "choice", "en",
            "Language the notifications are written in: " + ", ".join(LANGUAGE_CODES) + " (the console's languages).",
            "notify", choices=LANGUAGE_CODES),
    Setting("CONSOLE_URL", "url", "",
            "The console's address as you open it (for example http://nas.local:8421): each notification then links "
            "to the page that explains it. Empty: no links.",
            "notify"),
    Setting("NOTIFY_TELEGRAM_CHAT_ID", "str", "",
            "Chat id the Telegram bot writes to (NOTIFY_FORMAT=telegram).",
            "notify"),
    Setting("NOTIFY_EVENTS", "events", ",".join(NOTIFY_KINDS),
            "Comma-separated events to send: " + ", ".join(NOTIFY_KINDS) + ".",
            "notify"),
    Setting("NOTIFY_DISK_FREE_MB", "int", "2048",
            "Send disk_low when the library disk has less free space than this (MiB).",
            "notify", minimum=0),
    Setting("NOTIFY_RETRY_SECONDS", "float", "30",
            "Wait before retrying a failed delivery; doubles each time, up to an hour, 8 tries.",
            "notify", minimum=0.1, maximum=3600),
)

SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}
SECRET_KEYS = frozenset(s.key for s in SETTINGS if s.secret)
