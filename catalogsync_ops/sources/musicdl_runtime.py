"""Running musicdl as a well-behaved guest inside runnerd.

musicdl is written for a terminal: importing it configures the root logger and creates a log
folder under HOME, its clients draw progress bars on stdout even with `disable_print=True`,
its own requests pass `timeout=10` or none at all and retry three times, and it swallows most
errors (a search that could not reach the platform returns `[]`, a track whose link could not
be looked up is dropped with a warning). This module keeps all of that in bounds:

- `client_class()` imports a platform's client (that platform's module only, not all ~60 of
  musicdl's) with a writable state folder and the root logger restored;
- `quiet_stdout()` keeps its bars off stdout (one process-wide redirect, counted, thread-safe);
- `GuardedAdapter`, mounted on a client's session, paces its requests (`limits.py`), bounds
  each by the configured timeout, records what each request of a call ended in, and once the
  platform has stayed silent past the timeout fails the rest of the call at once instead of
  waiting again;
- `CallLog` (the client's `logger_handle`) records the tracks musicdl dropped;
- `classify()` turns whatever musicdl raised, or the failures it hid, into an error class.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import logging
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import requests

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.messages import Said, as_param
from catalogsync_ops.sources.musicdl_guard import Call, _reason
from catalogsync_ops.transfer.http import error_class_for_status

log = logging.getLogger("catalogsync_ops.musicdl")

# Containers a player cannot open without the platform's key; musicdl lists them as audio.
ENCRYPTED_EXTS = frozenset({"mflac", "mflac0", "mgg", "mgg1", "mggl", "ncm", "kgm", "kgma", "vpr", "kwm", "tkm",
                            "bkcmp3", "bkcflac", "mg3d", "qmcflac", "qmcogg", "qmc0", "qmc2", "qmc3", "qmc4", "qmc6",
                            "qmc8", "tm0", "tm2", "tm3", "tm6"})

# Where each platform's client lives under `musicdl.modules`, and its class.
CLIENTS: dict[str, tuple[str, str]] = {
    "qq": ("sources.qq", "QQMusicClient"), "netease": ("sources.netease", "NeteaseMusicClient"),
    "kuwo": ("sources.kuwo", "KuwoMusicClient"), "migu": ("sources.migu", "MiguMusicClient"),
    "kugou": ("sources.kugou", "KugouMusicClient"), "qianqian": ("sources.qianqian", "QianqianMusicClient"),
    "joox": ("sources.joox", "JooxMusicClient"), "fivesing": ("sources.fivesing", "FiveSingMusicClient"),
}
# Packages whose `__init__` imports every client musicdl has (~60, with their dependencies: an
# interactive terminal toolkit, YouTube's and TIDAL's clients, protobuf): registered without
# running it, so that only the modules of the platforms in use are imported.
_SHELLS = ("musicdl.modules", "musicdl.modules.sources", "musicdl.modules.audiobooks")

_import_lock = threading.Lock()
_prepared = False


def _can_make(folder: Path) -> bool:
    """Whether musicdl's log folder can be made (it makes it itself at import)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _prepare_state_folder() -> None:
    """musicdl makes `$XDG_STATE_HOME/musicdl/log` (by default under HOME) when imported."""
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    if not _can_make(state / "musicdl" / "log"):
        fallback = Path(tempfile.gettempdir()) / f"catalogsync-musicdl-state-{os.getuid()}"
        fallback.mkdir(mode=0o700, exist_ok=True)
        log.warning("musicdl: %s is not writable (HOME=%s); its log folder goes to %s instead. Give the "
                    "runnerd user a writable HOME (systemd: Environment=HOME=/var/lib/catalogsync) to keep it "
                    "there.", state, os.environ.get("HOME", "?"), fallback)
        os.environ["XDG_STATE_HOME"] = str(fallback)


def _register_shells() -> None:
    """Put musicdl's all-importing packages in place without running their `__init__`.

    Nothing is done when musicdl was already imported whole (then its packages are complete).
    """
    for name in _SHELLS:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ImportError(f"no module named {name!r}")
        sys.modules[name] = importlib.util.module_from_spec(spec)


def _share_user_agents() -> None:
    """Parse fake_useragent's browser list once per process, not on every `UserAgent()`.

    musicdl makes three `UserAgent()` per client, and each parses the library's 2.6 MB list of
    browsers (13 MB of objects) for one random string: with a client per download worker that
    left the runner several MB larger per client. The list is read once, its repeated strings
    shared, and every `UserAgent()` filters that one list as before.
    """
    try:
        from fake_useragent import fake, utils
    except ImportError:
        return
    if not callable(getattr(fake, "load", None)) or not callable(getattr(utils, "find_browser_json_path", None)):
        log.info("fake_useragent's layout changed: each musicdl client parses its browser list again")
        return
    if getattr(fake.load, "shared_by_catalogsync", False):
        return
    original = fake.load
    cache: list[Any] = []
    lock = threading.Lock()

    def share(entry: dict) -> dict:
        return {sys.intern(key): sys.intern(value) if isinstance(value, str) and key != "useragent" else value
                for key, value in entry.items()}

    def read_lines() -> list[dict]:
        # One line at a time: the whole list parsed at once would be the 13 MB peak again.
        with open(utils.find_browser_json_path(), encoding="utf-8") as lines:
            return [share(json.loads(line)) for line in lines if line.strip()]

    def shared_load():
        with lock:
            if not cache:
                try:
                    cache.append(read_lines())
                except (AttributeError, OSError, ValueError):
                    cache.append([share(entry) for entry in original()])  # another fake_useragent layout
        return cache[0]

    shared_load.shared_by_catalogsync = True
    fake.load = shared_load


