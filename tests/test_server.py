"""``Catcher`` as a whole: starting, and stopping quickly whatever the clients hold open."""

from __future__ import annotations

import http.client
import smtplib
import threading
import time
from collections.abc import Callable

import pytest

from catcher.server import Catcher

from .conftest import wait_until

STREAMS = WAITS = 20


def test_stop_is_quick_with_event_streams_and_waits_open(
    make_catcher: Callable[..., Catcher],
) -> None:
    catcher = make_catcher()
    host, port = catcher.http_address
    endings: dict[str, list[bytes]] = {"stream": [], "wait": []}
    opened = threading.Barrier(STREAMS + 1)

    def hold(kind: str, path: str) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            if kind == "stream":
                response.readline()  # the hello has come: the stream is open
                opened.wait()
            endings[kind].append(f"{response.status} ".encode() + response.read())
        finally:
            connection.close()

    threads = [
        threading.Thread(target=hold, args=("stream", "/api/events")) for _ in range(STREAMS)
    ] + [
        threading.Thread(target=hold, args=("wait", "/api/messages/wait?to=nobody&timeout=60"))
        for _ in range(WAITS)
    ]
    for thread in threads:
        thread.start()
    # Parked once the front counts them; the streams have said hello as well.
    wait_until(lambda: catcher.status().http_parked == STREAMS + WAITS, what="all parked")
    opened.wait()
    began = time.monotonic()
    catcher.stop()
    took = time.monotonic() - began
    for thread in threads:
        thread.join(10)
    # Well under the one-second slices waits used to sleep in, with room for a busy machine.
    assert took < 0.8, f"stop() took {took:.3f} s with {STREAMS + WAITS} clients waiting"
    assert len(endings["wait"]) == WAITS
    assert all(e.startswith(b"503 ") and b"stopping" in e for e in endings["wait"])
    assert len(endings["stream"]) == STREAMS
    assert all(e.startswith(b"200 ") for e in endings["stream"])


def test_stop_tells_a_client_in_the_middle_of_data_421_rather_than_dropping_it(
    make_catcher: Callable[..., Catcher],
) -> None:
    catcher = make_catcher()
    with smtplib.SMTP(*catcher.smtp_address, timeout=30) as client:
        client.ehlo()
        client.mail("shop@example.com")
        client.rcpt("ada@example.com")
        assert client.docmd("DATA")[0] == 354
        client.send(b"Subject: never finished\r\n\r\nhalf of it")
        catcher.stop()  # no grace: the message cannot finish
        code, reply = client.getreply()
        assert code == 421 and b"Shutting down" in reply
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()
    assert len(catcher.store) == 0
