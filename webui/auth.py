"""Login, first-run setup, API tokens and CSRF: every page needs a login, every write a token."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from catalogsync_ops.store import accounts
from catalogsync_ops.store.accounts import end_sessions, user_count
from catalogsync_ops.store.connection import Connection, iso, parse_iso, utcnow
from webui.context import get_db, safe_target
from webui.i18n import N_, gettext

bp = Blueprint("auth", __name__)

PUBLIC_ENDPOINTS = {"auth.login", "auth.setup", "static", "api.healthz", "api.ping", "i18n.switch", "ops.healthz",
                    "ops.favicon"}
# Paths that take an API token instead of a session (scripts, Prometheus).
TOKEN_PATHS = ("/api/", "/metrics")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
LOGIN_WINDOW = timedelta(minutes=15)
USER_LIMIT_FACTOR = 3  # failed sign-ins per user name, from all addresses: LOGIN_LIMIT × this
MIN_PASSWORD = 8
SETUP_TOKEN_TTL = timedelta(hours=24)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- used by the CLI as well


def set_password(conn: Connection, username: str, password: str) -> int | None:
    """Create the user or change its password (scrypt hash). Every session of the user made
    before is signed out (its generation moves on); returns the new generation."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password needs at least {MIN_PASSWORD} characters")
    return accounts.save_user(conn, username, generate_password_hash(password, method="scrypt"))


def _start_session(username: str, generation: int | None) -> None:
    session.clear()
    session["user"] = username
    session["gen"] = generation
    csrf_token()


def new_setup_token(conn: Connection) -> str:
    """A one-time token for /setup, valid for a day, while no user exists."""
    token = secrets.token_urlsafe(24)
    accounts.save_setup_token(conn, _sha(token))
    return token


SCOPES = ("read", "control", "admin")  # each includes the ones before it


def create_token(conn: Connection, name: str, scope: str = "admin") -> str:
    """A new API token for automation; only its hash is kept. `scope`: read (status, lists,
    metrics), control (also commands), admin (also the config)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; one of: {', '.join(SCOPES)}")
    token = "cs_" + secrets.token_urlsafe(32)
    accounts.add_token(conn, name, _sha(token), scope)
    return token


def token_allows(needed: str) -> bool:
    """Whether this request may do what needs `needed` (a signed-in person may do anything)."""
    scope = g.get("token_scope")
    return scope is None or SCOPES.index(scope) >= SCOPES.index(needed)


def require_scope(needed: str) -> None:
    if not token_allows(needed):
        abort(403, description=f"this API token's scope is {g.token_scope!r}; this needs a {needed!r} token "
                               "(create one on the Account page)")


# ---------------------------------------------------------------- request guard


def client_addr() -> str:
    """The client's address; X-Forwarded-For counts only from a configured trusted proxy."""
    peer = request.remote_addr or ""
    if peer in current_app.config["TRUSTED_PROXIES"]:
        forwarded = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        if forwarded:
            return forwarded[-1]
    return peer


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _bearer_user() -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    conn = get_db()
    row = accounts.token_by_hash(conn, _sha(header[7:].strip()))
    if row is None:
        return None
    g.token_scope = row["scope"]
    if row["last_used_at"] is None or utcnow() - parse_iso(row["last_used_at"]) > timedelta(minutes=1):
        accounts.token_used(conn, row["id"])
    return f"token:{row['name']}"


def _session_user() -> str | None:
    """The signed-in user, if the session is still valid (not signed out, password unchanged)."""
    user = session.get("user")
    if user is None:
        return None
    if accounts.generation(get_db(), user) != session.get("gen"):
        session.clear()  # signed out elsewhere, password changed, or the user is gone
        return None
    return user


def guard():
    """Before every request: who is it, and is a write allowed."""
    g.user = _session_user()
    g.via_token = False
    g.token_scope = None
    if g.user is None and request.path.startswith(TOKEN_PATHS):
        g.user = _bearer_user()
        g.via_token = g.user is not None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if g.user is None:
        if request.path.startswith(TOKEN_PATHS):
            return jsonify(error="login required: sign in, or send Authorization: Bearer <token>"), 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if request.method in UNSAFE_METHODS and not g.via_token:
        check_csrf()
    if g.via_token:
        require_scope("admin" if request.path.startswith("/api/config") else
                      "control" if request.method in UNSAFE_METHODS else "read")
    return None


def check_csrf() -> None:
    """Refuse a cookie-authenticated write that did not come from our own pages."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        abort(403, description=gettext("cross-site request refused (Sec-Fetch-Site: %(site)s)") % {"site": site})
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, description=gettext("missing or wrong CSRF token: reload the page and try again"))


# ---------------------------------------------------------------- pages


def _safe_next(target: str | None) -> str:
    return safe_target(target, url_for("pages.dashboard"))


_DUMMY_HASH: list[str] = []


def _check_password(row, password: str) -> bool:
    """Check a password as long for an unknown user as for a known one (no user enumeration
    by timing): an unknown user's attempt is checked against a hash of nothing."""
    if row is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(generate_password_hash(secrets.token_urlsafe(16), method="scrypt"))
        check_password_hash(_DUMMY_HASH[0], password)
        return False
    return check_password_hash(row[0], password)


