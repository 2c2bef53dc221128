"""pytest fixtures that catch the mail your code sends: ``mailbox``, empty for each test.

Installed with catcher (a ``pytest11`` entry point); nothing to configure::

    def test_signup_sends_a_welcome(mailbox):
        app = create_app(SMTP_HOST=mailbox.smtp_host, SMTP_PORT=mailbox.smtp_port)
        app.signup("ada@example.com")
        email = mailbox.wait_for(to="ada@example.com", subject="Welcome")
        assert "Hello Ada" in email.text
        app.visit(email.link("confirm"))

Fixtures:

``mailbox`` (function scope)
    A ``catcher.testing.Mailbox``: ``smtp_host``, ``smtp_port``, ``url``, ``django_settings``,
    ``flask_mail_config``; ``messages``; ``wait_for(to=, sender=, subject=, text=, timeout=)``;
    ``assert_sent(..., count=, timeout=)``; ``assert_not_sent(...)``. Messages are
    ``catcher.testing.Email`` values (addresses, subject, text, html, headers, attachments,
    ``links``, ``link(...)``, ``code()``).
``catcher_server`` (session scope)
    The running ``catcher.server.Catcher``, started on first use on free loopback ports.
    Under pytest-xdist each worker has its own. The store is emptied before every test.
``catcher_settings`` (session scope)
    The ``catcher.settings.Settings`` it starts with; override this fixture in a
    ``conftest.py`` to change any of them (SMTP auth, TLS, caps).

Shared-server mode: with ``--catcher-url http://catcher:8025`` (or ``CATCHER_URL``, or the
``catcher_url`` ini setting) no catcher starts here; ``mailbox`` is a
``catcher.testing.RemoteMailbox``, a mailbox of the test's own made on that catcher and
deleted after it, so many xdist workers and CI jobs share one catcher without seeing each
other's mail. The code under test must log in with ``mailbox.smtp_user`` and
``mailbox.smtp_password`` (``django_settings`` and ``flask_mail_config`` carry them) or
send to ``mailbox.address("ada")``.

Options:

``--catcher-keep-on-failure``
    When a test using ``mailbox`` fails, print the inbox URL and keep the catcher (with that
    test's mail) running until you press Enter; Ctrl-C stops the run. It waits only when
    standard input is a terminal and the run is not a pytest-xdist one, so it never hangs CI.
    In shared-server mode the failed test's mailbox is kept on the catcher instead.
``--catcher-url URL``
    The shared catcher to use (see above).
``catcher_smtp_port``, ``catcher_http_port`` (ini)
    Ports to listen on; the default 0 takes free ones, which parallel runs need.

A failing test that used ``mailbox`` gets a "Captured mail" section listing its messages.

Importing this module is cheap: the servers (Flask, aiosmtpd, h11) are imported only
when a test first asks for a fixture, since pytest loads it in every project where catcher
is installed.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Generator, Iterator
from contextlib import nullcontext
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from catcher.server import Catcher
    from catcher.settings import Settings
    from catcher.testing import Mailbox, RemoteMailbox

_RUNNING = pytest.StashKey["Catcher"]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
SECTION = "Captured mail"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("catcher", "catcher (mail catcher for tests)")
    group.addoption(
        "--catcher-keep-on-failure",
        action="store_true",
        default=False,
        help="When a test using 'mailbox' fails, print the inbox URL and keep the catcher "
        "running until Enter is pressed (only when stdin is a terminal and not under xdist).",
    )
    group.addoption(
        "--catcher-url",
        default=None,
        metavar="URL",
        help="Use the catcher running at URL (also CATCHER_URL): each test gets a mailbox "
        "of its own there, deleted after it, instead of a catcher in this process.",
    )
    parser.addini(
        "catcher_smtp_port",
        "SMTP port of the test catcher (default 0: a free port)",
        default="0",
    )
    parser.addini("catcher_url", "URL of a shared catcher (as --catcher-url)", default="")
    parser.addini(
        "catcher_http_port",
        "HTTP port of the test catcher's inbox and API (default 0: a free port)",
        default="0",
    )


def _port(config: pytest.Config, name: str) -> int:
    text = str(config.getini(name)).strip()
    if not text.isdigit() or int(text) > 65535:
        raise pytest.UsageError(f"{name}: expected a port number from 0 to 65535, got {text!r}")
    port = int(text)
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    if port and workers > 1:
        raise pytest.UsageError(
            f"{name} = {port} cannot be shared by {workers} pytest-xdist workers; "
            "leave it at 0 so each worker's catcher takes a free port"
        )
    return port


@pytest.fixture(scope="session")
def catcher_settings(pytestconfig: pytest.Config) -> Settings:
    """The settings the session's catcher starts with (override to change them)."""
    from catcher.settings import Settings

    return Settings(
        smtp_host="127.0.0.1",
        smtp_port=_port(pytestconfig, "catcher_smtp_port"),
        http_host="127.0.0.1",
        http_port=_port(pytestconfig, "catcher_http_port"),
        max_messages=0,  # a test may send many; the store is emptied before each test anyway
    )


