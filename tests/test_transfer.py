"""Mail in and out: mboxrd written and read byte for byte, POST /api/messages, the mbox
export, and ``catcher export`` / ``catcher import`` against real catchers."""

from __future__ import annotations

import json
import mailbox as stdlib_mailbox
import re
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from catcher.cli import main
from catcher.mbox import entry, find_mail, read_mbox
from catcher.message import Envelope
from catcher.server import Catcher

from .conftest import Http, corpus_files, smtp_client

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium fixture skips, or fails under CATCHER_REQUIRE_BROWSER=1
    pass

if TYPE_CHECKING:
    from tests.browser import Inbox

# The browser fixtures (chromium, open_inbox, inbox) live in tests/browser.py.
pytest_plugins = ["tests.browser"]

WHEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
TRICKY = [
    b"From: a@example.com\r\nSubject: one\r\n\r\nFrom here on\r\n>From there\r\n>>From afar\r\n",
    b"Subject: bare LF\n\nline\n\nFrom the end\n",
    b"Subject: blank last line\r\n\r\nbody\r\n\r\n",
]


def as_sent(raw: bytes) -> bytes:
    """What an SMTP client transmits: CRLF line ends, a final CRLF."""
    crlf = re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
    return crlf if crlf.endswith(b"\r\n") else crlf + b"\r\n"


def test_mboxrd_quotes_from_lines_and_reads_them_back_exactly(tmp_path: Path) -> None:
    data = b"".join(entry(raw, "sender@example.com", WHEN) for raw in TRICKY)
    assert data.startswith(b"From sender@example.com Tue Dec 01 10:00:00 2026\n")
    assert b"\r\n>From here on\r\n>>From there\r\n>>>From afar\r\n\n" in data
    assert list(read_mbox(data)) == TRICKY
    # Python's own mbox reader sees the same three messages.
    path = tmp_path / "m.mbox"
    path.write_bytes(data)
    box = stdlib_mailbox.mbox(str(path))
    subjects = [m["subject"] for m in box]
    box.close()
    assert subjects == [
        "one",
        "bare LF",
        "blank last line",
    ]
    assert entry(b"x: y\r\n\r\nz\r\n", "two words", WHEN).startswith(b"From MAILER-DAEMON ")
    # Written by another tool with CRLF line ends, and a last entry with no empty line.
    crlf = b"From a@b x\r\nSubject: c\r\n\r\nbody\r\n\r\nFrom a@b y\r\nSubject: d\r\n\r\nend\r\n"
    assert list(read_mbox(crlf)) == [b"Subject: c\r\n\r\nbody\r\n", b"Subject: d\r\n\r\nend\r\n"]


def test_files_and_folders_are_found(tmp_path: Path) -> None:
    maildir = stdlib_mailbox.Maildir(str(tmp_path / "Maildir"))
    maildir.add(b"Subject: in maildir\r\n\r\nhi\r\n")
    (tmp_path / "one.eml").write_bytes(
        b"From mbox-looking@example.com\r\nSubject: eml\r\n\r\nx\r\n"
    )
    (tmp_path / "box.mbox").write_bytes(
        b"".join(entry(raw, "s@example.com", WHEN) for raw in TRICKY)
    )
    (tmp_path / "notes.txt").write_bytes(b"not a message at all\n")
    found = list(find_mail([tmp_path]))
    subjects = sorted(re.search(rb"Subject: ([^\r\n]*)", f.raw).group(1) for f in found)  # type: ignore[union-attr]
    assert subjects == [b"bare LF", b"blank last line", b"eml", b"in maildir", b"one"]


# -- over HTTP --------------------------------------------------------------------------