def _guarded_import(module: str) -> Any:
    """Import `musicdl.modules.<module>` without letting it crash on, or take over, the process.

    A service user's HOME may not be writable: musicdl's state folder then goes to a private
    temp folder (said once in the log). Importing musicdl calls `logging.basicConfig`: handlers
    it adds to the root logger are removed again, so runnerd's own logging stays as configured.
    """
    global _prepared
    with _import_lock:
        if not _prepared:
            _prepare_state_folder()
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            with quiet_stdout():
                _register_shells()
                found = importlib.import_module(f"musicdl.modules.{module}")
                _share_user_agents()
        except ImportError as exc:
            raise SourceError(f"musicdl could not be imported ({exc}); reinstall the extra: "
                              "pip install 'catalogsync-ops[musicdl]'", ErrorClass.CONFIG) from None
        except OSError as exc:
            raise SourceError(f"musicdl could not start ({exc}); set HOME or XDG_STATE_HOME of the runnerd user "
                              "to a writable folder", ErrorClass.CONFIG) from None
        finally:
            for handler in root.handlers[:]:
                if handler not in handlers:
                    root.removeHandler(handler)
                    handler.close()
            root.setLevel(level)
        _prepared = True
        return found


def client_class(name: str) -> type:
    """musicdl's client class for the platform `name`, importing that platform's module only."""
    module, cls = CLIENTS[name]
    loaded = _guarded_import(module)
    _remember_names(loaded)
    if name == "kuwo":
        _remember_kuwo_cipher_blocks()
    return getattr(loaded, cls)


def _remember_names(module: Any) -> None:
    """musicdl cleans every title, artist and album through `legalizestring` (an HTML parser per
    string, a twentieth of a look-up); an artist or album comes again and again: remember the
    answers of the same function (a pure one: a string in, a string out)."""
    plain = getattr(module, "legalizestring", None)
    if not callable(plain) or getattr(plain, "remembered", False):
        return
    remembered = functools.lru_cache(maxsize=4096)(plain)

    def legalizestring(*args, **kwargs):
        try:
            return remembered(*args, **kwargs)
        except TypeError:  # an argument that cannot be remembered
            return plain(*args, **kwargs)

    legalizestring.remembered = True  # type: ignore[attr-defined]
    legalizestring.plain = plain  # type: ignore[attr-defined]
    module.legalizestring = legalizestring


def _remember_kuwo_cipher_blocks() -> None:
    """Kuwo's link query is enciphered with DES in ECB mode, in pure Python: about 8 ms a query,
    a quarter of a song's link look-up. ECB enciphers each 8-byte block alone, and every query
    but its song id is the same words, so the blocks are remembered (the same function, the
    same answers). Without `des64` (another musicdl) nothing changes but the speed."""
    try:
        from musicdl.modules.utils.kuwoutils import KuwoMusicClientUtils as utils
    except ImportError:
        return
    plain = getattr(utils, "des64", None)
    if not callable(plain) or getattr(plain, "remembered", False):
        return

    @functools.lru_cache(maxsize=4096)
    def block(keys: tuple[int, ...], value: int) -> int:
        return plain(list(keys), value)

    def des64(longs, l):  # noqa: E741 - musicdl's own signature
        return block(tuple(longs), l)

    des64.remembered = True  # type: ignore[attr-defined]
    des64.plain = plain  # type: ignore[attr-defined]
    utils.des64 = staticmethod(des64)


TESTED_MUSICDL = "2.14."  # the release line this adapter is tested against (pyproject pins it)
# What the adapter uses of musicdl beyond its public calls, by where it lives.
CLIENT_NAMES = ("parseplaylist", "search", "_initsession")
LOOKUP_NAMES = ("_parsewithofficialapiv1",)  # a song's link looked up again at download time
# Platforms whose client asks third-party link services (PLATFORM_LINK_SERVICES routes them).
WITH_SERVICES = frozenset({"netease", "kuwo", "qq", "kugou"})
UTILS_NAMES = ("AudioLinkTester", "SongInfo")


