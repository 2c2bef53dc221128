"""The HTTP front under pressure: slow clients, thousands of waits, odd requests, fast stops."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from catcher.server import Catcher

from .conftest import Http, make_email, run_async, send, wait_until


@pytest.fixture
def slow_clients(catcher: Catcher) -> Iterator[list[socket.socket]]:
    """Sixty connections that each sent half a request head and then went quiet."""
    socks = []
    try:
        for _ in range(60):
            sock = socket.create_connection(catcher.http_address, timeout=30)
            sock.sendall(b"GET /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def test_slow_clients_do_not_hold_up_the_api(
    catcher: Catcher, http: Http, slow_clients: list[socket.socket]
) -> None:
    send(catcher, make_email(subject="still served"))
    wait_until(lambda: catcher.status().http_connections >= len(slow_clients))
    for _ in range(50):
        page = http.get("/api/messages", timeout=5)
        assert page["messages"][0]["subject"] == "still served"
    # Each slow client is still waiting for its answer, costing no worker meanwhile.
    assert threading.active_count() < 60


def test_a_slow_request_head_gets_408_and_a_close(make_catcher: Callable[..., Catcher]) -> None:
    catcher = make_catcher()
    front = catcher._http
    assert front is not None
    front.header_timeout = 0.3
    with socket.create_connection(catcher.http_address, timeout=30) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"].startswith("request head not sent")


def test_two_thousand_parked_waits_cost_no_threads(catcher: Catcher, http: Http) -> None:
    host, port = catcher.http_address
    waits, streams = 2000, 200
    request = "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    async def park(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request.format(path).encode())
        await writer.drain()
        return reader, writer

    async def scenario() -> tuple[int, list[bytes]]:
        opened = await asyncio.gather(
            *(park("/api/messages/wait?to=late@example.com&timeout=60") for _ in range(waits)),
            *(park("/api/events") for _ in range(streams)),
        )
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            None, wait_until, lambda: catcher.status().http_parked == waits + streams
        )
        threads = threading.active_count()
        # The API answers while they all wait; then one message answers every wait.
        page = await loop.run_in_executor(None, http.get, "/api/messages")
        assert page["total"] == 0
        await loop.run_in_executor(None, send, catcher, make_email(to="late@example.com"))
        heads = [await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 30) for r, _ in opened[:waits]]
        for _, writer in opened:
            writer.close()
        return threads, heads

    threads, heads = run_async(scenario())
    assert threads < 60, f"{threads} threads with {waits + streams} clients parked"
    assert all(head.startswith(b"HTTP/1.1 200 ") for head in heads)


def test_stop_is_quick_with_slow_clients_and_parked_waits(
    make_catcher: Callable[..., Catcher],
) -> None:
    catcher = make_catcher()
    socks = []
    try:
        for n in range(300):
            sock = socket.create_connection(catcher.http_address, timeout=30)
            if n % 2:
                sock.sendall(b"GET /api/messages HTTP/1.1\r\nHost: 127.0")
            else:
                sock.sendall(
                    b"GET /api/messages/wait?timeout=60 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                )
            socks.append(sock)
        wait_until(lambda: catcher.status().http_parked == 150)
        began = time.monotonic()
        catcher.stop()
        took = time.monotonic() - began
    finally:
        for sock in socks:
            sock.close()
    assert took < 1, f"stop() took {took:.2f} s"


@pytest.mark.parametrize("path", ["//api/health", "/api//health", "///api/health"])
def test_doubled_slashes_reach_the_app(catcher: Catcher, path: str) -> None:
    connection = http.client.HTTPConnection(*catcher.http_address, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    # Werkzeug merges the slashes with a redirect, or routes it as it is: never a 400.
    assert response.status in (200, 308), (response.status, body)
    if response.status == 308:
        assert response.getheader("Location", "").endswith("/api/health")
    else:
        assert json.loads(body)["status"] == "ok", body


def test_a_request_head_over_the_cap_is_refused_whole(catcher: Catcher) -> None:
    with socket.create_connection(catcher.http_address, timeout=30) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.sendall(b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n")
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 431 ")


def test_pipelined_requests_are_answered_in_order(catcher: Catcher) -> None:
    with socket.create_connection(catcher.http_address, timeout=30) as sock:
        sock.sendall(
            b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /api/nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        replies = b""
        while chunk := sock.recv(65536):
            replies += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", replies) == [b"200", b"200", b"404"]