def test_post_stores_a_raw_message_routed_like_smtp_mail(catcher: Catcher, http: Http) -> None:
    status, made = http.json("POST", "/api/mailboxes", {"name": "w2", "recipients": ["*@w2.test"]})
    assert status == 201
    raw = (
        b"From: Ada <ada@example.com>\r\nTo: bob@w2.test\r\nCc: cy@example.com\r\n"
        b"Subject: Posted\r\n\r\nHi\r\n"
    )
    status, _, body = http.request("POST", "/api/messages", raw, {"Content-Type": "message/rfc822"})
    assert status == 201
    posted = json.loads(body)
    stored = catcher.store.get(posted["id"])
    assert stored is not None and stored.raw == raw
    assert stored.envelope.mail_from == "ada@example.com"
    assert stored.envelope.rcpt_tos == ("bob@w2.test", "cy@example.com")
    assert posted["subject"] == "Posted" and posted["mailboxes"] == ["w2"]
    status, _, body = http.request(
        "POST",
        "/api/messages?from=x@example.com&to=a@example.com&to=b@example.com",
        raw,
        {"Content-Type": "message/rfc822"},
    )
    again = catcher.store.get(json.loads(body)["id"])
    assert again is not None and again.envelope.rcpt_tos == ("a@example.com", "b@example.com")
    assert again.envelope.mail_from == "x@example.com"


def test_post_says_what_was_wrong(make_catcher: object, catcher: Catcher) -> None:
    small = make_catcher(max_message_size=1024)  # type: ignore[operator]
    http = Http(small.url)
    status, body = http.json("POST", "/api/messages", {"not": "a message"})
    assert status == 400 and "expected message/rfc822" in body["error"]
    status, _, body_bytes = http.request(
        "POST", "/api/messages", b"", {"Content-Type": "message/rfc822"}
    )
    assert status == 400 and b"the body is empty" in body_bytes
    status, _, body_bytes = http.request(
        "POST",
        "/api/messages",
        b"Subject: big\r\n\r\n" + b"x" * 4096,
        {"Content-Type": "message/rfc822"},
    )
    assert status == 413
    status, _, body_bytes = http.request(
        "POST",
        "/api/messages?to=a%0d%0ab@example.com",
        b"Subject: x\r\n\r\ny\r\n",
        {"Content-Type": "message/rfc822"},
    )
    assert status == 400 and b"not one address" in body_bytes
    assert small.store.query().total == 0
    # A From built to exhaust a parser: stored, with the headers' envelope left empty.
    hostile = b"From: " + b"(" * 5000 + b"\r\nTo: " + b"a@example.com, " * 20 + b"\r\n\r\nx\r\n"
    status, _, body_bytes = Http(catcher.url).request(
        "POST", "/api/messages", hostile, {"Content-Type": "message/rfc822"}
    )
    assert status == 201, body_bytes
    stored = catcher.store.get(json.loads(body_bytes)["id"])
    assert stored is not None and stored.envelope == Envelope("", ("a@example.com",))


def test_export_is_an_mbox_of_the_matching_messages(catcher: Catcher, http: Http) -> None:
    with smtp_client(catcher) as client:
        for raw in TRICKY:
            client.sendmail("s@example.com", ["ada@example.com"], as_sent(raw))
        client.sendmail("s@example.com", ["bob@example.com"], b"Subject: for Bob\r\n\r\nx\r\n")
    status, headers, body = http.request("GET", "/api/messages/export?to=ada@example.com")
    assert status == 200 and headers["Content-Type"] == "application/mbox"
    assert headers["Content-Disposition"] == 'attachment; filename="catcher.mbox"'
    assert list(read_mbox(body)) == [as_sent(raw) for raw in TRICKY]
    assert body.startswith(b"From s@example.com ")
    status, payload = http.json("GET", "/api/messages/export?format=zip")
    assert status == 400 and "only mbox" in payload["error"]


# -- the commands -----------------------------------------------------------------------


