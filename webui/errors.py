"""Errors as pages or JSON, with the status each error class carries."""
from __future__ import annotations

from flask import jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from catalogsync_ops.errors import CatalogsyncError
from webui.i18n import gettext


def register_error_handlers(app) -> None:
    @app.errorhandler(CatalogsyncError)
    def catalogsync_error(exc: CatalogsyncError):
        return _answer(exc.status, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = _answer(exc.code or 500, exc.description or exc.name)
        allow = dict(exc.get_headers()).get("Allow")
        if allow:  # a 405 names the methods the resource has (RFC 9110)
            body, status = response
            response = (body, status, {"Allow": allow})
        return response

    @app.errorhandler(OverflowError)
    def overflow(exc: OverflowError):
        # A number no check caught reached SQLite (its integers end at 2^63 - 1): the input's fault.
        return _answer(400, "a number in the request is out of range")


def _answer(status: int, message: str):
    if request.path.startswith("/api/"):
        return jsonify(error=message), status
    return render_template("error.html", title=f"{gettext('Error')} {status}", status=status, message=message), status
