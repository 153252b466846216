"""webui: the operations console in the browser. It reads state and writes only command rows
(plus its own login tables); it never runs work and never changes job state itself."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, request

from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.errors import CatalogsyncError
from catalogsync_ops.store.accounts import session_key
from catalogsync_ops.store.database import open_database
from webui import api, auth, catalog_pages, config_page, events, i18n, ops, pages, system_page
from webui.context import IdConverter, ThreadConnections, close_db
from webui.errors import register_error_handlers
from webui.format import coverage_bar, quality_of, quality_shares, when
from webui.logtext import drift_detail, error_text, log_rows, reason_text, said_text
from webui.templating import FixedWords, PageEnvironment, command_form, path_for, this_page, with_query


def _secret_key(db_path: Path) -> str:
    """The session signing key, made once and kept in the database so logins survive restarts."""
    conn = open_database(db_path)
    try:
        return session_key(conn)
    finally:
        conn.close()


class ConsoleApp(Flask):
    jinja_environment = PageEnvironment  # templates compiled once per language


def create_app(config: dict[str, Any]) -> Flask:
    """The app for one database. `config` needs DB_PATH and ENV_PATH; TESTING is optional."""
    app = ConsoleApp(__name__)
    app.url_map.converters["int"] = IdConverter
    db_path = Path(config["DB_PATH"])
    app.config.update(
        DB_PATH=db_path,
        ENV_PATH=Path(config["ENV_PATH"]) if config.get("ENV_PATH") else None,
        SECRET_KEY=_secret_key(db_path),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="catalogsync_session",
        MAX_CONTENT_LENGTH=1024 * 1024,
        TRUSTED_PROXIES=tuple(config.get("TRUSTED_PROXIES", ())),
        LOGIN_LIMIT=int(config.get("LOGIN_LIMIT", 10)),
    )
    app.config.update({k: v for k, v in config.items() if k.isupper() and k not in ("DB_PATH", "ENV_PATH")})
    if "SESSION_COOKIE_SECURE" not in config and app.config["ENV_PATH"] is not None:
        try:
            app.config["SESSION_COOKIE_SECURE"] = bool(load_config(app.config["ENV_PATH"])["WEB_COOKIE_SECURE"])
        except CatalogsyncError:
            pass  # an invalid or missing env file: the config page says why; cookies stay as they were

    app.register_blueprint(i18n.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(config_page.bp)
    app.register_blueprint(catalog_pages.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(system_page.bp)
    app.before_request(auth.guard)
    app.teardown_appcontext(close_db)
    if float(app.config.get("REUSE_CONNECTIONS_S") or 0) > 0:
        app.extensions["catalogsync_connections"] = ThreadConnections(float(app.config["REUSE_CONNECTIONS_S"]))
    app.after_request(_security_headers)
    app.jinja_env.globals.update(csrf_token=auth.csrf_token, _=i18n.gettext, ngettext=i18n.ngettext,
                                  languages_shown=i18n.languages_shown, setting_help=i18n.setting_help,
                                  code_words=i18n.code_words, code_words_json=i18n.code_words_json,
                                  path_for=path_for, with_query=with_query, this_page=this_page,
                                  command_form=command_form,
                                  command_phrases=i18n.command_phrases, command_title=i18n.command_title,
                                  job_status=i18n.job_status, event_message=i18n.event_message,
                                  SELF_DESCRIBING=i18n.SELF_DESCRIBING, drift_word=i18n.drift_word,
                                  drift_detail=drift_detail)
    app.jinja_env.add_extension(FixedWords)
    app.context_processor(i18n.template_words)
    app.jinja_env.globals["coverage_bar"] = coverage_bar
    app.jinja_env.globals["quality_shares"] = quality_shares
    app.jinja_env.globals["quality_of"] = quality_of
    app.jinja_env.filters["when"] = when
    app.jinja_env.globals["log_rows"] = log_rows
    app.jinja_env.filters["reason"] = reason_text
    app.jinja_env.filters["errortext"] = error_text
    app.jinja_env.filters["said"] = said_text
    register_error_handlers(app)
    return app


def _security_headers(response):
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response
