"""The SMTP side: an aiosmtpd handler that stores every message, and a server thread to run it."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import ipaddress
import logging
import socket
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword, Session, TLSSetupException
from aiosmtpd.smtp import Envelope as SMTPEnvelope

from catcher.database import DatabaseError
from catcher.faults import Faults, Where
from catcher.loopthread import LoopThread, new_event_loop
from catcher.message import Delivery, Envelope
from catcher.sessions import SessionLog
from catcher.settings import Settings
from catcher.smtp_protocol import CatcherSMTP, SMTPStats
from catcher.store import MessageStore

__all__ = ["SMTPServer", "SMTPStats", "make_tls_context"]

log = logging.getLogger("catcher.smtp")

# Connections the kernel queues before we accept them (Linux caps it at somaxconn).
BACKLOG = 4096


class Handler:
    """Envelope in, message into the store, status string out; fault rules first."""

    def __init__(
        self,
        store: MessageStore,
        settings: Settings,
        stats: SMTPStats,
        faults: Faults,
        session_log: SessionLog,
    ) -> None:
        self.store = store
        self.max_recipients = settings.max_recipients
        self.stats = stats
        self.faults = faults
        self.session_log = session_log

    def _where(self, server: SMTP, stage: str, envelope: SMTPEnvelope, **facts: Any) -> Where:
        session = cast(CatcherSMTP, server)
        auth = session.session.auth_data if session.session is not None else None
        login = auth if isinstance(auth, str) else None
        recipients = tuple(facts.pop("recipients", ()))
        return Where(
            stage,
            session.client,
            login,
            facts.pop("sender", envelope.mail_from),
            recipients,
            self.store.routes,
        )

    async def _fault(
        self, server: SMTP, stage: str, envelope: SMTPEnvelope, **facts: Any
    ) -> str | None:
        """The reply a fault rule gives instead of the normal one; None as normal."""
        if not self.faults.active:  # (no rules: nothing built, nothing locked)
            return None
        where = self._where(server, stage, envelope, **facts)
        return await cast(CatcherSMTP, server).apply(self.faults.decide(where))

    async def handle_HELO(
        self, server: SMTP, session: Session, envelope: SMTPEnvelope, hostname: str
    ) -> object:
        instead = await self._fault(server, "helo", envelope)
        if instead is not None:
            session.host_name = None  # refused: MAIL still needs a greeting
            return instead
        return MISSING  # aiosmtpd's own reply

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: SMTPEnvelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        instead = await self._fault(server, "helo", envelope)
        if instead is not None:
            session.host_name = None
            return [instead]
        session.host_name = hostname
        # aiosmtpd reads one line at a time, so pipelined commands already work;
        # saying so lets clients such as Postfix and Exim send them in one batch.
        return [*responses[:-1], "250-PIPELINING", *responses[-1:]]

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: SMTPEnvelope,
        address: str,
        mail_options: list[str],
    ) -> object:
        instead = await self._fault(server, "mail", envelope, sender=address)
        return MISSING if instead is None else instead  # MISSING: aiosmtpd takes the sender

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: SMTPEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return f"452 4.5.3 Too many recipients (at most {self.max_recipients})"
        instead = await self._fault(server, "rcpt", envelope, recipients=(address,))
        if instead is not None:
            return instead
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SMTPEnvelope) -> str:
        instead = await self._fault(server, "data", envelope, recipients=envelope.rcpt_tos)
        if instead is not None:
            return instead  # not stored: the client was told it failed, or saw no reply
        raw = envelope.content
        assert isinstance(raw, bytes)
        peer = session.peer
        client = f"{peer[0]}" if isinstance(peer, tuple) else str(peer or "")
        auth = session.auth_data
        message = self.store.add(
            raw,
            Envelope(envelope.mail_from or "", tuple(envelope.rcpt_tos)),
            Delivery(
                client_address=client,
                helo=session.host_name or "",
                tls=session.ssl is not None or _is_tls(server),
                auth_user=auth if isinstance(auth, str) else None,
            ),
            durable=False,
        )
        journal = self.store.journal
        if journal is not None:
            # In memory (and visible) already; 250 waits for the commit, which the
            # database's thread makes for every message queued meanwhile at once. A
            # crash before it loses only mail that got no 250; a retry may duplicate.
            try:
                await journal.synced()
            except DatabaseError as error:
                log.error("%s", error)
                return "451 4.3.0 Error: could not save the message"
        self.stats.accepted += 1
        log_session = cast(CatcherSMTP, server).log
        if log_session is not None:
            self.session_log.stored(log_session, message.id)
        # Replying only after the message is stored means a client that saw 250
        # can read it from the API at once.
        return f"250 2.0.0 OK queued as {message.id}"

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            # A client that cannot do TLS is the client's problem: one line, no traceback.
            cause = error.__cause__ or error
            log.warning("STARTTLS handshake failed: %s", cause)
            return "454 4.7.0 TLS not available"
        log.exception("SMTP session error")
        return f"451 4.3.0 Error: {type(error).__name__}"


def _is_tls(server: SMTP) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


def make_authenticator(
    credentials: tuple[str, str] | None,
    mailbox_login: Callable[[str, str, str | None], bool | None],
    faults: Faults | None = None,
    route: Callable[[tuple[str, ...], str | None], tuple[str, ...]] | None = None,
) -> Callable[..., AuthResult]:
    """Accept any login, or only the given one; a login a mailbox claims (its
    ``smtp_user``) needs that mailbox's password. The user name is kept with each message
    and routes it. Fault rules at stage ``auth`` are asked here, where the login is known;
    the session carries out what one decides in place of AUTH's reply."""

    def authenticate(
        server: SMTP, session: Session, envelope: SMTPEnvelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = data.login.decode("utf-8", "replace")
        password = data.password.decode("utf-8", "replace")
        if faults is not None and faults.active:
            protocol = cast(CatcherSMTP, server)
            decision = faults.decide(Where("auth", protocol.client, user, route=route))
            protocol.pending = decision
            if decision is not None and (decision.reply or decision.action != "delay"):
                return AuthResult(success=False, handled=False)  # (its reply is replaced)
        claimed = mailbox_login(user, password, credentials[1] if credentials else None)
        if claimed is False or (
            claimed is None and credentials is not None and (user, password) != credentials
        ):
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=user)

    return authenticate


