"""``--base-path /mail``: the inbox and every API under a prefix, as behind a reverse proxy."""

from __future__ import annotations

import http.client
import re
import smtplib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from catcher import Client
from catcher.cli import main
from catcher.server import Catcher
from catcher.settings import Settings
from tests.conftest import Http, make_email, send
from tests.test_cli import Running
from tests.test_ui import rich_email

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium fixture skips, or fails under CATCHER_REQUIRE_BROWSER=1
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from tests.browser import Inbox

pytest_plugins = ["tests.browser"]

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"}


@pytest.fixture
def mail_catcher(make_catcher: Callable[..., Catcher]) -> Catcher:
    """A catcher served under /mail (given with a trailing slash, which is dropped)."""
    return make_catcher(base_path="/mail/")


@pytest.fixture
def root(mail_catcher: Catcher) -> Http:
    """HTTP to the catcher's port, outside the base path."""
    host, port = mail_catcher.http_address
    return Http(f"http://{host}:{port}")


class Proxy(ThreadingHTTPServer):
    """A reverse proxy that serves the catcher at ``/mail/`` and nothing else, passing the
    Host header on and each response's body on as it comes (the event stream included)."""

    daemon_threads = True
    block_on_close = False  # an event stream ends when the catcher stops, not before

    def __init__(self, upstream: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream = upstream
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(BaseHTTPRequestHandler):
    server: Proxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        self.server.paths.append(self.path)
        if self.path != "/mail" and not self.path.startswith("/mail/"):
            self.send_error(404, "the proxy serves only /mail/")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            while chunk := response.read1(64 * 1024):
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            pass  # the browser or the catcher went away
        finally:
            upstream.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward


@pytest.fixture
def proxy(mail_catcher: Catcher) -> Iterator[Proxy]:
    server = Proxy(mail_catcher.http_address)
    thread = threading.Thread(target=server.serve_forever, name="test-proxy", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# -- the HTTP side ---------------------------------------------------------------------------------


def test_everything_answers_under_the_base_path_and_nothing_outside(
    mail_catcher: Catcher, root: Http
) -> None:
    assert mail_catcher.url.endswith("/mail")
    send(mail_catcher, rich_email("Under a path"))
    inbox = root.request("GET", "/mail/")
    assert inbox[0] == 200 and b'src="static/app.js"' in inbox[2]
    assert b"export const API" in root.request("GET", "/mail/static/api.js")[2]
    listing = root.get("/mail/api/messages")
    assert [m["subject"] for m in listing["messages"]] == ["Under a path"]
    ident = listing["messages"][0]["id"]
    detail = root.get(f"/mail/api/messages/{ident}")
    assert detail["urls"]["raw"] == f"/mail/api/messages/{ident}/raw"
    assert detail["urls"]["source"] == f"/mail/api/messages/{ident}/raw?download=1"
    assert all(p["url"].startswith(f"/mail/api/messages/{ident}/parts/") for p in detail["parts"])
    html = root.request("GET", f"/mail/api/messages/{ident}/html")[2]
    assert f'src="/mail/api/messages/{ident}/parts/'.encode() in html
    assert b'src="/mail/api/messages' in root.request("GET", f"/mail/view/{ident}.html")[2]
    assert root.get("/mail/api/v1/messages")["messages"][0]["Subject"] == "Under a path"
    assert root.get(f"/mail/api/messages/{ident}/check")["counts"]
    foreign = {"Origin": "http://pages.example"}  # the Guard holds under the prefix too
    assert root.request("DELETE", "/mail/api/messages", headers=foreign)[0] == 403
    assert root.request("GET", "/mail/api/messages", headers={"Host": "mail.example"})[0] == 403
    for path in ("/", "/static/app.js", "/api/messages", "/api/v1/messages", "/mailbox/"):
        status, headers, body = root.request("GET", path)
        assert status == 404, path
        if path.startswith("/api/"):
            assert b"served under /mail/" in body and headers["Content-Type"] == "application/json"


def test_the_bare_base_path_redirects_to_the_inbox(mail_catcher: Catcher) -> None:
    connection = http.client.HTTPConnection(*mail_catcher.http_address, timeout=30)
    try:
        connection.request("GET", "/mail?x=1")
        response = connection.getresponse()
        assert (response.status, response.getheader("Location")) == (308, "/mail/?x=1")
    finally:
        connection.close()


def test_the_openapi_document_names_the_base_path(root: Http, http: Http) -> None:
    document = root.get("/mail/api/openapi.json")
    assert document["servers"] == [{"url": "/mail"}]
    assert "/api/messages" in document["paths"]
    assert root.get("/mail/api/compat/openapi.json")["servers"] == [{"url": "/mail"}]
    assert "servers" not in http.get("/api/openapi.json")  # without a base path, as before


def test_the_command_prints_the_prefixed_inbox_and_a_client_uses_it() -> None:
    running = Running("--smtp-port", "0", "--http-port", "0", env={"CATCHER_BASE_PATH": "/mail/"})
    try:
        assert running.url.endswith("/mail/")
        client = Client(running.url)
        with smtplib.SMTP(*running.smtp, timeout=30) as smtp:
            smtp.send_message(make_email(subject="Through a path", body="Found it.\n"))
        email = client.wait_for(subject="Through a path")
        assert email.text.strip() == "Found it."
        assert client.smtp_address()[1] == running.smtp[1]
    finally:
        assert running.stop()[0] == 0


# -- the setting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mail", "must start with /"),
        ("/mail/../admin", "cannot hold .."),
        ("/mail//box", "empty segment"),
        ("/mail?x=1", "cannot carry a query"),
        ("/my mail", "only letters, digits"),
        ("/%2e%2e", "only letters, digits"),
    ],
)
def test_a_bad_base_path_exits_2_naming_it(value: str, expected: str) -> None:
    result = CliRunner().invoke(main, ["--base-path", value])
    assert result.exit_code == 2, result.output
    assert "--base-path" in result.output and expected in result.output
    from_env = CliRunner().invoke(main, [], env={"CATCHER_BASE_PATH": value})
    assert from_env.exit_code == 2 and expected in from_env.output