@pytest.fixture(scope="session")
def catcher_server(catcher_settings: Settings, pytestconfig: pytest.Config) -> Iterator[Catcher]:
    """A catcher running for the rest of the session (of this xdist worker)."""
    from catcher.server import Catcher

    server = Catcher(catcher_settings)
    try:
        server.start()
    except (OSError, RuntimeError) as error:
        pytest.fail(f"catcher could not start: {error}", pytrace=False)
    pytestconfig.stash[_RUNNING] = server
    try:
        yield server
    finally:
        del pytestconfig.stash[_RUNNING]
        server.stop()


def shared_url(config: pytest.Config) -> str | None:
    """The shared catcher's URL: --catcher-url, else CATCHER_URL, else the ini setting."""
    option = config.getoption("catcher_url")
    return option or os.environ.get("CATCHER_URL") or str(config.getini("catcher_url")) or None


@pytest.fixture
def mailbox(request: pytest.FixtureRequest) -> Iterator[Mailbox | RemoteMailbox]:
    """The mail this test sends; empty when the test starts. A catcher in this process by
    default; with ``--catcher-url`` a fresh mailbox of its own on that shared catcher."""
    url = shared_url(request.config)
    if url is not None:
        yield from _remote_mailbox(url, request)
        return
    from catcher.testing import Mailbox

    box = Mailbox(request.getfixturevalue("catcher_server"))
    yield box
    box.remove_faults()
    if request.config.getoption("catcher_keep_on_failure") and _failed(request.node):
        _hold(request.config, request.node.nodeid, box)


def _remote_mailbox(url: str, request: pytest.FixtureRequest) -> Iterator[RemoteMailbox]:
    from catcher.client import Client, ClientError
    from catcher.testing import RemoteMailbox

    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    try:
        client = Client(url).create_mailbox(f"t-{worker}-{secrets.token_hex(5)}")
        box = RemoteMailbox(client)
    except (ClientError, ValueError) as error:
        pytest.fail(f"catcher at {url}: {error}", pytrace=False)
    yield box
    try:
        box.remove_faults()
    except ClientError:
        pass  # the catcher went away: its rules went with it
    if request.config.getoption("catcher_keep_on_failure") and _failed(request.node):
        return  # kept on the shared catcher for a look; the report section says where
    try:
        box.delete()
    except ClientError:
        pass  # the catcher went away; nothing to tidy


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Emptied here rather than in the fixture, so that mail sent by fixtures set up
    # before ``mailbox`` still counts as this test's.
    server = item.config.stash.get(_RUNNING, None)
    if server is not None:
        server.store.reset()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    box = getattr(item, "funcargs", {}).get("mailbox")
    if report.failed and report.when in ("setup", "call") and box is not None:
        from catcher.testing import MailAssertionError

        keep = item.config.getoption("catcher_keep_on_failure")
        # Our own assertion errors already list the mailbox; say it twice only to add the URL.
        if keep or call.excinfo is None or not call.excinfo.errisinstance(MailAssertionError):
            report.sections.append((SECTION, _section(item.config, box)))
    return report


def _failed(item: pytest.Item) -> bool:
    reports = item.stash.get(_REPORTS, {})
    return any(reports[when].failed for when in ("setup", "call") if when in reports)


def _worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _section(config: pytest.Config, box: Mailbox | RemoteMailbox) -> str:
    from catcher.client import ClientError

    try:
        text = box.describe()
    except ClientError as error:  # the shared catcher went away: say so, report the test
        text = f"(could not list the mailbox: {error})"
    if config.getoption("catcher_keep_on_failure"):
        if box.name is not None:
            text += f"\ninbox: {box.url} (this test's mailbox is kept on the catcher)"
        elif _worker(config):
            text += f"\ninbox: {box.url} (not kept: an xdist worker cannot wait; run without -n)"
        else:
            text += f"\ninbox: {box.url}"
    return text


def _hold(config: pytest.Config, nodeid: str, box: Mailbox) -> None:
    """Keep the catcher serving this test's mail until the developer presses Enter."""
    if _worker(config):
        return  # a worker has no terminal; the report section says so
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")

    def say(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line, file=sys.stderr)

    # Output and stdin are captured during tests: hand both back while waiting (stdin
    # needs asking for; leaving the block resumes everything).
    with capture.global_and_fixture_disabled() if capture else nullcontext():
        if capture:
            capture.suspend_global_capture(in_=True)
        say(f"catcher: {nodeid} failed; its mail ({len(box)}) is at {box.url}")
        if not sys.stdin or not sys.stdin.isatty():
            say("catcher: not waiting, standard input is not a terminal")
            return
        say("catcher: press Enter to go on with the tests (Ctrl-C stops them)")
        try:
            sys.stdin.readline()
        except (EOFError, OSError):
            pass
