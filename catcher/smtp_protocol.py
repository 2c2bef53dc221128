"""catcher's SMTP session: aiosmtpd's protocol with a faster DATA reader and address path.

This mirrors aiosmtpd 1.4.6 (``aiosmtpd/smtp.py``), the version pyproject pins as
``>=1.4.6,<1.5``. Before widening that pin, check each aiosmtpd name below in the new
release; none of the private ones is a promise.

Private names (leading underscore) it overrides, reads, calls or sets:

- ``_getaddr`` (overridden, and called for any path the fast path does not take);
- ``_reader`` and ``_writer`` (set by ``_cb_client_connected``);
- ``_set_post_data_state()``, ``_call_handler_hook()``, ``_decode_data``;
- ``_auth_required`` (set after ``__init__``, which warns when it is given there);
- ``_timeout_cb`` (extended: an idle session gets a 421 before the close);
- ``_timeout_handle`` and ``_reset_timeout()`` (a fault rule's delay stops the idle timer
  while it waits).

Hooks it relies on: the handler's ``handle_HELO``, ``handle_EHLO``, ``handle_MAIL`` and
``handle_RCPT`` (returning ``MISSING`` keeps aiosmtpd's own reply), the authenticator
(which may leave AUTH's reply to be replaced), and every reply going through ``push``.
The ``smtp_*`` command methods are wrapped to log each command.

Undocumented public names:

- ``command_size_limit``, and ``command_size_limits``: a defaultdict on the class, shared
  by every instance, which ``__init__`` clears and each ``EHLO`` grows;
- ``check_helo_needed()``, ``check_auth_needed()``.

Documented names whose inner workings it relies on:

- ``line_length_limit``: ``__init__`` makes it the ``StreamReader`` limit, which bounds
  command lines as well as the separator search in DATA;
- ``smtp_DATA``: replaced whole, so its checks, replies and dot-unstuffing are copied from
  1.4.6, and its ``@syntax`` too (``syntax`` is how HELP finds a command);
- ``connection_made``: STARTTLS calls it a second time with ``transport`` already set;
- ``eof_received`` and ``connection_lost`` cancel the session task, so a DATA read ends in
  ``CancelledError``, never ``IncompleteReadError``;
- ``push``, ``local_part_limit``, ``data_size_limit``, ``envelope``, ``transport``,
  ``MISSING``.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import re
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, AnyStr, cast

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, syntax

from catcher.faults import Decision, Faults, Where
from catcher.sessions import Session, SessionLog
from catcher.settings import Settings

__all__ = ["DISCONNECT", "CatcherSMTP", "SMTPStats", "read_data"]

# A reply that is no reply: the server closes the connection without a word.
DISCONNECT = "\x00disconnect"
# The commands whose lines the session log keeps (the rest show by their 500 reply).
LOGGED_COMMANDS = (
    "HELO", "EHLO", "MAIL", "RCPT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP", "STARTTLS",
)  # fmt: skip

# aiosmtpd 1.4 itself sets Session.login_data after every successful AUTH, then warns that
# it is deprecated: one warning per login, about aiosmtpd's own code, that no catcher user
# can act on.
warnings.filterwarnings(
    "ignore", message="Session.login_data is deprecated", category=DeprecationWarning
)
# It also logs it, as a warning, on every login.
logging.getLogger("mail.log").addFilter(
    lambda record: "login_data is deprecated" not in record.getMessage()
)


@dataclass(slots=True)
class SMTPStats:
    """Counters kept by the handler and its sessions; read without a lock (one writer thread)."""

    accepted: int = 0
    rejected: int = 0  # replies of 4xx or 5xx, for any command
    connections: int = 0
    refused: int = 0  # connections over the cap, answered 421


# The most a session holds of one line or one unfinished piece of DATA in its buffer.
STREAM_LIMIT = 64 * 1024

# A MAIL FROM / RCPT TO path of the plain <local@domain> form, as nearly every client sends.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(
    rf"[ \t]*<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?![ \t]*\()[ \t]*"
)


async def read_data(reader: asyncio.StreamReader, size_limit: int | None) -> bytes | None:
    """Read DATA through the CRLF.CRLF that ends it: the unstuffed content, or None if too big.

    Consumes exactly up to the end of data, so pipelined commands stay in ``reader``.
    ``size_limit`` (None or 0 for none) counts the bytes as sent, before unstuffing and
    without the final ".<CRLF>", as aiosmtpd does; all is read either way.
    """
    # aiosmtpd reads DATA a line at a time: an await, two joins and a debug log per line,
    # about 2 ms for 100 KB. Reading up to each ".<CRLF>" takes one await for most
    # messages; only a dot that opens a line (after a CRLF, or first in the data) ends it,
    # so "\n.\r\n" and "\r\n.\n" do not (SMTP smuggling).
    chunks: list[bytes] = []
    size = 0
    too_much = False
    before = b"\r\n"  # the two bytes before the next chunk: data opens a line
    while True:
        try:
            chunk = await reader.readuntil(b".\r\n")
            head = chunk if len(chunk) >= 5 else before + chunk
            ended = head[-5:-3] == b"\r\n"
        except asyncio.LimitOverrunError as error:
            # No ".<CRLF>" within the stream limit. asyncio keeps back what could be the
            # start of one, so the bytes it reports consumed cannot end the data.
            chunk = await reader.readexactly(error.consumed)
            ended = False
        size += len(chunk)
        if not too_much:
            # Every chunk but an overrun one ends in ".<CRLF>"; only the last is not data,
            # so "size - 3" never overstates the size.
            if size_limit and size - 3 > size_limit:
                too_much = True
                chunks.clear()  # keep reading, but hold nothing
            else:
                chunks.append(chunk)
        if ended:
            break
        before = chunk[-2:] if len(chunk) >= 2 else (before + chunk)[-2:]
    if too_much:
        return None
    data = b"".join(chunks)[:-3]
    if data[:1] == b".":
        data = data[1:]
    return data.replace(b"\r\n.", b"\r\n")


class CatcherSMTP(SMTP):
    """One SMTP session: aiosmtpd's, plus counters, per-instance limits and two fast paths."""

    def __init__(
        self,
        handler: object,
        settings: Settings,
        *,
        tls_context: ssl.SSLContext | None,
        implicit_tls: bool,
        authenticator: Callable[..., AuthResult],
        loop: asyncio.AbstractEventLoop,
        live: set[CatcherSMTP],
        stats: SMTPStats,
        faults: Faults | None = None,
        sessions: SessionLog | None = None,
    ) -> None:
        limit = settings.max_command_length
        # Read by SMTP.__init__, so set first. It bounds what a session buffers: a command
        # line is read (and discarded past it) in pieces this big, DATA as well. Real-world
        # mail carries lines far longer than RFC 5321's 1000 octets: read_data takes them
        # in pieces, and a long line only counts against the message size cap.
        self.line_length_limit = max(STREAM_LIMIT, limit + 2)
        self.command_size_limit = limit
        self._live = live
        self._stats = stats
        self.faults = faults if faults is not None else Faults()
        self._sessions = sessions
        self.log: Session | None = None
        self.client = ""
        # A fault rule's decision about the next reply (AUTH's, decided where the login
        # is known: in the authenticator).
        self.pending: Decision | None = None
        self._greeted = False
        self._close_after_reply = False
        # Between the 354 and the reply to the data: a message is being received.
        self.receiving = False
        self.received = asyncio.Event()  # set whenever no message is being received
        self.received.set()
        # The server is stopping: after the reply to the data being received, any
        # command but QUIT gets 421.
        self.stopping = False
        super().__init__(
            handler,
            data_size_limit=settings.max_message_size,
            enable_SMTPUTF8=True,
            hostname=settings.hostname,
            ident="catcher ESMTP",
            # On the implicit-TLS port the socket is TLS already: no STARTTLS there.
            tls_context=None if implicit_tls else tls_context,
            require_starttls=settings.require_tls and not implicit_tls,
            timeout=settings.smtp_timeout,
            auth_require_tls=False,
            authenticator=authenticator,
            loop=loop,
        )
        # Set after __init__, which warns (and logs, per connection) when AUTH is
        # required without TLS; plain-text AUTH is what a local catcher is for.
        self._auth_required = settings.smtp_auth is not None
        # aiosmtpd keeps these on the class, shared by every session, and its default is
        # its own 512; keep one per session (each EHLO still adds 36 for MAIL, as stock).
        self.command_size_limits = collections.defaultdict(lambda: limit)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # not the second call that STARTTLS makes
            self._live.add(self)
            self._stats.connections += 1
            peer = transport.get_extra_info("peername")
            self.client = str(peer[0]) if isinstance(peer, tuple) else ""
            if self._sessions is not None:
                self.log = self._sessions.open(self.client)
        super().connection_made(transport)

    def eof_received(self) -> bool | None:
        # aiosmtpd cancels the session here and keeps the socket half open; a session
        # cancelled before its command loop began (a client gone at once, or while its
        # greeting was delayed) would never close it, and keep its connection slot.
        super().eof_received()
        self._close()
        return False

    def connection_lost(self, error: Exception | None) -> None:
        self._live.discard(self)
        if self.log is not None and self._sessions is not None:
            self._sessions.close(self.log)
        super().connection_lost(error)

    @property
    def closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def logged(self, direction: str, text: str) -> None:
        """Keep a line of the conversation in the session log."""
        if self.log is not None and self._sessions is not None:
            self._sessions.line(self.log, direction, text)

    async def apply(self, decision: Decision | None) -> str | None:
        """Carry out what a fault rule decided: wait, and the reply to give instead of
        the normal one (``DISCONNECT``: none, the connection closes); None: go on as
        normal."""
        if decision is None:
            return None
        if self.log is not None and self._sessions is not None:
            self._sessions.fault(self.log, decision.rule)
        if decision.delay:
            # The idle timer must not take the wait for a silent client.
            if self._timeout_handle is not None:
                self._timeout_handle.cancel()
            try:
                await asyncio.sleep(decision.delay)
            except asyncio.CancelledError:
                self._close()  # the client left while it waited
                raise
            if not self.closing:
                self._reset_timeout()
        if decision.closes:
            self._close_after_reply = True
        if decision.action in ("disconnect", "drop"):
            return DISCONNECT
        return decision.reply

    async def push(self, status: AnyStr) -> None:
        text = status if isinstance(status, str) else status.decode("utf-8", "replace")
        if self.closing:
            return  # (commands the client pipelined after a reply that closed)
        if self.stopping and not self.receiving and not text.startswith("221"):
            self.shut()
            return
        if self.pending is not None:
            decision, self.pending = self.pending, None
            instead = await self.apply(decision)
            if instead is not None:
                text = instead
        if not self._greeted and text.startswith("220 "):
            self._greeted = True
            if self.faults.active:
                instead = await self.apply(self.faults.decide(Where("connect", self.client)))
                if instead is not None:
                    text = instead
                    # A refused greeting ends the session: nothing else may go on.
                    self._close_after_reply = True
        if text == DISCONNECT:
            self.logged("S", "(connection closed without a reply)")
            self._close()
            return
        code = text[:1]
        if code in ("4", "5"):
            self._stats.rejected += 1
        self.logged("S", text)
        await super().push(text)
        if self._close_after_reply:
            self._close()

    def shut(self) -> None:
        """The server is stopping: say so (421, as RFC 5321 3.8 asks) and close."""
        if self.transport is not None and not self.transport.is_closing():
            reply = f"421 4.3.2 {self.hostname} Shutting down, try again later"
            cast(asyncio.WriteTransport, self.transport).write(f"{reply}\r\n".encode())
            self.logged("S", reply)
            self.transport.close()

    def _close(self) -> None:
        # (aiosmtpd's loop goes on reading what the client pipelined while the transport
        # is closing, without yielding: each command method returns at once instead.)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _timeout_cb(self) -> None:
        # aiosmtpd closes an idle session without a word; say why, as servers do.
        if self.transport is not None and not self.transport.is_closing():
            transport = cast(asyncio.WriteTransport, self.transport)
            transport.write(b"421 4.4.2 Idle too long, closing the connection\r\n")
            self.logged("S", "421 4.4.2 Idle too long, closing the connection")
        super()._timeout_cb()  # type: ignore[no-untyped-call]

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd runs every path through the email header parser and defines a
        # typing.Protocol class on each call: about 45 us an address, near half the
        # CPU a 2 KB message costs. A plain <local@domain> needs neither; anything
        # else goes the long way.
        match = _PLAIN_PATH.match(arg)
        if match is None:
            return super()._getaddr(arg)
        address = match.group(1)
        if self.local_part_limit and address.index("@") > self.local_part_limit:
            return None, None
        return address, arg[match.end() :]

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        if self.closing:
            return
        mechanism, _, initial = (arg or "").partition(" ")
        self.logged("C", f"AUTH {mechanism}" + (" ****" if initial else ""))
        await super().smtp_AUTH(arg)
        auth = self.session.auth_data if self.session is not None else None
        if self.log is not None and self._sessions is not None and isinstance(auth, str):
            self._sessions.login(self.log, auth)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if self.closing:
            return
        self.logged("C", "DATA" if not arg else f"DATA {arg}")
        # The checks and replies are aiosmtpd's; the reading is read_data's, which takes
        # lines of any length (aiosmtpd answers 500 past its stream limit); only the
        # message size cap limits them.
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        # A stop from here on lets the message finish: its client gets the reply.
        self.receiving = True
        self.received.clear()
        try:
            await self._receive()
        finally:
            self.receiving = False
            self.received.set()

    async def _receive(self) -> None:
        assert self.envelope is not None
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            original_content = await read_data(self._reader, self.data_size_limit)
        except asyncio.CancelledError:
            self._writer.close()  # the connection was lost during DATA
            raise
        if original_content is None:
            await self.push("552 Error: Too much mail data")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        self.logged("C", f"({len(original_content)} bytes of message, then .)")
        content: str | bytes = original_content
        if self._decode_data:
            content = original_content.decode("utf-8", errors="surrogateescape")
        self.envelope.content = content
        self.envelope.original_content = original_content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)


def _logging(name: str) -> Callable[..., Any]:
    """aiosmtpd's handler of an SMTP command, with the command kept in the session log."""
    original = getattr(SMTP, f"smtp_{name}")

    @functools.wraps(original)
    async def command(self: CatcherSMTP, arg: str | None) -> None:
        if self.closing:
            return
        self.logged("C", name if not arg else f"{name} {arg}")
        await original(self, arg)

    return command


for _name in LOGGED_COMMANDS:
    setattr(CatcherSMTP, f"smtp_{_name}", _logging(_name))
