"""Other catchers' real client packages, driven against catcher: npm mailpit-api,
cypress-mailpit, mailhog and cypress-mailhog (through tests/peers/*.mjs; the Cypress
packages through a small stand-in for Cypress), and PyPI's mailpit-api-client, mailhog
and mailcatcher. Each reads, searches, marks and deletes the mail of tests/peers/mail.py,
and the checks are on what the client hands its caller."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from catcher.server import Catcher
from tests.conftest import ids_by_subject, smtp_client
from tests.peers.mail import (
    ALL,
    COPIES,
    ENCODED,
    PIXEL,
    PLAIN,
    PLAIN_TEXT,
    REPORT,
    RICH,
    build,
)

PEERS = Path(__file__).parent / "peers"
NODE = shutil.which("node")
INSTALLED = (PEERS / "node_modules" / "mailpit-api").is_dir()
REQUIRED = os.environ.get("CATCHER_REQUIRE_PEERS") == "1"


def _node_ready() -> None:
    if NODE and INSTALLED:
        return
    message = "the npm client packages are not installed: npm ci --prefix tests/peers"
    if REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


def node(script: str, *args: str) -> dict[str, Any]:
    _node_ready()
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(PEERS / script), *args], capture_output=True, text=True, timeout=120, cwd=PEERS
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# -- npm mailpit-api --------------------------------------------------------------------------


def test_mailpit_api_reads_searches_marks_sends_and_deletes(filled: Catcher) -> None:
    out = node("mailpit_api.mjs", filled.url)
    listed = out["list"]
    assert listed["total"] == listed["messages_count"] == len(ALL)
    assert [m["Subject"] for m in listed["messages"]] == [s.subject for s in reversed(ALL)]
    copies = next(m for m in listed["messages"] if m["Subject"] == COPIES.subject)
    assert [a["Address"] for a in copies["To"]] == list(COPIES.to)
    assert [a["Address"] for a in copies["Cc"]] == list(COPIES.cc)
    assert [a["Address"] for a in copies["Bcc"]] == list(COPIES.bcc)  # envelope only
    assert copies["From"] == {"Name": "Sender Name", "Address": COPIES.sender}

    rich = out["rich"]
    assert rich["Subject"] == RICH.subject and "the sale" in rich["HTML"]
    assert rich["Text"].startswith("Sale: see https://shop.test/sale?t=9")
    assert [(a["FileName"], a["ContentType"], a["Size"]) for a in rich["Attachments"]] == [
        ("report.pdf", "application/pdf", len(REPORT))
    ]
    assert [(a["FileName"], a["ContentID"]) for a in rich["Inline"]] == [
        ("logo.png", "logo@shop.test")
    ]
    assert base64.b64decode(out["attachment"]) == REPORT
    assert base64.b64decode(out["inline"]) == PIXEL

    headers = out["headers"]
    assert headers["Subject"] == [PLAIN.subject] and headers["Message-Id"] == ["<m1@shop.test>"]
    assert headers["Content-Transfer-Encoding"] == ["quoted-printable"]
    assert out["raw"].encode() == build(PLAIN)
    assert "the sale" in out["html"] and "cid:" not in out["html"]
    assert out["text"].replace("\r\n", "\n") == PLAIN_TEXT

    assert [m["Subject"] for m in out["search"]["messages"]] == [COPIES.subject]
    assert [m["Subject"] for m in out["encoded"]["messages"]] == [ENCODED.subject]
    ids = out["ids"]
    # Opening a message and viewing its text marked them read, as Mailpit does.
    assert sorted(out["read"]) == sorted([ids[RICH.subject], ids[PLAIN.subject]])
    assert out["readAfterUnread"] == [ids[PLAIN.subject]]
    assert out["unreadAfterAllRead"] == 0
    assert out["info"]["Messages"] == len(ALL) and out["info"]["Unread"] == 0
    assert out["webui"]["MessageRelay"]["Enabled"] is False
    assert out["latest"] == ENCODED.subject
    checked = out["htmlCheck"]
    slugs = {w["Slug"]: w for w in checked["Warnings"]}
    assert {"html-h1-h6", "html-p", "html-img", "html-body"} <= set(slugs)
    body = slugs["html-body"]
    assert body["Score"]["Found"] == 1 and body["Score"]["Unsupported"] > 0
    assert any(r["Family"] == "gmail" and r["Support"] == "partial" for r in body["Results"])
    assert "Gmail" in checked["Platforms"]["android"] and checked["Total"]["Nodes"] >= 6
    assert 0 < checked["Total"]["Supported"] < 100
    worst = max(w["Score"]["Unsupported"] * w["Score"]["Found"] for w in checked["Warnings"])
    assert checked["Total"]["Unsupported"] == pytest.approx(worst / checked["Total"]["Nodes"])
    assert "does not contain HTML" in out["htmlCheckPlain"]
    assert out["linkCheck"]["Errors"] == 1
    assert [(link["URL"], link["StatusCode"]) for link in out["linkCheck"]["Links"]] == [
        ("https://shop.test/sale?t=9", 0),  # in the HTML and the text part, listed once
    ]
    assert "local name (shop.test)" in out["linkCheck"]["Links"][0]["Status"]
    assert out["chaosSet"]["Sender"] == {"ErrorCode": 451, "Probability": 50}
    assert out["chaosRead"] == out["chaosSet"]

    sent = out["sent"]
    assert (
        sent["Subject"] == "Sent through the API" and sent["Text"].strip() == "Plain from the API"
    )
    assert [a["Address"] for a in sent["To"]] == ["ivan@example.com"]
    assert [a["Address"] for a in sent["Bcc"]] == ["judy@hidden.test"]
    assert [a["FileName"] for a in sent["Attachments"]] == ["data.csv"]
    assert [(a["FileName"], a["ContentID"]) for a in sent["Inline"]] == [("dot.gif", "dot")]
    assert out["sentHeaders"]["X-Campaign"] == ["spring"]
    assert "Bcc" not in out["sentHeaders"]  # a Bcc stays off the message, as in any MTA

    # Deleting answers an empty 200 (MailHog's clients share the route); "ok" by search.
    assert out["deleteOne"] == "" and out["deleteSearch"] == "ok" and out["deleteAll"] == ""
    assert PLAIN.subject not in out["afterDeleteOne"] and len(out["afterDeleteOne"]) == len(ALL)
    assert COPIES.subject not in out["afterDeleteSearch"]
    assert "never relays" in out["release"]
    assert out["afterDeleteAll"] == 0


def test_mailpit_api_wait_for_message_returns_once_it_arrives(catcher: Catcher) -> None:
    _node_ready()
    assert NODE is not None
    waiting = subprocess.Popen(
        [NODE, str(PEERS / "mailpit_api.mjs"), catcher.url, "wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PEERS,
    )
    try:
        assert waiting.stderr is not None
        assert waiting.stderr.readline().strip() == "waiting"
        with smtp_client(catcher) as smtp:
            smtp.sendmail(
                "a@shop.test", ["b@example.com"], b"Subject: Later\r\n\r\nArrived late\r\n"
            )
        stdout, stderr = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, stderr
    assert json.loads(stdout) == {"Subject": "Later", "Text": "Arrived late\r\n"}


def test_cypress_mailpit_commands(filled: Catcher) -> None:
    out = node("cypress_mailpit.mjs", filled.url)
    assert out["all"] == len(ALL)
    assert out["bySubject"] == [RICH.subject] and out["byTo"] == [COPIES.subject]
    assert out["has"] == 1 and out["notHas"] == 0
    assert out["subject"] == RICH.subject and out["from"] == RICH.sender
    assert out["to"] == list(RICH.to) and out["attachments"] == ["report.pdf"]
    # These two go to //view/{ID}.html and //view/{ID}.txt (a doubled slash).
    assert "the sale" in out["html"] and out["text"].startswith("Sale: see")
    assert len(out["unreadAfterOne"]) == len(ALL) and out["unreadAfterAll"] == 0
    assert out["sent"] == ["kim@example.com"]
    assert "From cypress" not in out["afterDeleteSearch"] and len(out["afterDeleteSearch"]) == len(
        ALL
    )
    assert out["afterDeleteAll"] == 0


# -- npm mailhog and cypress-mailhog -----------------------------------------------------------


def test_mailhog_client_reads_searches_and_deletes(filled: Catcher) -> None:
    host, port = filled.url.removeprefix("http://").rsplit(":", 1)
    out = node("mailhog.mjs", host, port)
    assert out["total"] == len(ALL)
    assert out["subjects"] == [s.subject for s in reversed(ALL)]  # encoded-words decoded
    plain = out["plain"]
    assert plain["text"].replace("\r\n", "\n") == PLAIN_TEXT  # quoted-printable decoded
    assert plain["from"] == f"Sender Name <{PLAIN.sender}>" and plain["to"] == PLAIN.to[0]
    assert plain["date"] == "2026-12-01T13:24:33.000Z"
    [attachment] = out["richAttachments"]
    assert attachment["name"] == "report.pdf" and attachment["type"] == "application/pdf"
    assert base64.b64decode(attachment["body"]) == REPORT
    assert out["copies"]["envelope"] == list(COPIES.rcpts)
    assert out["copies"]["cc"] == COPIES.cc[0]
    assert out["paged"] == [COPIES.subject, RICH.subject]
    assert out["searchTo"] == [COPIES.subject] and out["searchFrom"] == [COPIES.subject]
    assert out["searchContaining"] == [PLAIN.subject]
    assert out["latestTo"] == ENCODED.subject
    assert out["deleteOne"] == "ok" and PLAIN.subject not in out["afterDeleteOne"]
    assert out["deleteAll"] == "ok" and out["afterDeleteAll"] == 0


def test_cypress_mailhog_commands(filled: Catcher) -> None:
    out = node("cypress_mailhog.mjs", filled.url + "/")
    assert out["all"][1:] == [COPIES.subject, RICH.subject, PLAIN.subject]
    assert out["all"][0].startswith("=?utf-8?")  # headers as sent, as MailHog gives them
    assert out["subject"] == RICH.subject and out["sender"] == RICH.sender
    assert out["recipients"] == list(RICH.to)
    assert out["attachments"] == ['"report.pdf"']  # the package keeps the quotes
    assert out["byRecipient"] == [COPIES.subject] and out["bySender"] == 1
    assert out["search"] == [PLAIN.subject]
    assert "Gr=C3=BC=C3=9Fe" in out["body"]  # Content.Body is raw
    assert out["jim"] is False  # no chaos monkey: 404, as MailHog answers when it is off
    assert out["jimOn"] is True and out["jimOff"] is False  # turned on, then off
    assert out["afterDeleteAll"] == 0


# -- PyPI clients ---------------------------------------------------------------------------


def test_python_mailpit_api_client(filled: Catcher) -> None:
    from mailpit.client.api import API

    api = API(filled.url)
    listed = api.get_messages()
    assert listed.total == len(ALL) and listed.unread == len(ALL)
    assert [m.subject for m in listed.messages] == [s.subject for s in reversed(ALL)]
    ids = {k: str(v) for k, v in ids_by_subject(filled).items()}
    rich = api.get_message(ids[RICH.subject])
    assert rich.subject == RICH.subject and "the sale" in (rich.html or "")
    assert [a.file_name for a in rich.attachments] == ["report.pdf"]
    assert [a.file_name for a in rich.inline] == ["logo.png"]
    part = api.get_message_attachment(rich.id, rich.attachments[0].part_id)
    assert part.encode("utf-8", "surrogateescape").startswith(b"%PDF-1.4")
    headers = api.get_message_headers(ids[PLAIN.subject])
    assert headers.message_id == ["<m1@shop.test>"] and headers.delivered_to == list(PLAIN.to)
    # The client sends forms, not JSON: catcher reads both (Mailpit answers 400).
    api.put_messages([ids[COPIES.subject]], "Read", True)
    assert filled.store.is_read(int(ids[COPIES.subject]))
    api.delete_messages([ids[PLAIN.subject]])  # Mailpit would delete everything here
    assert [m.subject for m in api.get_messages().messages] == [
        ENCODED.subject,
        COPIES.subject,
        RICH.subject,
    ]


def test_python_mailhog_client(filled: Catcher) -> None:
    from mailhog import Mailhog

    host, port = filled.url.removeprefix("http://").rsplit(":", 1)
    client = Mailhog(host, int(port))
    listed = client.messages()
    assert listed.total == listed.count == len(ALL)
    copies = next(m for m in listed.items if m.get_subject() == COPIES.subject)
    assert copies.get_sender() == COPIES.sender
    assert copies.get_recipients() == list(COPIES.rcpts)
    found = client.search("boss@shop.test", "from")
    assert [m.get_subject() for m in found.items] == [COPIES.subject]
    assert client.messages(start=1, limit=2).count == 2
    client.delete(copies)
    assert COPIES.subject not in [m.get_subject() for m in client.messages().items]
    client.delete_all()
    assert client.messages().total == 0


def test_python_mailcatcher_client(filled: Catcher) -> None:
    from mailcatcher import Mailcatcher

    host, port = filled.url.removeprefix("http://").rsplit(":", 1)
    client = Mailcatcher(host, int(port))
    listed = list(client.messages())
    assert [m.subject for m in listed] == [s.subject for s in ALL]  # oldest first
    assert [m.sender for m in listed] == [f"<{s.sender}>" for s in ALL]
    assert listed[2].recipients == [f"<{r}>" for r in COPIES.rcpts]
    assert listed[0].size == str(len(build(PLAIN)))
    assert client.get_message_by_id(listed[0].message_id).replace("\r\n", "\n") == PLAIN_TEXT
