"""``Catcher``: one store, the SMTP server and the HTTP server, started and stopped together."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from catcher import __version__
from catcher.database import Database
from catcher.faults import Faults, read_rule
from catcher.front import HTTPFront
from catcher.indexer import Indexer
from catcher.sessions import SessionLog
from catcher.settings import MB, Settings, hostport
from catcher.smtp import SMTPServer, make_tls_context
from catcher.state import ServerStatus
from catcher.store import MessageStore
from catcher.web import create_app

__all__ = ["Catcher"]


class Catcher:
    """A running mail catcher: ``with Catcher(Settings(smtp_port=0, http_port=0)) as c: ...``.

    ``start()`` returns once both servers listen (ports of 0 are resolved to the bound
    ones) and raises if either cannot; ``stop()`` stops SMTP first so nothing new
    arrives, then HTTP; ``close()`` alone stops SMTP taking mail.
    """

    def __init__(self, settings: Settings | None = None, store: MessageStore | None = None) -> None:
        self.settings = settings or Settings()
        self.store = store if store is not None else MessageStore(self.settings)
        # Fault rules (those the settings give, then the API's) and the SMTP session log.
        self.faults = Faults()
        self.faults.on_change = self.store.note_faults
        for text in self.settings.faults:
            self.faults.add(read_rule(text))
        self.sessions = SessionLog()
        self.started_at = 0.0
        self._smtp: SMTPServer | None = None
        self._http: HTTPFront | None = None
        self._indexer: Indexer | None = None
        self._database: Database | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Catcher:
        """Open the database (``--db``; DatabaseError when it cannot be used), then start
        SMTP, HTTP and the indexer."""
        settings = self.settings
        tls = None
        if settings.starttls or settings.smtps_port is not None:
            tls = make_tls_context(settings.tls_cert, settings.tls_key, settings.hostname)
        if settings.db is not None:
            self._database = Database(settings.db)
            try:
                saved = self._database.load(settings.max_messages, settings.max_bytes)
                self._database.start()
                self.store.restore(saved, self._database)
            except BaseException:
                self._database.close()
                self._database = None
                raise
        self._smtp = SMTPServer(self.store, settings, tls, self.faults, self.sessions)
        try:
            self._smtp.start()
        except BaseException:
            self._close_database()
            raise
        try:
            app = create_app(self.store, settings, self.status, self.faults, self.sessions)
            self._http = HTTPFront(
                app,
                self.store,
                settings.http_host,
                settings.http_port,
                threads=settings.http_threads,
                body_limit=_body_limit(settings),
            )
            self._http.start()
        except BaseException:
            self._smtp.stop()
            self._close_database()
            raise
        self._indexer = Indexer(self.store)
        self._indexer.start()
        self.started_at = time.monotonic()
        return self

    def close(self) -> int:
        """Take no more mail: SMTP stops listening and its sessions not in the middle of a
        message are told so (421); the number of messages still being received."""
        return self._smtp.close() if self._smtp is not None else 0

    def stop(self, grace: float = 0.0) -> None:
        """Stop SMTP (nothing new arrives; a message being received has ``grace`` seconds
        to end, then its session too gets 421), end every wait and event stream, stop HTTP."""
        try:
            if self._smtp is not None:
                self._smtp.stop(grace)
        finally:
            # Whatever SMTP's stop did, the rest stops too and the file is closed.
            self.store.close()
            try:
                if self._http is not None:
                    self._http.stop()
                if self._indexer is not None:
                    self._indexer.stop()
            finally:
                self._close_database()

    def _close_database(self) -> None:
        """Write what is left and let the file go (another catcher may open it)."""
        if self._database is not None:
            self._database.close()
            self._database = None

    def __enter__(self) -> Catcher:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- where it listens ------------------------------------------------------------

    @property
    def smtp_address(self) -> tuple[str, int]:
        assert self._smtp is not None and self._smtp.address is not None, "not started"
        return self._smtp.address

    @property
    def smtps_address(self) -> tuple[str, int] | None:
        assert self._smtp is not None, "not started"
        return self._smtp.smtps_address

    @property
    def http_address(self) -> tuple[str, int]:
        assert self._http is not None, "not started"
        return self._http.address

    @property
    def smtp_host(self) -> str:
        return self.smtp_address[0]

    @property
    def smtp_port(self) -> int:
        return self.smtp_address[1]

    @property
    def url(self) -> str:
        """The inbox's address, e.g. ``http://127.0.0.1:8025``, and the base path if any."""
        host, port = self.http_address
        if ":" in host:
            host = f"[{host}]"
        elif host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        return f"http://{host}:{port}{self.settings.base_path}"

    def status(self) -> ServerStatus:
        """Liveness and counters for /api/health and /api/stats."""
        smtp, http = self._smtp, self._http
        return ServerStatus(
            smtp_up=smtp is not None and smtp.alive(),
            http_up=http is not None and http.alive(),
            smtp_accepted=smtp.stats.accepted if smtp else 0,
            smtp_rejected=smtp.stats.rejected if smtp else 0,
            smtp_connections=smtp.stats.connections if smtp else 0,
            smtp_sessions=smtp.sessions if smtp else 0,
            smtp_refused=smtp.stats.refused if smtp else 0,
            http_connections=http.connections if http else 0,
            http_parked=http.parked if http else 0,
            smtp_address=hostport(*smtp.address) if smtp and smtp.address else None,
            event_loop=smtp.loop_name if smtp else "",
            uptime=round(time.monotonic() - self.started_at, 3) if self.started_at else 0.0,
            version=__version__,
        )


def _body_limit(settings: Settings) -> Callable[[bytes, bytes], int]:
    """Request bodies are capped at 1 MB, except where an API takes a whole message:
    catcher's own ``POST /api/messages`` (raw, up to the SMTP size cap) and Mailpit's send
    (base64 in JSON)."""
    large = settings.max_request_body
    raw = max(MB, settings.max_message_size)
    send = settings.base_path.encode() + b"/api/v1/send"
    add = settings.base_path.encode() + b"/api/messages"

    def limit(method: bytes, target: bytes) -> int:
        path = b"/" + target.partition(b"?")[0].lstrip(b"/")
        if method != b"POST":
            return MB
        return large if path == send else raw if path == add else MB

    return limit