def make_tls_context(cert: Path | None, key: Path | None, hostname: str) -> ssl.SSLContext:
    """A server TLS context from the given files, or from a fresh self-signed certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if cert is not None and key is not None:
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as error:
            reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
            raise OSError(f"tls_cert/tls_key: cannot load {cert} and {key}: {reason}") from None
        return context
    cert_pem, key_pem = _self_signed(hostname)
    # ssl only loads certificates from files: keep them in a private temporary folder
    # for the moment it takes, never in the working directory.
    with tempfile.TemporaryDirectory(prefix="catcher-tls-") as folder:
        cert_path, key_path = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_path.write_bytes(cert_pem)
        key_path.touch(mode=0o600)
        key_path.write_bytes(key_pem)
        context.load_cert_chain(cert_path, key_path)
    return context


def _self_signed(hostname: str) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    if hostname != "localhost":
        names.append(x509.DNSName(hostname))
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class SMTPServer:
    """aiosmtpd on an event loop in its own thread; ``start()`` returns once it listens.

    aiosmtpd's ``Controller`` cannot bind port 0 (its readiness probe dials port 0), so the
    server is created here directly and the bound port read from its socket.
    """

    def __init__(
        self,
        store: MessageStore,
        settings: Settings,
        tls_context: ssl.SSLContext | None = None,
        faults: Faults | None = None,
        session_log: SessionLog | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.tls_context = tls_context
        self.stats = SMTPStats()
        self.faults = faults if faults is not None else Faults()
        self.session_log = session_log if session_log is not None else SessionLog()
        self.handler = Handler(store, settings, self.stats, self.faults, self.session_log)
        self.address: tuple[str, int] | None = None
        self.smtps_address: tuple[str, int] | None = None
        self._servers: list[asyncio.Server] = []
        self._live: set[CatcherSMTP] = set()
        self._closed = False
        self._thread = LoopThread(
            "catcher-smtp", self._listen, lambda: new_event_loop(settings.event_loop)
        )

    def start(self) -> None:
        self._thread.start()

    @property
    def loop_name(self) -> str:
        """Which event loop runs SMTP: asyncio or uvloop."""
        loop = self._thread.loop
        return type(loop).__module__.split(".")[0] if loop is not None else ""

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self.settings
        factory = self._protocol_factory(loop, implicit_tls=False)
        servers = await _create_servers(loop, factory, settings.smtp_host, settings.smtp_port, None)
        self._servers += servers
        self.address = _bound(servers[0])
        if settings.smtps_port is not None:
            if self.tls_context is None:
                raise RuntimeError("smtps_port: implicit TLS needs TLS, which is turned off")
            factory = self._protocol_factory(loop, implicit_tls=True)
            servers = await _create_servers(
                loop, factory, settings.smtp_host, settings.smtps_port, self.tls_context
            )
            self._servers += servers
            self.smtps_address = _bound(servers[0])

    def _protocol_factory(
        self, loop: asyncio.AbstractEventLoop, *, implicit_tls: bool
    ) -> Callable[[], asyncio.Protocol]:
        session = functools.partial(
            CatcherSMTP,
            self.handler,
            self.settings,
            tls_context=self.tls_context,
            implicit_tls=implicit_tls,
            authenticator=make_authenticator(
                self.settings.smtp_auth, self.store.check_login, self.faults, self.store.routes
            ),
            loop=loop,
            live=self._live,
            stats=self.stats,
            faults=self.faults,
            sessions=self.session_log,
        )
        most = self.settings.max_connections

        def factory() -> asyncio.Protocol:
            if most and len(self._live) >= most:
                self.stats.refused += 1
                return Refusal(f"421 4.7.0 {self.settings.hostname} Too many connections ({most})")
            return session()

        return factory

    @property
    def sessions(self) -> int:
        """SMTP sessions open right now."""
        return len(self._live)

    def alive(self) -> bool:
        return self._thread.alive() and bool(self._servers) and not self._closed

    def close(self) -> int:
        """Take no more mail: stop listening at once and tell each session that is not
        receiving a message that the server is stopping (421); the number of messages
        still being received."""
        if not self._thread.alive():
            return 0

        async def close() -> int:
            return self._take_no_more()

        return self._thread.call(close)

    def stop(self, grace: float = 0.0) -> None:
        """Take no more mail, give the messages being received up to ``grace`` seconds to
        end (each client gets its reply; 250 once stored), tell the sessions still open that
        the server is stopping (421), and end the thread."""

        async def shutdown() -> None:
            self._take_no_more()
            # Each message being received ends with its reply (or its connection): not
            # waiting for a client that got its 250 and keeps the connection open.
            ending = [asyncio.ensure_future(p.received.wait()) for p in self._live if p.receiving]
            if ending and grace > 0:
                await asyncio.wait(ending, timeout=grace)
            for waiting in ending:
                waiting.cancel()
            for protocol in list(self._live):
                protocol.shut()
            for server in self._servers:
                await server.wait_closed()

        self._thread.stop(shutdown, timeout=grace + 10)

    def _take_no_more(self) -> int:
        if not self._closed:
            self._closed = True
            for server in self._servers:
                server.close()
            for protocol in list(self._live):
                if protocol.receiving:
                    protocol.stopping = True
                else:
                    protocol.shut()
        return sum(protocol.receiving for protocol in self._live)


class Refusal(asyncio.Protocol):
    """A connection over the cap: a 421 reply and a close, as RFC 5321 4.3.2 allows."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        writer = cast(asyncio.WriteTransport, transport)  # uvloop's is not a subclass
        writer.write(f"{self.reply}\r\n".encode())
        writer.close()


async def _create_servers(
    loop: asyncio.AbstractEventLoop,
    factory: Callable[[], asyncio.Protocol],
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
) -> list[asyncio.Server]:
    # Bind every address the host name has to one port, even when port 0 picks it.
    infos = await loop.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, sockaddr in _unique(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                sockaddr = (sockaddr[0], sockets[0].getsockname()[1], *sockaddr[2:])
            sock.bind(sockaddr)
            sock.setblocking(False)
    except OSError as error:
        for sock in sockets:
            sock.close()
        raise OSError(error.errno, f"SMTP port {host}:{port}: {error.strerror}") from None
    # asyncio listens with a backlog of 100 unless told: a burst of clients (a test suite
    # starting, a load test) then sees connections refused before we accept them.
    return [
        await loop.create_server(factory, sock=sock, ssl=tls, backlog=BACKLOG) for sock in sockets
    ]


def _unique(infos: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    unique = []
    for info in infos:
        if info[4] not in seen:
            seen.add(info[4])
            unique.append(info)
    return unique


def _bound(server: asyncio.Server) -> tuple[str, int]:
    host, port = server.sockets[0].getsockname()[:2]
    return str(host), int(port)
