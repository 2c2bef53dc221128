"""``HTTPFront``: catcher's HTTP/1.1 server, h11 on its own event loop in a thread.

Connections, request heads and bodies are read on the loop, so a slow or idle client
costs a coroutine and a socket, never a worker. Each request then runs the WSGI app in
a bounded pool; an ``AsyncBody`` answer (a wait, an event stream) is produced back on
the loop, parked until the store changes. Nothing here blocks the loop: header reads
time out, writes time out, and ``stop()`` cancels everything at once.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import h11

from catcher.changes import Bridge, LoopChanges
from catcher.loopthread import LoopThread
from catcher.parked import Reply
from catcher.store import MessageStore
from catcher.wsgi import Result, WSGIApp, call_app, environ_for

__all__ = ["HTTPFront"]

log = logging.getLogger("catcher.http")

READ_SIZE = 64 * 1024
_WAITING, _STREAMING = "waiting", "streaming"  # a parked response, before and after its head
HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade"}


def bind(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A listening socket made with getaddrinfo's proto (IPPROTO_TCP).

    asyncio sets TCP_NODELAY on accepted sockets only when the listener's proto is
    IPPROTO_TCP; ``socket.create_server`` leaves it 0, and every small response then
    waits ~40 ms for the client's delayed ACK (Nagle).
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


class HTTPFront:
    """``start()`` binds and returns once serving (errors re-raised); ``stop()`` is fast."""

    def __init__(
        self,
        app: WSGIApp,
        store: MessageStore,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        threads: int = 16,
        max_connections: int = 10_000,
        header_timeout: float = 10.0,
        idle_timeout: float = 60.0,
        body_timeout: float = 30.0,
        send_timeout: float = 30.0,
        max_head: int = 64 * 1024,
        max_body: int = 1024 * 1024,
        body_limit: Callable[[bytes, bytes], int] | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.host, self.port = host, port
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.body_timeout = body_timeout
        self.send_timeout = send_timeout
        self.max_head = max_head
        self.max_body = max_body
        # The cap for one request's body, from its method and target (default max_body).
        self.body_limit = body_limit or (lambda method, target: max_body)
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="catcher-http-worker")
        self._sock: socket.socket | None = None
        self._server: asyncio.AbstractServer | None = None
        self._changes: LoopChanges | None = None
        self._bridge: Bridge | None = None
        self._tasks: dict[asyncio.Task[Any], asyncio.Transport] = {}
        self._closing = False
        self._parked_state: dict[asyncio.Transport, str] = {}
        self._thread = LoopThread("catcher-http", self._serve)

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        assert self._sock is not None, "not started"
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def connections(self) -> int:
        """Open HTTP connections."""
        return len(self._tasks)

    @property
    def parked(self) -> int:
        """Responses parked on the loop: waits and event streams."""
        return len(self._parked_state)

    def start(self) -> None:
        try:
            self._sock = bind(self.host, self.port)
        except OSError as error:
            raise OSError(f"HTTP port {self.host}:{self.port}: {error}") from None
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.alive() and not self._closing

    def stop(self) -> None:
        if self._closing:
            return
        try:
            self._thread.stop(self._shutdown, timeout=2)
        except Exception:
            log.exception("HTTP shutdown")
        if self._bridge is not None:
            self._bridge.stop()
        # Requests still in the app finish on their own; nothing waits for them.
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._connection, sock=self._sock, limit=READ_SIZE
        )
        self._changes = LoopChanges(loop, self.pool, self.store)
        self._bridge = Bridge(self.store, self._changes)
        self._bridge.start()

    async def _shutdown(self) -> None:
        self._closing = True
        assert self._server is not None and self._changes is not None
        self._server.close()  # the listener: no new connections
        # Sockets and coroutines go first: closing the parked producers' source first
        # would let each of them build and send a (408) answer nobody is waiting for.
        # A parked wait is told why (one prepared answer for all), an event stream ends
        # cleanly (its last chunk), anything else is cut.
        stopping = _error(503, "catcher is stopping")
        tasks = list(self._tasks.items())
        for task, transport in tasks:
            state = self._parked_state.get(transport)
            if state is None:
                transport.abort()
            else:
                transport.write(stopping if state == _WAITING else b"0\r\n\r\n")
                transport.close()
            task.cancel()
        self._changes.close()
        if tasks:
            await asyncio.wait([t for t, _ in tasks], timeout=0.2)

    # -- one connection -----------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        transport = cast(asyncio.Transport, writer.transport)
        if self._closing or len(self._tasks) >= self.max_connections:
            transport.write(_error(503, f"too many connections (at most {self.max_connections})"))
            transport.close()
            return
        self._tasks[task] = transport
        server = writer.get_extra_info("sockname")[:2]
        client = (writer.get_extra_info("peername") or ("", 0))[:2]
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_head)
        clean = False
        try:
            first = True
            while not self._closing:
                request = await self._read_head(conn, reader, writer, first)
                if request is None:
                    break
                first = False
                if not await self._handle(conn, reader, writer, request, server, client):
                    break
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
            clean = True
        except (ConnectionError, TimeoutError, h11.ProtocolError):
            pass
        except asyncio.CancelledError:
            pass  # stop(): the transport is aborted below
        except Exception:
            log.exception("HTTP connection")
        finally:
            self._tasks.pop(task, None)
            if clean:
                transport.close()
            else:
                transport.abort()

    async def _read_head(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        first: bool,
    ) -> h11.Request | None:
        """The next request's head; None to close (EOF, idle, too slow, malformed)."""
        loop = asyncio.get_running_loop()
        # A new connection must send its head within header_timeout; a kept-alive one may
        # idle for idle_timeout, then has header_timeout from its first byte.
        started = first or bool(conn.trailing_data[0])
        try:
            async with asyncio.timeout(self.header_timeout if started else self.idle_timeout) as cm:
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        data = await reader.read(READ_SIZE)
                        _check_head_size(conn, data, self.max_head)
                        if data and not started:
                            started = True
                            cm.reschedule(loop.time() + self.header_timeout)
                        conn.receive_data(data)
                        continue
                    if isinstance(event, h11.Request):
                        return event
                    return None  # ConnectionClosed (or PAUSED, which start_next_cycle avoids)
        except TimeoutError:
            if started and conn.our_state is h11.IDLE:
                writer.write(_error(408, f"request head not sent within {self.header_timeout:g} s"))
            return None
        except h11.RemoteProtocolError as error:
            status = error.error_status_hint
            if status == 431 and b"\n" not in conn.trailing_data[0][: self.max_head]:
                status = 414  # the request line alone is over the cap
            writer.write(_error(status, str(error)))
            return None

    async def _read_body(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: h11.Request,
    ) -> bytes | None:
        limit = self.body_limit(request.method, request.target)
        length = next((v for n, v in request.headers if n == b"content-length"), None)
        if length is not None and int(length) > limit:
            writer.write(_error(413, f"request body exceeds {limit} bytes"))
            return None
        if conn.they_are_waiting_for_100_continue:
            writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        body = bytearray()
        async with asyncio.timeout(self.body_timeout):
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(READ_SIZE))
                elif isinstance(event, h11.Data):
                    body += event.data
                    if len(body) > limit:
                        writer.write(_error(413, f"request body exceeds {limit} bytes"))
                        return None
                elif isinstance(event, h11.EndOfMessage):
                    return bytes(body)
                else:
                    return None

    async def _handle(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: h11.Request,
        server: tuple[str, int],
        client: tuple[str, int],
    ) -> bool:
        """Answer one request; False when the connection must close."""
        try:
            body = await self._read_body(conn, reader, writer, request)
        except h11.RemoteProtocolError as error:
            writer.write(_error(error.error_status_hint, str(error)))
            return False
        if body is None:
            return False
        environ = environ_for(
            request.method.decode("ascii"),
            request.target,
            request.headers,
            body,
            server,
            client,
            request.http_version.decode("ascii"),
            self._changes,
        )
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.pool, call_app, self.app, environ)
        except Exception:
            log.exception("HTTP app")
            writer.write(conn.send(_response(500, [(b"content-type", b"text/plain")], 0)))
            writer.write(conn.send(h11.EndOfMessage()))
            return False
        if result.async_body is not None:
            return await self._parked(conn, reader, writer, result)
        headers = _clean(result.headers)
        if result.stream is None:
            if request.method != b"HEAD" and result.status not in (204, 304):
                headers = _with_length(headers, len(result.body))
            out = conn.send(
                h11.Response(status_code=result.status, headers=headers, reason=result.reason)
            )
            if result.body and request.method != b"HEAD":
                out += conn.send(h11.Data(data=result.body))
            writer.write(out + conn.send(h11.EndOfMessage()))  # one write, one segment
            await self._drain(writer)
            return True
        return await self._stream(conn, writer, result)

    async def _stream(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, result: Result
    ) -> bool:
        """A sync iterable of unknown length: one worker call per chunk, each sent at once."""
        loop = asyncio.get_running_loop()
        assert result.stream is not None
        writer.write(conn.send(_head(result)))
        try:
            if result.body:
                writer.write(conn.send(h11.Data(data=result.body)))
            while (
                chunk := await loop.run_in_executor(self.pool, next, result.stream, None)
            ) is not None:
                if chunk:
                    writer.write(conn.send(h11.Data(data=chunk)))
                    await self._drain(writer)
            writer.write(conn.send(h11.EndOfMessage()))
            return True
        finally:
            await loop.run_in_executor(self.pool, result.close)

    async def _parked(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        result: Result,
    ) -> bool:
        """Produce an ``AsyncBody`` on the loop, ending it early if the client goes away."""
        transport = cast(asyncio.Transport, writer.transport)
        self._parked_state[transport] = _WAITING
        try:
            return await self._park(conn, reader, writer, result)
        finally:
            self._parked_state.pop(transport, None)

    async def _park(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        result: Result,
    ) -> bool:
        producing = asyncio.ensure_future(self._produce(conn, writer, result))
        # A client that hangs up mid-write leaves the producer's error unread: read it.
        producing.add_done_callback(_consume)
        while True:
            reading = asyncio.ensure_future(reader.read(READ_SIZE))
            try:
                await asyncio.wait((producing, reading), return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                producing.cancel()
                reading.cancel()
                raise
            if producing.done():
                reading.cancel()
                try:  # a read must be over before the next one starts
                    data = await reading
                except asyncio.CancelledError:
                    data = None
                if data:
                    conn.receive_data(data)
                elif data == b"":
                    conn.receive_data(b"")
                return producing.result()
            data = reading.result()
            if not data:  # the client hung up: stop parking for it
                producing.cancel()
                return False
            conn.receive_data(data)  # a pipelined request, kept for the next cycle
            if len(conn.trailing_data[0]) > self.max_head:
                return await producing

    async def _produce(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, result: Result
    ) -> bool:
        assert result.async_body is not None and self._changes is not None
        items = result.async_body.produce(self._changes)
        started = False
        try:
            async for item in items:
                transport = cast(asyncio.Transport, writer.transport)
                if isinstance(item, Reply):
                    self._parked_state.pop(transport, None)
                    headers = [
                        (n, v) for n, v in _clean(result.headers) if n.lower() != b"content-type"
                    ]
                    headers.append((b"content-type", item.content_type.encode()))
                    writer.write(
                        conn.send(_response(item.status, headers, len(item.body)))
                        + conn.send(h11.Data(data=item.body))
                        + conn.send(h11.EndOfMessage())
                    )
                    await self._drain(writer)
                    return True
                if not started:
                    started = True
                    self._parked_state[transport] = _STREAMING
                    writer.write(conn.send(_head(result)))
                writer.write(conn.send(h11.Data(data=item)))
                await self._drain(writer)
            if not started:
                writer.write(conn.send(_head(result)))
            writer.write(conn.send(h11.EndOfMessage()))
            return not self._closing
        finally:
            await items.aclose()

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(self.send_timeout):  # a client that stops reading is dropped
            await writer.drain()


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _check_head_size(conn: h11.Connection, data: bytes, cap: int) -> None:
    """h11 checks its cap only while a head is incomplete; a fast client gets past it."""
    buffered = len(conn.trailing_data[0])
    if buffered + len(data) <= cap:
        return
    whole = conn.trailing_data[0] + data
    end = whole.find(b"\r\n\r\n")
    if end == -1 or end + 4 > cap:
        line_end = whole.find(b"\n")
        hint = 414 if line_end == -1 or line_end > cap else 431
        raise h11.RemoteProtocolError(
            f"request line and headers exceed {cap} bytes", error_status_hint=hint
        )


def _clean(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP]


def _with_length(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    kept = [(n, v) for n, v in headers if n.lower() != b"content-length"]
    return kept + [(b"content-length", str(length).encode())]


def _head(result: Result) -> h11.Response:
    """The head of an answer whose body follows in chunks."""
    return h11.Response(
        status_code=result.status, headers=_clean(result.headers), reason=result.reason
    )


def _response(status: int, headers: list[tuple[bytes, bytes]], length: int) -> h11.Response:
    return h11.Response(
        status_code=status,
        headers=_with_length(headers, length),
        reason=http.HTTPStatus(status).phrase.encode(),
    )


def _error(status: int, text: str) -> bytes:
    """A whole JSON error response, written raw (h11 may be in an error state by then)."""
    reason = http.HTTPStatus(status).phrase
    body = json.dumps({"error": text}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body
