"""An asyncio SMTP load generator: persistent sessions, every reply checked, latency per message.

Each of ``concurrency`` connections says EHLO once and then sends message after message as
MAIL, RCPT, DATA and the content, waiting for each reply as an application (smtplib) does
(no pipelining, which a bare aiosmtpd does not offer). Latency is from handing the content
and its closing ``.`` to the socket to reading the 250; any other reply, or a dropped
connection, counts as a failure and the session is opened again.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
Message = tuple[str, str, bytes]  # mail_from, rcpt_to, content ending in CRLF


class SMTPFailure(Exception):
    """A reply other than the one expected, or a lost connection."""


class _Session(asyncio.Protocol):
    """One client connection: replies are parsed from a buffer, one awaited at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            try:
                reply = self._take()
            except SMTPFailure as error:
                waiter.set_exception(error)
                return
            if reply is not None:
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(SMTPFailure(f"connection lost: {exc or 'closed by server'}"))

    def _take(self) -> tuple[int, bytes] | None:
        """A whole (possibly multi-line) reply from the buffer, or None if not all there yet."""
        buffer = self.buffer
        start = 0
        while True:
            end = buffer.find(b"\r\n", start)
            if end < 0:
                return None
            if buffer[start + 3 : start + 4] != b"-":
                head = bytes(buffer[start : start + 3])
                text = bytes(buffer[:end])
                del buffer[: end + 2]
                if not head.isdigit():
                    raise SMTPFailure(f"not an SMTP reply: {text[:80]!r}")
                return int(head), text
            start = end + 2

    async def reply(self) -> tuple[int, bytes]:
        reply = self._take()
        if reply is not None:
            return reply
        if self.lost:
            raise SMTPFailure("connection lost")
        self.waiter = self.loop.create_future()
        try:
            return await self.waiter
        finally:
            self.waiter = None

    async def expect(self, code: int, command: bytes) -> bytes:
        assert self.transport is not None
        if command:
            self.transport.write(command)
        got, text = await self.reply()
        if got != code:
            raise SMTPFailure(f"{command[:20]!r} got {text[:120]!r}, expected {code}")
        return text

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


async def open_session(host: str, port: int) -> _Session:
    loop = asyncio.get_running_loop()
    _, session = await loop.create_connection(lambda: _Session(loop), host, port)
    await session.expect(220, b"")
    await session.expect(250, b"EHLO bench.example\r\n")
    return session


async def send_one(session: _Session, message: Message) -> float:
    """Send one message on an open session; the seconds from the final dot to the 250."""
    mail_from, rcpt_to, content = message
    await session.expect(250, f"MAIL FROM:<{mail_from}>\r\n".encode())
    await session.expect(250, f"RCPT TO:<{rcpt_to}>\r\n".encode())
    await session.expect(354, b"DATA\r\n")
    started = time.perf_counter()
    await session.expect(250, content + b".\r\n")
    return time.perf_counter() - started


@dataclass
class LoadResult:
    """What one timed phase did."""

    count: int
    concurrency: int
    elapsed: float
    latencies: list[float]
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)  # perf_counter of each 250, in order
    started_at: float = 0.0
    client_cpu: float = 0.0  # CPU seconds the load generator spent, when measured

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)

    def summary(self) -> dict[str, Any]:
        return {
            "messages": self.ok,
            "concurrency": self.concurrency,
            "seconds": round(self.elapsed, 3),
            "per_second": round(self.rate, 1),
            "p50_ms": round(self.percentile(50) * 1000, 3),
            "p99_ms": round(self.percentile(99) * 1000, 3),
            "client_cpu_us_per_msg": round(self.client_cpu / max(1, self.ok) * 1e6, 1),
            "failures": self.failures,
            "errors": self.errors[:5],
        }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    ordered = sorted(values)
    # Nearest-rank on the sorted values (no interpolation surprises on small samples).
    rank = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Generator:
    """Open sessions once, then send timed phases over them."""

    def __init__(self, host: str, port: int, concurrency: int) -> None:
        self.host = host
        self.port = port
        self.concurrency = concurrency
        self.sessions: list[_Session | None] = [None] * concurrency

    async def open(self) -> None:
        opened = await asyncio.gather(
            *(open_session(self.host, self.port) for _ in range(self.concurrency))
        )
        self.sessions = list(opened)

    async def close(self) -> None:
        for session in self.sessions:
            if session is not None and session.transport is not None:
                try:
                    await session.expect(221, b"QUIT\r\n")
                except SMTPFailure:
                    pass
                session.close()

    async def phase(
        self,
        make: Callable[[int], Message],
        first: int,
        count: int,
        *,
        record_done: bool = False,
        rate: float | None = None,
        timeout: float = 600.0,
    ) -> LoadResult:
        """Send messages ``first`` .. ``first + count - 1`` over all sessions; timed.

        With ``rate`` (messages per second) message ``first + k`` is not started before
        ``k / rate`` s into the phase: a steady offered load. A server that falls behind
        gets the late ones at once, as many at a time as there are sessions.
        """
        result = LoadResult(count=count, concurrency=self.concurrency, elapsed=0.0, latencies=[])
        next_index = first
        end = first + count

        async def worker(slot: int) -> None:
            nonlocal next_index
            while next_index < end:
                index = next_index
                next_index += 1
                if rate:
                    delay = started + (index - first) / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                message = make(index)
                session = self.sessions[slot]
                try:
                    if session is None or session.lost:
                        session = self.sessions[slot] = await open_session(self.host, self.port)
                    latency = await send_one(session, message)
                except (SMTPFailure, OSError) as error:
                    result.failures += 1
                    if len(result.errors) < 20:
                        result.errors.append(str(error))
                    if session is not None:
                        session.close()
                    self.sessions[slot] = None
                    continue
                result.latencies.append(latency)
                if record_done:
                    result.done_at.append(time.perf_counter())

        started = time.perf_counter()
        result.started_at = started
        await asyncio.wait_for(
            asyncio.gather(*(worker(slot) for slot in range(self.concurrency))), timeout
        )
        result.elapsed = time.perf_counter() - started
        return result


def client_loop(choice: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The load generator's own loop factory: uvloop when asked for (or auto and installed)."""
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(coro_factory: Callable[[], Coroutine[Any, Any, T]], loop_choice: str = "auto") -> T:
    """Run a coroutine on a fresh loop of the chosen kind."""
    loop = client_loop(loop_choice)()
    try:
        return loop.run_until_complete(coro_factory())
    finally:
        loop.close()
