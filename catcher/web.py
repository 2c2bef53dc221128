"""The Flask application: the JSON API, the inbox's static files and the security around them."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask, Response, request, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, NotFound

from catcher import api, check_api, compat, fault_api, mailbox_api, transfer_api, wire
from catcher.checks import Reports
from catcher.database import DatabaseError
from catcher.faults import Faults
from catcher.preview import PartTokens
from catcher.sessions import SessionLog
from catcher.settings import Settings
from catcher.state import AppState, ServerStatus, app_state
from catcher.store import MessageStore

# The UI's own pages: no inline script, nothing from other origins. Previews of captured
# HTML are served by the API with a stricter policy of their own.
UI_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)
MAX_BODY = 64 * 1024
# On the WSGI environ of a request for a path outside the base path: the base path.
OUTSIDE_KEY = "catcher.outside_base_path"
# Check reports kept for messages asked about again: at most this, or a 16th of --max-bytes.
REPORT_BYTES = 16 * 1024 * 1024


def static_folder() -> Path:
    """Where the UI files are: inside the installed package, or the source tree's static/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "static", here.parent / "static"):
        if (candidate / "index.html").is_file():
            return candidate
    return here.parent / "static"


def create_app(
    store: MessageStore,
    settings: Settings,
    status: Callable[[], ServerStatus],
    faults: Faults | None = None,
    sessions: SessionLog | None = None,
) -> Flask:
    """Build the app for one store; ``status`` reports on the servers around it, and
    ``faults`` and ``sessions`` are the SMTP server's rules and conversations."""
    folder = static_folder()
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    AppState(
        store,
        settings,
        status,
        PartTokens(),
        faults if faults is not None else Faults(),
        sessions if sessions is not None else SessionLog(),
        Reports(
            min(REPORT_BYTES, settings.max_bytes // 16) if settings.max_bytes else REPORT_BYTES
        ),
    ).install(app)
    guard = Guard(settings)
    app.before_request(guard.check)
    if settings.base_path:
        app.wsgi_app = BasePath(app.wsgi_app, settings.base_path)  # type: ignore[method-assign]
        app.before_request(_inside_base_path)
    app.after_request(guard.decorate)
    app.register_blueprint(api.bp)
    app.register_blueprint(mailbox_api.bp)
    app.register_blueprint(fault_api.bp)
    app.register_blueprint(check_api.bp)
    app.register_blueprint(transfer_api.bp)
    compat.register(app, settings.compat)

    @app.get("/")
    def index() -> Response:
        """The inbox."""
        return _ui(send_from_directory(folder, "index.html"))

    @app.get("/static/<path:filename>")
    def static(filename: str) -> Response:
        """The inbox's scripts, styles and icons."""
        return _ui(send_from_directory(folder, filename))

    @app.errorhandler(DatabaseError)
    def not_saved(exc: DatabaseError) -> ResponseReturnValue:
        # The change is not in the file (--db): say so, and try again after a restart.
        return wire.error(503, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        if request.path.startswith(("/api/", "/view/", "/messages")):
            return wire.http_error(exc)
        return exc

    return app


class BasePath:
    """Serves the app under a path prefix (``--base-path /mail``), as behind a reverse proxy.

    The prefix moves from ``PATH_INFO`` to ``SCRIPT_NAME``, so routes stay as they are
    and ``request.script_root`` (hence every URL the app hands out) carries it. The bare
    prefix redirects to the inbox at ``prefix/``; any other path is marked, and answered
    404 once the ``Guard`` has seen the request.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if path == self.prefix:
            query = environ.get("QUERY_STRING", "")
            location = self.prefix + "/" + (f"?{query}" if query else "")
            moved = Response(status=308, headers={"Location": location})
            return moved(environ, start_response)
        if path.startswith(self.prefix + "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
            environ["PATH_INFO"] = path[len(self.prefix) :]
        else:
            environ[OUTSIDE_KEY] = self.prefix
        return self.app(environ, start_response)


def _inside_base_path() -> None:
    prefix = request.environ.get(OUTSIDE_KEY)
    if prefix is not None:
        raise NotFound(f"not found: this catcher is served under {prefix}/")


def _ui(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = UI_POLICY
    return response


class Guard:
    """Who may use the HTTP side: same-origin pages (plus an allow-list), optional basic auth.

    A page on another origin must not read or delete mail, so a request that carries an
    ``Origin`` (or ``Sec-Fetch-Site: cross-site``) from elsewhere is refused, the event
    stream included. When listening on loopback only, the ``Host`` header must name a
    loopback host too, which stops DNS-rebinding pages from posing as same-origin.
    """

    def __init__(self, settings: Settings) -> None:
        self.origins = frozenset(settings.cors_origins)
        self.any_origin = "*" in self.origins
        self.auth = settings.http_auth
        self.loopback_only = _is_loopback(settings.http_host)

    def check(self) -> ResponseReturnValue | None:
        if self.loopback_only and not self._host_allowed(request.host):
            return wire.error(403, f"host {request.host[:80]!r} is not this catcher's address")
        origin = request.headers.get("Origin")
        if _has_part_token():
            pass  # an image of a message's HTML, loaded by the sandboxed preview
        elif origin is not None and not self._same_origin(origin):
            if not self._allowed(origin):
                return wire.error(403, f"cross-origin request from {origin[:80]} refused")
            if request.method == "OPTIONS":
                return self._preflight(origin)
        elif origin is None and request.headers.get("Sec-Fetch-Site") == "cross-site":
            return wire.error(403, "cross-site request refused")
        if self.auth is not None and not self._authorised():
            response = wire.error(401, "authentication required")
            response.headers["WWW-Authenticate"] = 'Basic realm="catcher", charset="UTF-8"'
            return response
        return None

    def decorate(self, response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin is not None and not self._same_origin(origin) and self._allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        # The preview has an opaque origin: parts it loads by token must be embeddable.
        policy = "cross-origin" if _has_part_token() else "same-origin"
        response.headers.setdefault("Cross-Origin-Resource-Policy", policy)
        return response

    def _allowed(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    def _preflight(self, origin: str) -> Response:
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = (
            "Content-Type, Last-Event-ID, Authorization"
        )
        response.headers["Access-Control-Max-Age"] = "600"
        return response

    def _same_origin(self, origin: str) -> bool:
        return origin == f"{request.scheme}://{request.host}"

    def _host_allowed(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower()
        return name == "localhost" or name.endswith(".localhost") or _is_loopback(name)

    def _authorised(self) -> bool:
        given = request.authorization
        if given is None or given.type != "basic" or self.auth is None:
            return False
        user, password = self.auth
        return hmac.compare_digest(
            (given.username or "").encode(), user.encode()
        ) & hmac.compare_digest((given.password or "").encode(), password.encode())


def _has_part_token() -> bool:
    """Whether this request is for a part and carries that part's token."""
    args = request.view_args or {}
    if request.endpoint != "api.part" or request.method != "GET":
        return False
    ident, part_id, token = args.get("ident"), args.get("part_id"), request.args.get("t", "")
    if not isinstance(ident, str) or not ident.isdigit() or not isinstance(part_id, str):
        return False
    return app_state().tokens.valid(int(ident), part_id, token)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