def compatibility(name: str, *, looks_up: bool) -> list[str]:
    """What the installed musicdl lacks for the platform `name` (empty: it fits).

    Checked when a platform source is made in the source host: the version line, each private
    name the adapter calls, and the link tester's `renew_session` parameter. A musicdl that
    renamed one would otherwise turn into empty searches or lost timeouts, without an error.
    """
    import inspect
    from importlib.metadata import PackageNotFoundError, version

    problems = []
    try:
        installed = version("musicdl")
    except PackageNotFoundError:
        installed = "unknown"
    if not installed.startswith(TESTED_MUSICDL):
        problems.append(f"musicdl {installed} is installed; this release is tested with {TESTED_MUSICDL}x")
    try:
        cls = client_class(name)
    except (SourceError, AttributeError) as exc:
        return [*problems, f"{CLIENTS[name][1]} cannot be loaded ({exc})"]
    wanted = CLIENT_NAMES + (LOOKUP_NAMES if looks_up else ()) + (
        ("_parsewiththirdpartapis",) if name in WITH_SERVICES else ())
    problems += [f"{cls.__name__}.{attr}" for attr in wanted if not callable(getattr(cls, attr, None))]
    utils = import_utils()
    problems += [f"musicdl.modules.utils.{attr}" for attr in UTILS_NAMES if not hasattr(utils, attr)]
    tester = getattr(getattr(utils, "AudioLinkTester", None), "test", None)
    if tester is not None and "renew_session" not in inspect.signature(tester).parameters:
        problems.append("AudioLinkTester.test(renew_session=…)")
    return problems


def import_utils() -> Any:
    """musicdl's `utils` package (its link tester, SongInfo)."""
    return _guarded_import("utils")


class _Sink(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False


_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_stdout: Any = None


@contextlib.contextmanager
def quiet_stdout():
    """Send stdout to nowhere while musicdl runs (its progress bars ignore `disable_print`).

    `contextlib.redirect_stdout` is not safe when two threads nest it: the first to leave would
    restore the other's sink for good. One counted redirect for the whole process is.
    """
    global _quiet_depth, _saved_stdout
    with _quiet_lock:
        if _quiet_depth == 0:
            _saved_stdout = sys.stdout
            sys.stdout = _Sink()
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                sys.stdout = _saved_stdout
                _saved_stdout = None


class CallLog:
    """musicdl's `logger_handle`: its messages go to our log at DEBUG (it reports every failed
    attempt of its many resolvers; what matters is classified by the adapter and logged by the
    runner). Nothing is decided from its wording."""

    def _log(self, level: int, message: Any) -> None:
        log.debug("%s", str(message)[:500])

    def debug(self, message: Any, disable_print: bool = False) -> None:
        self._log(logging.DEBUG, message)

    def info(self, message: Any, disable_print: bool = False) -> None:
        self._log(logging.INFO, message)

    def warning(self, message: Any, disable_print: bool = False) -> None:
        self._log(logging.WARNING, message)

    def error(self, message: Any, disable_print: bool = False) -> None:
        self._log(logging.ERROR, message)


def classify(platform: str, what: str, exc: BaseException | None, call: Call) -> SourceError:
    """The error for a musicdl call that raised `exc` (or, with `exc` None, hid its failures).
    `what` says what was asked (a `Said`, worded in the reader's language, or text)."""
    named = as_param(what) if isinstance(what, Said) else {"text": str(what)}

    def coded(code: str, error_class: ErrorClass, **params: Any) -> SourceError:
        return SourceError.coded(code, error_class, source=platform, what=named, **params)

    if isinstance(exc, NotImplementedError):
        return coded("musicdl_cannot", ErrorClass.UNSUPPORTED)
    if call.failures and (exc is None or call.all_failed or isinstance(exc, requests.RequestException)
                          or call.silenced is not None):
        error_class, detail = call.failures[0] if call.silenced is None else next(
            f for f in call.failures if f[0] is ErrorClass.TIMEOUT)
        if len(call.failures) > 1:
            return coded("musicdl_failed_many", error_class, detail=detail, count=len(call.failures))
        return coded("musicdl_failed", error_class, detail=detail)
    if isinstance(exc, UnboundLocalError) and not call.failures:
        # musicdl's loops over a platform's list leave their variable unset when the list is empty.
        return coded("musicdl_found_nothing", ErrorClass.NOT_FOUND)
    if isinstance(exc, requests.Timeout):
        return coded("musicdl_timed_out", ErrorClass.TIMEOUT, reason=str(exc))
    if isinstance(exc, requests.ConnectionError):
        return coded("musicdl_no_connection", ErrorClass.CONNECTION, reason=_reason(exc))
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return coded("musicdl_http", error_class_for_status(exc.response.status_code),
                     http_status=exc.response.status_code)
    if isinstance(exc, (ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError)):
        return coded("musicdl_unreadable", ErrorClass.PARSE, reason=f"{type(exc).__name__}: {str(exc)[:300]}")
    if exc is None:
        return coded("musicdl_gave_nothing", ErrorClass.NOT_FOUND)
    return coded("musicdl_inside", ErrorClass.INTERNAL, reason=f"{type(exc).__name__}: {str(exc)[:300]}")
