"""SMTP under pressure: bursts of clients, huge lines and data, idle and surplus sessions."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import socket
import subprocess
import tracemalloc
from collections.abc import Callable

import pytest

from catcher.server import Catcher

from .conftest import make_email, run_async, smtp_client, wait_until

MB = 1024 * 1024


def greeting(sock: socket.socket) -> bytes:
    """Read one whole reply: a multi-line reply ends with the line whose
    code is followed by a space, however the segments arrive."""
    reply = b""
    while not _complete(reply):
        chunk = sock.recv(1024)
        if not chunk:
            break
        reply += chunk
    return reply


def _complete(reply: bytes) -> bool:
    if not reply.endswith(b"\r\n"):
        return False
    last = reply[:-2].rsplit(b"\r\n", 1)[-1]
    return len(last) < 4 or last[3:4] != b"-"


def reply_to(sock: socket.socket, command: bytes) -> bytes:
    sock.sendall(command)
    return greeting(sock)


def test_a_thousand_clients_at_once_all_get_the_greeting(catcher: Catcher) -> None:
    host, port = catcher.smtp_address

    async def client() -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            line = await asyncio.wait_for(reader.readline(), 60)
            writer.write(b"QUIT\r\n")
            await writer.drain()
            return line
        finally:
            writer.close()

    async def burst() -> list[bytes | BaseException]:
        return await asyncio.gather(*(client() for _ in range(1000)), return_exceptions=True)

    results = run_async(burst())
    greeted = [r for r in results if isinstance(r, bytes) and r.startswith(b"220 ")]
    assert len(greeted) == 1000, [r for r in results if r not in greeted][:3]


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to read the backlog")
def test_the_listen_backlog_holds_a_burst(catcher: Catcher) -> None:
    port = catcher.smtp_port
    listing = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    backlogs = [int(line.split()[2]) for line in listing.splitlines() if line.strip()]
    assert backlogs and min(backlogs) >= 1000, listing


def send_in_pieces(sock: socket.socket, total: int, piece: bytes = b"A" * 65536) -> None:
    sent = 0
    while sent < total:
        sock.sendall(piece)
        sent += len(piece)


def test_a_huge_command_line_is_refused_without_being_held(catcher: Catcher, traced: None) -> None:
    with socket.create_connection(catcher.smtp_address, timeout=30) as sock:
        assert greeting(sock).startswith(b"220")
        assert reply_to(sock, b"EHLO client.test\r\n").startswith(b"250")
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        send_in_pieces(sock, 20 * MB)
        assert reply_to(sock, b"\r\n").startswith(b"500")
        peak = tracemalloc.get_traced_memory()[1] - before
        assert reply_to(sock, b"NOOP\r\n").startswith(b"250"), "the session goes on"
    assert peak < 2 * MB, f"a 20 MB command line held {peak / MB:.1f} MB"


def test_data_over_the_size_cap_is_discarded_as_it_streams(
    make_catcher: Callable[..., Catcher], traced: None
) -> None:
    catcher = make_catcher(max_message_size=MB)
    with socket.create_connection(catcher.smtp_address, timeout=30) as sock:
        greeting(sock)
        reply_to(sock, b"EHLO client.test\r\n")
        reply_to(sock, b"MAIL FROM:<a@example.com>\r\n")
        reply_to(sock, b"RCPT TO:<b@example.com>\r\n")
        assert reply_to(sock, b"DATA\r\n").startswith(b"354")
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        send_in_pieces(sock, 30 * MB, b"0123456789abcdef" * 4095 + b"0123456789abcd\r\n")
        assert reply_to(sock, b"\r\n.\r\n").startswith(b"552")
        peak = tracemalloc.get_traced_memory()[1] - before
    assert peak < 4 * MB, f"30 MB of DATA over a 1 MB cap held {peak / MB:.1f} MB"
    with smtp_client(catcher) as client:
        client.send_message(make_email(subject="next one"))
    assert len(catcher.store) == 1


def test_connections_over_the_cap_get_421_and_the_rest_go_on(
    make_catcher: Callable[..., Catcher],
) -> None:
    catcher = make_catcher(max_connections=3)
    held = [socket.create_connection(catcher.smtp_address, timeout=30) for _ in range(3)]
    try:
        for sock in held:
            assert greeting(sock).startswith(b"220")
        with socket.create_connection(catcher.smtp_address, timeout=30) as extra:
            refused = greeting(extra)
            assert refused.startswith(b"421 ") and b"Too many connections" in refused
            assert extra.recv(100) == b"", "closed after the 421"
        assert reply_to(held[0], b"NOOP\r\n").startswith(b"250")
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: not catcher.status().smtp_sessions, what="the sessions closed")
    assert catcher.status().smtp_refused == 1
    with smtp_client(catcher) as client:  # a place is free again
        client.send_message(make_email(subject="after"))
    assert catcher.status().smtp_connections == 4


def test_an_idle_session_is_closed_after_the_timeout(make_catcher: Callable[..., Catcher]) -> None:
    catcher = make_catcher(smtp_timeout=0.3)
    with socket.create_connection(catcher.smtp_address, timeout=30) as sock:
        assert greeting(sock).startswith(b"220")
        # Nothing more is sent: the server must end the session by itself.
        assert greeting(sock).startswith(b"421")
        assert sock.recv(100) == b""


def test_a_failed_starttls_is_one_log_line(
    catcher: Catcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with socket.create_connection(catcher.smtp_address, timeout=30) as sock:
        greeting(sock)
        reply_to(sock, b"EHLO client.test\r\n")
        assert reply_to(sock, b"STARTTLS\r\n").startswith(b"220")
        sock.sendall(b"\x16\x03\x01\x00\x05not a TLS hello, not at all" * 4)
        while sock.recv(4096):
            pass

    def failures() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "catcher.smtp"]

    wait_until(lambda: bool(failures()), what="the failed handshake was logged")
    with smtp_client(catcher) as client:  # one more session: it logs nothing more
        client.noop()
    wait_until(lambda: catcher.status().smtp_sessions == 0, what="that session ended")
    found = failures()
    assert len(found) == 1, [r.getMessage() for r in caplog.records]
    assert found[0].levelno == logging.WARNING
    assert not any(r.exc_info for r in caplog.records), "no traceback"
    assert re.search(r"handshake failed", found[0].getMessage())
