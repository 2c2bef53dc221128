"""``Catcher``: one store, the SMTP server and the HTTP server, started and stopped together."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from cheroot import wsgi

from catcher import __version__
from catcher.indexer import Indexer
from catcher.settings import Settings, hostport
from catcher.smtp import SMTPServer, make_tls_context
from catcher.state import ServerStatus
from catcher.store import MessageStore
from catcher.web import create_app

__all__ = ["Catcher"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Idle worker threads kept in hand so that a burst of long-lived requests (event
# streams, waits) never leaves ordinary requests queueing behind them.
SPARE_THREADS = 8
MAX_THREADS = 2048


class _HTTPServer:
    """cheroot serving the Flask app from a thread, its pool grown as streams open.

    cheroot is CherryPy's production WSGI server: a thread pool behind a selector, so
    idle keep-alive connections cost no thread and each response is written (and an
    event-stream chunk flushed) as soon as the app yields it. A response that stays
    open, such as the event stream or a wait, holds one worker; the pool is therefore
    grown in the background whenever fewer than ``SPARE_THREADS`` workers are idle.
    """

    def __init__(self, app: WSGIApp, host: str, port: int, threads: int) -> None:
        self.server = wsgi.Server(
            (host, port),
            self._serve,
            numthreads=threads,
            max=MAX_THREADS,
            server_name="catcher",
            request_queue_size=128,
            timeout=30,
            shutdown_timeout=2,
        )
        # Request lines and headers are small for this API; bodies are JSON of a few bytes.
        self.server.max_request_header_size = 64 * 1024
        self.server.max_request_body_size = 1024 * 1024
        # How often the selector loop looks up from its connections, and so how long a
        # stop waits for it (cheroot's default, 0.5 s, made every stop that slow).
        self.server.expiration_interval = 0.02
        self.app = app
        self._need_threads = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._keeper: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.bind_addr[:2]
        return str(host), int(port)

    def _serve(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if self.server.requests.idle < SPARE_THREADS:
            self._need_threads.set()
        return self.app(environ, start_response)

    def _keep_spare_threads(self) -> None:
        while not self._stopping:
            self._need_threads.wait()
            self._need_threads.clear()
            if self._stopping:
                return
            pool = self.server.requests
            if pool.idle < SPARE_THREADS:
                pool.grow(SPARE_THREADS * 2)

    def start(self) -> None:
        try:
            self.server.prepare()  # binds now, so errors reach the caller
        except OSError as error:
            host, port = self.server.bind_addr[:2]
            raise OSError(f"HTTP port {host}:{port}: {error}") from None
        self._thread = threading.Thread(target=self.server.serve, name="catcher-http", daemon=True)
        self._thread.start()
        self._keeper = threading.Thread(
            target=self._keep_spare_threads, name="catcher-http-pool", daemon=True
        )
        self._keeper.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.server.ready

    def stop(self) -> None:
        self._stopping = True
        self._need_threads.set()
        self.server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)


class Catcher:
    """A running mail catcher: ``with Catcher(Settings(smtp_port=0, http_port=0)) as c: ...``.

    ``start()`` returns once both servers listen (ports of 0 are resolved to the bound
    ones) and raises if either cannot; ``stop()`` stops SMTP first so nothing new
    arrives, then HTTP.
    """

    def __init__(self, settings: Settings | None = None, store: MessageStore | None = None) -> None:
        self.settings = settings or Settings()
        self.store = store if store is not None else MessageStore(self.settings)
        self.started_at = 0.0
        self._smtp: SMTPServer | None = None
        self._http: _HTTPServer | None = None
        self._indexer: Indexer | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Catcher:
        settings = self.settings
        tls = None
        if settings.starttls or settings.smtps_port is not None:
            tls = make_tls_context(settings.tls_cert, settings.tls_key, settings.hostname)
        self._smtp = SMTPServer(self.store, settings, tls)
        self._smtp.start()
        try:
            app = create_app(self.store, settings, self.status)
            self._http = _HTTPServer(
                app, settings.http_host, settings.http_port, settings.http_threads
            )
            self._http.start()
        except BaseException:
            self._smtp.stop()
            raise
        self._indexer = Indexer(self.store)
        self._indexer.start()
        self.started_at = time.monotonic()
        return self

    def stop(self) -> None:
        """Stop SMTP (nothing new arrives), end every wait and event stream, stop HTTP."""
        if self._smtp is not None:
            self._smtp.stop()
        self.store.close()
        if self._http is not None:
            self._http.stop()
        if self._indexer is not None:
            self._indexer.stop()

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
        """The inbox's address, e.g. ``http://127.0.0.1:8025``."""
        host, port = self.http_address
        if ":" in host:
            host = f"[{host}]"
        elif host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        return f"http://{host}:{port}"

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
            smtp_address=hostport(*smtp.address) if smtp and smtp.address else None,
            event_loop=smtp.loop_name if smtp else "",
            uptime=round(time.monotonic() - self.started_at, 3) if self.started_at else 0.0,
            version=__version__,
        )
