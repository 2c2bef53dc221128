"""``catcher.Client`` against a real catcher over loopback HTTP, mail sent with smtplib."""

from __future__ import annotations

import os
import re
import smtplib
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

import catcher
from catcher.client import Client, ClientError
from catcher.server import Catcher
from catcher.testing import Email, MailAssertionError, MailTimeout
from tests.conftest import make_email, send, smtp_client

DOCS = Path(__file__).resolve().parents[1] / "docs" / "testing.md"


@pytest.fixture
def client(catcher: Catcher) -> Client:
    return Client(catcher.url, timeout=30)


def rich_email() -> EmailMessage:
    message = make_email(subject="Your order", to="Ada <ada@example.com>", Cc="bo@example.com")
    message.set_content("Order 1234 confirmed: https://shop.test/orders/1234?x=1&y=2\n")
    message.add_alternative(
        '<p>Order <b>1234</b> <a href="https://shop.test/orders/1234?x=1&amp;y=2">view</a></p>',
        subtype="html",
    )
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="o.pdf")
    return message


@pytest.fixture
def unreachable() -> Iterator[str]:
    """A loopback URL whose port is bound but not listening: connections are refused."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{holder.getsockname()[1]}"


def test_the_package_exports_client_and_email() -> None:
    assert catcher.Client is Client
    assert catcher.Email is Email


def test_client_and_plugin_give_identical_messages(catcher: Catcher, client: Client) -> None:
    send(catcher, rich_email(), to_addrs=["ada@example.com", "bo@example.com", "hidden@x.test"])
    [stored] = catcher.store.query().messages
    local = Email.from_message(stored)
    remote = client.get(stored.id)
    assert remote == local
    for name in ("sender", "to", "cc", "recipients", "subject", "text", "html", "links"):
        assert getattr(remote, name) == getattr(local, name), name
    assert remote.attachments == local.attachments
    assert [(a.filename, a.content) for a in remote.attachments] == [("o.pdf", b"%PDF-1.4")]
    assert remote.links == ("https://shop.test/orders/1234?x=1&y=2",)
    assert remote.recipients == ("ada@example.com", "bo@example.com", "hidden@x.test")
    assert remote.code() == "1234"
    assert remote.received_at == stored.received_at
    assert client.raw(stored.id) == stored.raw


def test_messages_search_get_latest(catcher: Catcher, client: Client) -> None:
    assert client.messages() == []
    for n in range(3):
        send(catcher, make_email(subject=f"note {n}", to=f"user{n}@example.com", body=f"word{n}\n"))
    assert [e.subject for e in client.messages()] == ["note 0", "note 1", "note 2"]
    # The newest ``limit``, still in the order they arrived.
    assert [e.subject for e in client.messages(limit=2)] == ["note 1", "note 2"]
    assert [e.subject for e in client.messages(to="user1")] == ["note 1"]
    assert [e.subject for e in client.messages(subject="NOTE", sender="sender@")] == [
        "note 0",
        "note 1",
        "note 2",
    ]
    assert [e.subject for e in client.search("word2")] == ["note 2"]
    assert client.get("latest").subject == "note 2"
    first = client.messages()[0]
    assert client.get(first.id) == first
    with pytest.raises(ValueError, match="limit"):
        client.messages(limit=0)


def test_delete_and_clear(catcher: Catcher, client: Client) -> None:
    for n in range(4):
        send(catcher, make_email(subject=f"keep {n}" if n % 2 else f"drop {n}"))
    first = client.messages()[0]
    client.delete(first.id)
    assert catcher.store.get(first.id) is None
    assert client.clear(subject="drop") == 1
    assert [e.subject for e in client.messages()] == ["keep 1", "keep 3"]
    assert client.clear() == 2
    assert len(catcher.store) == 0


def test_wait_for_waits_on_the_server_and_walks_through_arrivals(
    catcher: Catcher, client: Client
) -> None:
    send(catcher, make_email(subject="first", to="ada@example.com"))

    def later() -> None:
        send(catcher, make_email(subject="second", to="bob@example.com"))
        send(catcher, make_email(subject="third", to="ada@example.com"))

    worker = threading.Thread(target=later)
    worker.start()
    try:
        assert client.wait_for(to="bob", timeout=10).subject == "second"
        assert client.wait_for(to="ada", timeout=10).subject == "first"
        assert client.wait_for(to="ada", timeout=10).subject == "third"
    finally:
        worker.join()
    # ``since`` skips what came before; a second client has its own record of waits.
    other = Client(catcher.url)
    newest = catcher.store.latest()
    assert newest is not None
    assert other.wait_for(to="ada", timeout=5).subject == "first"
    send(catcher, make_email(subject="fourth", to="ada@example.com"))
    assert other.wait_for(to="ada", since=newest.id, timeout=5).subject == "fourth"


def test_wait_for_timeout_lists_what_is_there(catcher: Catcher, client: Client) -> None:
    send(catcher, make_email(subject="Welcome", to="ada@example.com"))
    with pytest.raises(MailTimeout) as info:
        client.wait_for(to="bob@example.com", subject="Reset", timeout=0.3)
    assert isinstance(info.value, MailAssertionError) and isinstance(info.value, AssertionError)
    lines = str(info.value).splitlines()
    assert lines[0] == "no message to='bob@example.com', subject='Reset' arrived within 0.3 s"
    assert lines[1] == f"the catcher at {catcher.url} holds 1 message:"
    assert re.fullmatch(r"  #\d+ from sender@example.com to ada@example.com 'Welcome'", lines[2])


def test_errors_name_the_problem(client: Client, unreachable: str) -> None:
    with pytest.raises(ClientError, match=r"/api/messages/999999: 404 no message with id 999999"):
        client.get(999999)
    with pytest.raises(ClientError) as info:
        client.delete(999999)
    assert info.value.status == 404
    with pytest.raises(ClientError, match=r"/api/messages/999999/raw: 404 no message with id"):
        client.raw(999999)
    down = Client(unreachable, timeout=5)
    with pytest.raises(ClientError) as info:
        down.messages()
    assert str(info.value) == f"cannot reach catcher at {unreachable}: Connection refused"
    assert info.value.status is None
    with pytest.raises(ValueError, match="expected http://host:port"):
        Client("catcher:8025")


def test_basic_auth_from_the_url_or_arguments(make_catcher: Callable[..., Catcher]) -> None:
    guarded = make_catcher(http_auth=("ci", "p@ss:word"))
    send(guarded, make_email(subject="guarded"))
    host, port = guarded.http_address
    with pytest.raises(ClientError) as info:
        Client(guarded.url).messages()
    assert info.value.status == 401 and "authentication required" in str(info.value)
    in_url = Client(f"http://ci:p%40ss%3Aword@{host}:{port}/")
    assert in_url.url == f"http://{host}:{port}"  # the password never shows in messages
    assert [e.subject for e in in_url.messages()] == ["guarded"]
    as_arguments = Client(guarded.url, username="ci", password="p@ss:word")
    assert as_arguments.wait_for(subject="guarded", timeout=5).subject == "guarded"
    wrong = Client(guarded.url, username="ci", password="nope")
    with pytest.raises(ClientError, match="401"):
        wrong.clear()


def test_docs_ci_script_runs(catcher: Catcher) -> None:
    script = re.search(r"```python\n(# check_welcome_mail\.py.*?)```", DOCS.read_text(), re.DOTALL)
    assert script is not None, "docs/testing.md lost its client example"
    message = make_email(subject="Welcome!", to="ada@example.com")
    message.set_content("Confirm your address: https://shop.test/confirm/xyz\n")
    send(catcher, message)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATCHER_")}
    result = subprocess.run(
        [sys.executable, "-c", script.group(1)],
        env={**env, "CATCHER_URL": catcher.url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "confirmation link: https://shop.test/confirm/xyz\n"


def test_importing_the_client_imports_no_server() -> None:
    code = (
        "import sys, catcher.client\n"
        "heavy = [m for m in ('flask', 'aiosmtpd', 'h11') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fault_rules_through_the_client(catcher: Catcher, client: Client) -> None:
    with client.fault("rcpt", to="ada@example.com", reply="452 4.2.2 Full", times=2) as rule:
        assert [r["id"] for r in client.faults()] == [rule.id]
        with smtp_client(catcher) as smtp:
            smtp.ehlo()
            smtp.mail("a@shop.test")
            assert smtp.rcpt("ada@example.com") == (452, b"4.2.2 Full")
            assert smtp.rcpt("bob@example.com")[0] == 250
        assert rule.fired == 1
    assert client.faults() == []  # removed on the way out
    assert rule.fired == 1
    [session] = client.sessions(limit=1)
    assert session["faults"] == [rule.id]
    assert {"from": "server", "line": "452 4.2.2 Full"} in session["transcript"]
    with pytest.raises(ValueError, match="stage"):
        client.fault("later")  # refused before it is sent
    scoped = client.mailbox("w1")
    made = scoped.fault("data", reply="554 5.6.0 No")
    assert client.faults()[0]["match"] == {"mailbox": "w1"}
    with smtp_client(catcher) as smtp:
        smtp.sendmail("a@shop.test", ["bob+w2@example.com"], b"Subject: elsewhere\r\n\r\nx\r\n")
        with pytest.raises(smtplib.SMTPDataError):
            smtp.sendmail("a@shop.test", ["ann+w1@example.com"], b"Subject: w1\r\n\r\nx\r\n")
    assert made.fired == 1
    assert scoped.clear_faults() == 1 and made.fired == 1  # the count outlives the rule
