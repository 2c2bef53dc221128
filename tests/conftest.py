"""Fixtures: real catchers on ephemeral loopback ports, and helpers that talk to them."""

from __future__ import annotations

import asyncio
import json
import os
import smtplib
import threading
import time
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest

from catcher.server import Catcher
from catcher.settings import Settings

DATA = Path(__file__).parent / "data"

# The shared corpus of real-world mail (hundreds of .eml files from other projects' tests).
# It lives outside the repository: CATCHER_CORPUS names it, else ../shared/corpus beside the clone.
CORPUS_VARIABLE = "CATCHER_CORPUS"
CORPUS = Path(
    os.environ.get(CORPUS_VARIABLE) or Path(__file__).resolve().parents[2] / "shared" / "corpus"
)
CORPUS_MISSING = f"shared corpus not found at {CORPUS}"

TEST_SETTINGS = Settings(smtp_port=0, http_port=0)
T = TypeVar("T")


def corpus_files() -> list[Path]:
    """Every message in the shared corpus, or none when it is not there."""
    return sorted(CORPUS.rglob("*.eml")) if CORPUS.is_dir() else []


def corpus_params() -> list[Any]:
    """One parameter per corpus message (id ``corpus/<path>``), or a single skipped one
    that the terminal summary counts when the corpus cannot be found."""
    files = corpus_files()
    if not files:
        return [pytest.param(None, id="corpus", marks=pytest.mark.skip(reason=CORPUS_MISSING))]
    return [pytest.param(p, id=f"corpus/{p.relative_to(CORPUS).as_posix()}") for p in files]


def mail_params() -> list[Any]:
    """tests/data, then the shared corpus (a skipped parameter, counted, when it is missing)."""
    data = [
        pytest.param(path, id=f"data/{path.relative_to(DATA).as_posix()}")
        for path in sorted(DATA.rglob("*.eml"))
    ]
    return data + corpus_params()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A test taking ``corpus_message`` runs once per message of the shared corpus.
    if "corpus_message" in metafunc.fixturenames:
        metafunc.parametrize("corpus_message", corpus_params())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if corpus_files():
        return
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if CORPUS_MISSING in str(getattr(report, "longrepr", ""))
    ]
    terminalreporter.write_sep("=", "shared corpus missing", yellow=True, bold=True)
    terminalreporter.write_line(
        f"{CORPUS_MISSING} (or it holds no .eml files): {len(skipped)} corpus tests not run "
        f"(each stands for every message in it); set {CORPUS_VARIABLE} to its directory."
    )


@pytest.fixture(scope="session")
def shared_catcher() -> Iterator[Catcher]:
    with Catcher(TEST_SETTINGS) as catcher:
        yield catcher


@pytest.fixture
def catcher(shared_catcher: Catcher) -> Catcher:
    """A running catcher with an empty store (shared by tests that need no special settings)."""
    shared_catcher.store.reset()
    shared_catcher.faults.reset()
    shared_catcher.sessions.clear()
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


def wait_until(condition: Callable[[], bool], seconds: float = 20, what: str = "") -> None:
    """Return once ``condition()`` holds; fail the test when it still does not after
    ``seconds``. For what no event announces (a count the server reports)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what or "the condition never held"
        threading.Event().wait(0.005)


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: in a worker that has run a browser test,
    the main thread holds Playwright's event loop, and no other loop may run there."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


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


def deliver(catcher: Catcher, raw: bytes, sender: str = "attacker@example.com") -> int:
    """Send raw bytes to victim@example.com over SMTP; the id the catcher gave them."""
    with smtp_client(catcher) as client:
        client.sendmail(sender, ["victim@example.com"], raw)
    newest = catcher.store.latest()
    assert newest is not None
    return newest.id


@pytest.fixture
def traced() -> Iterator[None]:
    """Python's allocations traced for the test (tracemalloc)."""
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


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


@pytest.fixture
def filled(catcher: Catcher) -> Catcher:
    """The catcher holding the peer-API tests' mail (tests/peers/mail.py)."""
    from tests.peers.mail import send_all

    send_all(*catcher.smtp_address)
    return catcher


def ids_by_subject(catcher: Catcher) -> dict[str, int]:
    """Each stored message's id, by its subject."""
    page = catcher.store.query(limit=100)
    return {catcher.store.summary(m).subject: m.id for m in page.messages}