def test_export_then_import_is_byte_identical_on_the_corpus(
    make_catcher: object, tmp_path: Path
) -> None:
    files = corpus_files()
    if not files:
        pytest.skip("shared corpus not found")
    source, by_smtp, by_http = (make_catcher(max_message_size=50 * 1024 * 1024) for _ in range(3))  # type: ignore[operator]
    with smtp_client(source) as client:
        for path in files:
            client.sendmail("x@example.com", ["y@example.com"], as_sent(path.read_bytes()))
    sent = sorted(m.raw for m in source.store.query(limit=10_000).messages)
    runner = CliRunner()
    mbox, folder = tmp_path / "all.mbox", tmp_path / "eml"
    done = runner.invoke(main, ["export", "--url", source.url, "-o", str(mbox)])
    assert done.exit_code == 0 and f"exported {len(files)} messages" in done.output
    done = runner.invoke(main, ["import", "--smtp-port", str(by_smtp.smtp_address[1]), str(mbox)])
    assert done.exit_code == 0, done.output
    assert f"imported {len(files)} messages" in done.output
    assert sorted(m.raw for m in by_smtp.store.query(limit=10_000).messages) == sent
    done = runner.invoke(
        main, ["export", "--url", source.url, "--format", "eml", "-o", str(folder)]
    )
    assert done.exit_code == 0 and len(list(folder.glob("*.eml"))) == len(files)
    done = runner.invoke(main, ["import", "--url", by_http.url, str(folder)])
    assert done.exit_code == 0, done.output
    assert sorted(m.raw for m in by_http.store.query(limit=10_000).messages) == sent


def test_export_filters_and_import_counts_refusals(catcher: Catcher, tmp_path: Path) -> None:
    with smtp_client(catcher) as client:
        client.sendmail(
            "s@example.com", ["ada@example.com"], b"To: ada@example.com\r\nSubject: A\r\n\r\nx\r\n"
        )
        client.sendmail(
            "s@example.com", ["bob@example.com"], b"To: bob@example.com\r\nSubject: B\r\n\r\nx\r\n"
        )
    runner = CliRunner()
    out = tmp_path / "ada.mbox"
    done = runner.invoke(main, ["export", "--url", catcher.url, "--to", "ada@", "-o", str(out)])
    assert done.exit_code == 0 and "exported 1 message to" in done.output
    assert [re.search(rb"Subject: (\w)", m).group(1) for m in read_mbox(out.read_bytes())] == [b"A"]  # type: ignore[union-attr]
    everything = tmp_path / "all.mbox"
    runner.invoke(main, ["export", "--url", catcher.url, "-o", str(everything)])
    catcher.store.reset()
    catcher.faults.add(
        {"stage": "rcpt", "match": {"to": "bob@*"}, "reply": "550 5.1.1 No such user"}
    )
    done = runner.invoke(
        main, ["import", "--smtp-port", str(catcher.smtp_address[1]), str(everything)]
    )
    assert done.exit_code == 1
    assert "imported 1 message, 1 failed" in done.output and "550" in done.output
    assert [m.envelope.rcpt_tos for m in catcher.store.query().messages] == [("ada@example.com",)]
    done = runner.invoke(main, ["import", str(tmp_path / "missing.mbox")])
    assert done.exit_code == 1 and "no such file or folder" in done.output
    (tmp_path / "notes.txt").write_text("not mail\n")
    done = runner.invoke(main, ["import", str(tmp_path / "notes.txt")])
    assert done.exit_code == 1 and "no messages in" in done.output
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}"
        done = runner.invoke(main, ["export", "--url", nobody, "-o", str(out)])
    assert done.exit_code == 1 and f"{nobody}/api/messages/export" in done.output


@pytest.mark.browser
def test_the_inbox_downloads_what_its_list_shows(catcher: Catcher, inbox: Inbox) -> None:
    with smtp_client(catcher) as client:
        for subject in ("Invoice 1", "Hello", "Invoice 2"):
            client.sendmail(
                "s@example.com", ["ada@example.com"], f"Subject: {subject}\r\n\r\nx\r\n".encode()
            )
    expect(inbox.rows).to_have_count(3)
    inbox.page.locator("#search").fill("subject:invoice")
    expect(inbox.rows).to_have_count(2)
    expect(inbox.page.locator("#export-mbox")).to_have_attribute("title", re.compile("matching"))
    with inbox.page.expect_download() as waiting:
        inbox.page.locator("#export-mbox").click()
    download = waiting.value
    assert download.suggested_filename == "catcher.mbox"
    got = list(read_mbox(Path(download.path()).read_bytes()))
    assert [re.search(rb"Subject: ([^\r]*)", raw).group(1) for raw in got] == [  # type: ignore[union-attr]
        b"Invoice 1",
        b"Invoice 2",
    ]
