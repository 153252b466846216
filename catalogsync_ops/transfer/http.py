"""HTTP helpers shared by sources and the downloader: one session shape, errors by class."""
from __future__ import annotations

from typing import Any

import requests

from catalogsync_ops import __version__
from catalogsync_ops.errors import ErrorClass, SourceError

USER_AGENT = f"catalogsync-ops/{__version__}"


def new_session() -> requests.Session:
    """A requests session with our user agent and connection pooling."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def error_class_for_status(status: int) -> ErrorClass:
    """The ErrorClass of an HTTP status."""
    if status == 404 or status == 410:
        return ErrorClass.NOT_FOUND
    if status in (401, 403):
        return ErrorClass.AUTH
    if status == 429:
        return ErrorClass.RATE_LIMITED
    if 400 <= status < 500:
        return ErrorClass.HTTP_4XX
    return ErrorClass.HTTP_5XX


def error_class_for_exception(exc: BaseException) -> ErrorClass:
    """The ErrorClass of a requests exception."""
    if isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower():
        return ErrorClass.TIMEOUT
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return error_class_for_status(exc.response.status_code)
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return ErrorClass.CONNECTION
    return ErrorClass.INTERNAL


def get_json(session: requests.Session, url: str, *, timeout: float, params: dict | None = None,
             what: str | dict[str, Any] = "request") -> Any:
    """GET a JSON document; raise a coded SourceError with the right class. `what` names the
    request: a message (`{"code", "params"}`, worded in the reader's language) or text."""
    named = what if isinstance(what, dict) else {"text": what}
    try:
        response = session.get(url, params=params, timeout=timeout)
    except requests.RequestException as exc:
        raise SourceError.coded("request_silent", error_class_for_exception(exc), what=named, url=url,
                                reason=f"{exc.__class__.__name__}: {exc}") from None
    if response.status_code >= 400:
        detail = response.text[:200].strip()
        raise SourceError.coded("request_answered", error_class_for_status(response.status_code), what=named, url=url,
                                http_status=response.status_code,
                                reason=f"{response.reason}: {detail}" if detail else response.reason)
    try:
        return response.json()
    except ValueError:
        raise SourceError.coded("request_not_json", ErrorClass.HTTP_5XX, what=named, url=url) from None
