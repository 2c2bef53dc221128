"""Fixtures: real catchers on ephemeral loopback ports, and helpers that talk to them."""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from catcher.server import Catcher
from catcher.settings import Settings

DATA = Path(__file__).parent / "data"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

TEST_SETTINGS = Settings(smtp_port=0, http_port=0)


@pytest.fixture(scope="session")
def shared_catcher() -> Iterator[Catcher]:
    with Catcher(TEST_SETTINGS) as catcher:
        yield catcher


@pytest.fixture
def catcher(shared_catcher: Catcher) -> Catcher:
    """A running catcher with an empty store (shared by tests that need no special settings)."""
    shared_catcher.store.clear()
    return shared_catcher


@pytest.fixture
def make_catcher() -> Iterator[Callable[..., Catcher]]:
    """Start a catcher with some settings changed; stopped after the test."""
    started: list[Catcher] = []

    def make(**changes: Any) -> Catcher:
        catcher = Catcher(replace(TEST_SETTINGS, **changes)).start()
        started.append(catcher)
        return catcher

    try:
        yield make
    finally:
        for catcher in started:
            catcher.stop()


def smtp_client(catcher: Catcher, **kwargs: Any) -> smtplib.SMTP:
    host, port = catcher.smtp_address
    return smtplib.SMTP(host, port, timeout=30, **kwargs)


def make_email(
    subject: str = "Hello",
    sender: str = "sender@example.com",
    to: str = "rcpt@example.com",
    body: str = "Hi there.\n",
    **headers: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def send(catcher: Catcher, message: EmailMessage | None = None, **kwargs: Any) -> dict[str, Any]:
    with smtp_client(catcher) as client:
        return client.send_message(message or make_email(), **kwargs)


class Http:
    """Small JSON-over-HTTP client for a catcher's API (urllib, so no extra dependency)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, dict[str, str], bytes]:
        data = None
        headers = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def json(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        status, _, content = self.request(method, path, body, **kwargs)
        return status, json.loads(content) if content else None

    def get(self, path: str, **kwargs: Any) -> Any:
        status, payload = self.json("GET", path, **kwargs)
        assert status == 200, (status, payload)
        return payload


@pytest.fixture
def http(catcher: Catcher) -> Http:
    return Http(catcher.url)