def _claim_attempt(conn: Connection, addr: str, username: str) -> int | None:
    """This attempt, counted against the failed sign-ins in the window from this address and for
    this user name from anywhere (a guesser spreading over many addresses still meets the
    second limit); None when either is reached."""
    limit = current_app.config["LOGIN_LIMIT"]
    return accounts.claim_sign_in(conn, addr, username, iso(utcnow() - LOGIN_WINDOW), limit,
                                  limit * USER_LIMIT_FACTOR)


@bp.route("/login", methods=["GET", "POST"])
def login():
    conn = get_db()
    if user_count(conn) == 0:
        return render_template("setup_needed.html", title=N_("Set up")), 503
    error = None
    if request.method == "POST":
        check_csrf()
        addr = client_addr()
        username = request.form.get("username", "")[:200]
        attempt = _claim_attempt(conn, addr, username)
        if attempt is None:
            return render_template("login.html", title=N_("Sign in"), error=gettext("Too many failed sign-ins; wait 15 "
                                                                                "minutes.")), 429
        row = accounts.password_of(conn, username)
        ok = _check_password(row, request.form.get("password", ""))
        if ok:
            accounts.sign_in_succeeded(conn, attempt)
            _start_session(username, int(row["session_generation"]))
            return redirect(_safe_next(request.args.get("next")))
        error = gettext("Wrong user name or password.")
    return render_template("login.html", title=N_("Sign in"), error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out this browser and every other session of the user (a stolen cookie dies too)."""
    if g.user:
        end_sessions(get_db(), g.user)
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    conn = get_db()
    if user_count(conn) > 0:
        return redirect(url_for("auth.login"))
    token = request.values.get("token", "")
    row = accounts.setup_token(conn)
    valid = (row is not None and hmac.compare_digest(row["value"], _sha(token))
             and utcnow() - parse_iso(row["updated_at"]) < SETUP_TOKEN_TTL)
    if not valid:
        return render_template("setup_needed.html", title=N_("Set up"),
                               error=gettext("This setup link is not valid (used, expired or mistyped).")), 403
    error = None
    if request.method == "POST":
        check_csrf()
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        if not username:
            error = gettext("Choose a user name.")
        elif password != request.form.get("password2", ""):
            error = gettext("The two passwords differ.")
        else:
            try:
                generation = set_password(conn, username, password)
            except ValueError as exc:
                error = str(exc)
            else:
                _start_session(username, generation)
                return redirect(url_for("pages.dashboard"))
    return render_template("setup.html", title=N_("Set up"), token=token, error=error), (400 if error else 200)


# ---------------------------------------------------------------- account: password and API tokens


def _account_page(**extra):
    conn = get_db()
    nonce = secrets.token_urlsafe(12)
    session["token_nonce"] = nonce
    return render_template("account.html", title=N_("Account"), tokens=accounts.list_tokens(conn), nonce=nonce, **extra)


@bp.route("/account")
def account():
    return _account_page()


@bp.route("/account/password", methods=["POST"])
def change_password():
    conn = get_db()
    row = accounts.password_of(conn, g.user)
    new = request.form.get("password", "")
    if row is None or not check_password_hash(row[0], request.form.get("current", "")):
        return _account_page(password_error=gettext("The current password is wrong.")), 400
    if new != request.form.get("password2", ""):
        return _account_page(password_error=gettext("The two passwords differ.")), 400
    try:
        generation = set_password(conn, g.user, new)
    except ValueError:
        return _account_page(password_error=gettext("The password needs at least 8 characters.")), 400
    _start_session(g.user, generation)  # this browser stays signed in; every other session ends
    return _account_page(password_message=gettext("Password changed."))


@bp.route("/account/tokens", methods=["POST"])
def new_token():
    name = request.form.get("name", "").strip()
    if not name:
        return _account_page(token_error=gettext("Give the token a name (what will use it).")), 400
    # A form posted twice (a reload, a double click) makes one token: the nonce is good once.
    if request.form.get("nonce") != session.pop("token_nonce", None):
        return _account_page(token_error=gettext("This form was already sent; the token was shown then.")), 409
    scope = request.form.get("scope", "read")
    if scope not in SCOPES:
        return _account_page(token_error=gettext("Choose what the token may do.")), 400
    token = create_token(get_db(), name[:80], scope)
    return _account_page(new_token=token, new_token_name=name[:80])


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
def revoke(token_id: int):
    accounts.revoke_token(get_db(), token_id)
    return redirect(url_for("auth.account"))
