"""Server-sent events and many idle long-lived connections, over real HTTP."""

from __future__ import annotations

import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from catcher.server import Catcher

from .conftest import Http, make_email, send, smtp_client


class EventStream:
    """A streaming client of /api/events that parses events as they arrive."""

    def __init__(self, url: str, last_event_id: int | None = None, timeout: float = 10) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        path = parts.path or "/api/events"
        self.connection.request(
            "GET", path + (f"?{parts.query}" if parts.query else ""), headers=headers
        )
        self.response = self.connection.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("Content-Type", "").startswith("text/event-stream")

    def next(self) -> dict[str, Any]:
        """The next event: {"event", "id", "data"}."""
        event: dict[str, Any] = {}
        while True:
            line = self.response.fp.readline().decode()
            if line == "":
                raise EOFError("stream closed")
            line = line.rstrip("\n")
            if not line:
                if "event" in event:
                    return event
                continue
            field, _, value = line.partition(": ")
            if field == "data":
                event["data"] = json.loads(value)
            elif field in ("event", "id"):
                event[field] = int(value) if field == "id" else value

    def next_of(self, kind: str) -> dict[str, Any]:
        while True:
            event = self.next()
            if event["event"] == kind:
                return event

    def close(self) -> None:
        self.connection.close()


def test_new_message_event_arrives_within_a_second(catcher: Catcher) -> None:
    stream = EventStream(catcher.url)
    try:
        hello = stream.next()
        assert hello["event"] == "hello"
        with smtp_client(catcher) as client:
            client.send_message(make_email(subject="live!"))
            replied = time.monotonic()
        event = stream.next_of("message")
        assert time.monotonic() - replied < 1.0
        assert event["data"]["subject"] == "live!"
        assert event["data"]["id"] == catcher.store.latest().id  # type: ignore[union-attr]
        catcher.store.delete(event["data"]["id"])
        deleted = stream.next_of("delete")
        assert deleted["data"]["ids"] == [event["data"]["id"]]
        assert deleted["id"] > event["id"]
    finally:
        stream.close()


def test_last_event_id_replays_what_was_missed(catcher: Catcher) -> None:
    stream = EventStream(catcher.url)
    send(catcher, make_email(subject="seen"))
    seen = stream.next_of("message")
    stream.close()
    send(catcher, make_email(subject="missed 1"))
    send(catcher, make_email(subject="missed 2"))
    send(catcher, make_email(subject="come and gone"))
    gone = catcher.store.latest()
    assert gone is not None and catcher.store.delete(gone.id)
    resumed = EventStream(catcher.url, last_event_id=seen["id"])
    try:
        assert resumed.next()["event"] == "hello"
        first, second = resumed.next(), resumed.next()
        assert [first["data"]["subject"], second["data"]["subject"]] == ["missed 1", "missed 2"]
        assert first["id"] < second["id"]
        # A message deleted before the client came back is not replayed, only its deletion.
        deleted = resumed.next()
        assert (deleted["event"], deleted["data"]["ids"]) == ("delete", [gone.id])
        catcher.store.clear()
        assert resumed.next()["event"] == "clear"
    finally:
        resumed.close()


def test_read_events(catcher: Catcher, http: Http) -> None:
    send(catcher, make_email())
    message_id = catcher.store.latest().id  # type: ignore[union-attr]
    stream = EventStream(catcher.url)
    try:
        stream.next()
        http.json("PATCH", f"/api/messages/{message_id}", {"read": True})
        event = stream.next_of("read")
        assert event["data"] == {"id": message_id, "ids": [message_id], "read": True}
    finally:
        stream.close()


def test_heartbeats_keep_an_idle_stream_alive(catcher: Catcher) -> None:
    stream = EventStream(catcher.url + "/api/events?heartbeat=1")
    try:
        assert stream.next()["event"] == "hello"
        started = time.monotonic()
        beat = stream.next()
        assert beat["event"] == "heartbeat" and "id" not in beat
        assert 0.9 <= time.monotonic() - started < 3
        assert beat["data"]["seq"] == catcher.store.seq
    finally:
        stream.close()


def test_bad_last_event_id(http: Http) -> None:
    status, payload = http.json("GET", "/api/events", headers={"Last-Event-ID": "nope"})
    assert status == 400 and "Last-Event-ID" in payload["error"]


def test_two_hundred_idle_streams_do_not_starve_list_requests(catcher: Catcher, http: Http) -> None:
    send(catcher, make_email(subject="still answering"))
    host, port = catcher.http_address
    streams: list[socket.socket] = []
    try:
        for _ in range(200):
            sock = socket.create_connection((host, port), timeout=30)
            sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            streams.append(sock)
        # Every stream has been answered: each has its hello event.
        for sock in streams:
            received = b""
            while b"event: hello" not in received:
                chunk = sock.recv(4096)
                assert chunk, "stream closed"
                received += chunk

        def list_once(_: int) -> str:
            payload = http.get("/api/messages", timeout=30)
            return str(payload["messages"][0]["subject"])

        started = time.monotonic()
        with ThreadPoolExecutor(10) as pool:
            subjects = list(pool.map(list_once, range(100)))
        elapsed = time.monotonic() - started
        assert subjects == ["still answering"] * 100
        assert elapsed < 30
    finally:
        for sock in streams:
            sock.close()