def test_the_base_path_is_written_one_way() -> None:
    assert Settings(base_path="/mail/").base_path == "/mail"
    assert Settings(base_path="/a/b").base_path == "/a/b"
    assert Settings(base_path="/").base_path == Settings().base_path == ""


# -- the inbox behind a proxy ----------------------------------------------------------------------


@pytest.mark.browser
def test_the_inbox_works_behind_a_proxy_under_the_base_path(
    mail_catcher: Catcher, proxy: Proxy, open_inbox: Callable[..., Inbox]
) -> None:
    inbox = open_inbox(None, target=mail_catcher)
    page = inbox.page
    page.goto(f"{proxy.url}/mail")  # redirected to /mail/
    assert page.url == f"{proxy.url}/mail/"
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#list")).not_to_have_attribute("aria-busy", "true")

    send(mail_catcher, rich_email("Behind the proxy"))
    expect(inbox.row("Behind the proxy")).to_be_visible()  # live, through the proxied stream
    inbox.open("Behind the proxy")
    newest = mail_catcher.store.latest()
    assert newest is not None
    ident = newest.id
    expect(inbox.preview).to_have_attribute("src", re.compile(rf"^/mail/api/messages/{ident}/html"))
    frame = inbox.preview_frame()
    logo = frame.locator("#logo")
    expect(logo).to_have_attribute("src", re.compile(rf"^/mail/api/messages/{ident}/parts/"))
    expect(logo).to_have_js_property("complete", True)
    assert logo.evaluate("img => img.naturalWidth") == 48
    expect(inbox.tab("Source").locator("pre.source")).to_contain_text("Subject: Behind the proxy")
    check = inbox.tab("Check")
    expect(check.locator("#check-score")).to_be_visible()

    asked = [url for url in inbox.requests if url.startswith("http")]
    assert f"{proxy.url}/mail/api/messages/{ident}/check" in asked
    assert f"{proxy.url}/mail/api/events" in asked
    base = f"{proxy.url}/mail"  # (asked first, and redirected)
    strays = [url for url in asked if url != base and not url.startswith(f"{base}/")]
    assert strays == [], strays
    assert all(path.startswith("/mail") for path in proxy.paths), proxy.paths
