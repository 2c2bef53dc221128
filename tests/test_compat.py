"""The peer APIs over plain HTTP: where Mailpit's and MailHog's routes collide, what
turning an API off does, Mailpit's search syntax (on catcher's own API too), its send
API with bad input, and the shapes clients read that no client package checks."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import date
from http.client import HTTPConnection
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from catcher.compat import BLUEPRINTS
from catcher.server import Catcher
from catcher.web import create_app
from tests.conftest import Http, ids_by_subject, smtp_client
from tests.peers.mail import ALL, COPIES, ENCODED, PIXEL, PLAIN, REPORT, RICH, build, send_all

_TO_ONE = {"From": {"Email": "a@b.test"}, "To": [{"Email": "c@d.test"}]}


def _subjects(http: Http, path: str) -> list[str]:
    return [m["Subject"] for m in http.get(path)["messages"]]


# -- the two routes Mailpit and MailHog share ------------------------------------------------


def test_list_route_answers_in_mailpit_shape(filled: Catcher, http: Http) -> None:
    listed = http.get("/api/v1/messages")
    assert isinstance(listed, dict)  # MailHog's would be an array; no MailHog client reads it
    assert listed["total"] == listed["messages_count"] == len(ALL)
    assert listed["messages"][0]["Subject"] == ENCODED.subject


def test_delete_all_answers_an_empty_200_that_both_kinds_of_client_accept(
    filled: Catcher, http: Http
) -> None:
    status, _, body = http.request("DELETE", "/api/v1/messages")
    assert (status, body) == (200, b"")  # npm mailhog JSON-parses any body it gets
    assert len(filled.store) == 0


def test_delete_with_ids_deletes_only_those(filled: Catcher, http: Http) -> None:
    ids = ids_by_subject(filled)
    status, _, body = http.request("DELETE", "/api/v1/messages", {"IDs": [str(ids[PLAIN.subject])]})
    assert (status, body) == (200, b"")
    assert sorted(ids_by_subject(filled)) == sorted(s.subject for s in ALL if s is not PLAIN)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"IDs": ["{n}"]}', "text/plain"),  # what fetch() sends for a string body
        (b'{"IDs": ["{n}"]}', "application/x-www-form-urlencoded"),  # curl -d's default
        (b'{"ids": ["{n}"]}', "application/json"),
        (b"ids={n}", "application/x-www-form-urlencoded"),  # the Python client
    ],
)
def test_delete_reads_the_ids_however_they_are_sent(
    filled: Catcher, http: Http, body: bytes, content_type: str
) -> None:
    ident = str(ids_by_subject(filled)[PLAIN.subject]).encode()
    status, _, _ = http.request(
        "DELETE", "/api/v1/messages", body.replace(b"{n}", ident), {"Content-Type": content_type}
    )
    assert status == 200
    assert sorted(ids_by_subject(filled)) == sorted(s.subject for s in ALL if s is not PLAIN)


@pytest.mark.parametrize(
    "body", [b'{"IDs": 0}', b'{"IDs": ""}', b'{"IDs": {}}', b'{"IDs": ["1",]}', b'["1"]']
)
def test_unreadable_ids_are_a_400_and_delete_nothing(
    filled: Catcher, http: Http, body: bytes
) -> None:
    for method in ("DELETE", "PUT"):
        status, _, reply = http.request(method, "/api/v1/messages", body)
        assert status == 400 and json.loads(reply)["error"], (method, body)
    assert len(filled.store) == len(ALL) and filled.store.stats().unread == len(ALL)


def test_a_date_past_year_9999_in_utc_shows_the_time_received(catcher: Catcher, http: Http) -> None:
    with smtp_client(catcher) as smtp:
        smtp.sendmail(
            "a@b.test",
            ["c@d.test"],
            b"Subject: far\r\nDate: Fri, 31 Dec 9999 23:59:59 -2359\r\n\r\nbody\r\n",
        )
    shaped = http.get("/api/v1/message/latest")
    assert shaped["Subject"] == "far" and shaped["Date"].startswith(str(date.today().year))


def test_head_opens_nothing(filled: Catcher, http: Http) -> None:
    ident = ids_by_subject(filled)[PLAIN.subject]
    assert http.request("HEAD", f"/api/v1/message/{ident}")[0] == 200
    assert http.request("HEAD", f"/view/{ident}.txt")[0] == 200
    assert not filled.store.is_read(ident)


def test_delete_with_unknown_ids_deletes_nothing(filled: Catcher, http: Http) -> None:
    status, _, _ = http.request("DELETE", "/api/v1/messages", {"IDs": ["iAfZVVe2UQfNSG5BAjgYwa"]})
    assert status == 200 and len(filled.store) == len(ALL)


def test_mailhog_alone_keeps_its_own_list_and_delete(make_catcher: Any) -> None:
    catcher = make_catcher(compat=frozenset({"mailhog"}))
    send_all(*catcher.smtp_address)
    http = Http(catcher.url)
    listed = http.get("/api/v1/messages")
    assert isinstance(listed, list)
    [subject] = listed[0]["Content"]["Headers"]["Subject"]
    assert subject.startswith("=?utf-8?")  # as sent: MailHog leaves encoded-words alone
    assert [m["Raw"]["From"] for m in listed] == [s.sender for s in reversed(ALL)]
    assert http.request("GET", "/api/v1/search?query=x")[0] == 404  # Mailpit's is off
    status, _, body = http.request("DELETE", "/api/v1/messages")
    assert (status, body, len(catcher.store)) == (200, b"", 0)


def test_compat_none_serves_only_catchers_api(make_catcher: Any) -> None:
    catcher = make_catcher(compat=frozenset())
    http = Http(catcher.url)
    for path in ("/api/v1/messages", "/api/v2/messages", "/messages", "/view/latest.txt"):
        assert http.request("GET", path)[0] == 404, path
    assert http.get("/api/messages")["total"] == 0


# -- Mailpit ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("subject:Copies", [COPIES]),
        ('subject:"aus Köln"', [ENCODED]),
        ("Küche", [PLAIN]),
        ("-Küche -subject:Rich", [ENCODED, COPIES]),
        ("!from:boss from:shop.test", [RICH, PLAIN]),
        ("to:dave", [COPIES]),
        ("cc:frank", [COPIES]),
        ("bcc:grace", [COPIES]),
        ("-bcc:grace", [ENCODED, RICH, PLAIN]),
        ("message-id:m2@shop", [RICH]),
        ("has:attachment", [RICH]),
        ("-has:attachment is:unread", [ENCODED, COPIES, PLAIN]),
        ("larger:1kb", [RICH]),
        ("smaller:1kb -Copies", [ENCODED, PLAIN]),
        ("after:2000-01-01 before:2999-01-01 subject:Plain", [PLAIN]),
        ("before:2000-01-01", []),
        ("https://shop.test/sale", [RICH]),
        ('"Rich HTML', [RICH]),  # an unclosed quote runs to the end
        ("- ! Copies", [COPIES]),  # a lone - or ! is nothing to negate
        ("-is:unread", []),
        ("SUBJECT:copies", [COPIES]),
        ("has:attachments", [RICH]),
        ("has:inline", [RICH]),
        ("-has:inline subject:e", [ENCODED, COPIES, PLAIN]),
        ("reply-to:desk@", [COPIES]),
        ("addressed:desk@shop", [COPIES]),
        ("addressed:heidi", [ENCODED]),
        ('"aus der Küche"', [PLAIN]),
        ('"Küche der aus"', []),  # the words are there, the phrase is not
        ('-"aus der Küche"', [ENCODED, COPIES, RICH]),
        ("-", [PLAIN]),  # only a negation mark: the text itself ("quoted-printable")
    ],
)
def test_mailpit_search_syntax(
    filled: Catcher, http: Http, query: str, expected: list[Any]
) -> None:
    found = http.get("/api/v1/search?" + _query(query=query))
    assert [m["Subject"] for m in found["messages"]] == [s.subject for s in expected]
    assert found["messages_count"] == len(expected) and found["total"] == len(ALL)


def test_catchers_own_search_reads_the_same_syntax(filled: Catcher, http: Http) -> None:
    found = http.get("/api/messages?" + _query(q="-has:attachment from:shop.test"))
    assert [m["subject"] for m in found["messages"]] == [COPIES.subject, PLAIN.subject]
    status, payload = http.json("GET", "/api/messages?" + _query(q="after:yesterday-ish"))
    assert status == 400 and "after:" in payload["error"]


def test_tagged_means_in_a_mailbox_other_than_default(catcher: Catcher, http: Http) -> None:
    with smtp_client(catcher) as smtp:
        smtp.sendmail("a@shop.test", ["ann+team1@example.com"], b"Subject: tagged\r\n\r\nx\r\n")
        smtp.sendmail("a@shop.test", ["bob@example.com"], b"Subject: untagged\r\n\r\nx\r\n")
    assert _subjects(http, "/api/v1/search?query=is:tagged") == ["tagged"]
    assert _subjects(http, "/api/v1/search?query=-is:tagged") == ["untagged"]


def test_a_search_of_only_negation_marks_deletes_only_what_it_finds(
    filled: Catcher, http: Http
) -> None:
    assert http.request("DELETE", "/api/v1/search?query=!")[0] == 200  # no "!" anywhere
    assert len(filled.store) == len(ALL)
    assert http.request("DELETE", "/api/messages?q=-")[0] == 200
    assert sorted(ids_by_subject(filled)) == sorted(s.subject for s in ALL if s is not PLAIN)


def test_dates_without_an_offset_are_read_in_tz(filled: Catcher, http: Http) -> None:
    newest = filled.store.latest()
    assert newest is not None
    # The moment it arrived, written as Tokyo's wall clock without an offset.
    tokyo = newest.received_at.astimezone(ZoneInfo("Asia/Tokyo")).replace(tzinfo=None)
    moment = tokyo.isoformat(timespec="seconds")
    found = _subjects(http, "/api/v1/search?" + _query(query=f"after:{moment}", tz="Asia/Tokyo"))
    assert ENCODED.subject in found
    assert _subjects(http, "/api/v1/search?" + _query(query=f"after:{moment}")) == []  # as UTC


def test_too_many_terms_is_a_clear_error(catcher: Catcher, http: Http) -> None:
    status, payload = http.json("GET", "/api/v1/search?" + _query(query=" ".join(["-x"] * 100)))
    assert status == 400 and "at most 64 terms" in payload["error"]


def test_read_state_in_search_follows_changes(filled: Catcher, http: Http) -> None:
    ids = ids_by_subject(filled)
    assert _subjects(http, "/api/v1/search?query=is:read") == []
    http.get(f"/api/v1/message/{ids[COPIES.subject]}")  # opening marks read
    assert _subjects(http, "/api/v1/search?query=is:read") == [COPIES.subject]
    status, _, body = http.request(
        "PUT", "/api/v1/messages", {"Search": "subject:Copies", "Read": False}
    )
    assert (status, body) == (200, b"ok")
    assert _subjects(http, "/api/v1/search?query=is:read") == []
    http.request("PUT", "/api/v1/messages", {"Read": True})
    assert http.get("/api/v1/messages")["unread"] == 0


def test_search_needs_a_query_and_readable_terms(filled: Catcher, http: Http) -> None:
    status, payload = http.json("GET", "/api/v1/search")
    assert status == 400 and "no search query" in payload["error"]
    status, payload = http.json("GET", "/api/v1/search?query=larger:lots")
    assert status == 400 and "larger:" in payload["error"]
    status, payload = http.json("GET", "/api/v1/search?query=larger:" + "9" * 400)
    assert status == 400 and "larger:" in payload["error"]
    # An unknown zone is read as UTC, as Mailpit reads it.
    assert _subjects(http, "/api/v1/search?query=Copies&tz=Mars/Olympus") == [COPIES.subject]


def test_search_counts_unread_among_its_matches(filled: Catcher, http: Http) -> None:
    http.get(f"/api/v1/message/{ids_by_subject(filled)[RICH.subject]}")  # marks it read
    found = http.get("/api/v1/search?query=shop.test")
    assert found["messages_count"] == 3 and found["messages_unread"] == 2
    assert found["total"] == len(ALL) and found["unread"] == len(ALL) - 1


def test_before_pages_by_time_received(catcher: Catcher, http: Http) -> None:
    send_all(*catcher.smtp_address)
    listed = http.get("/api/v1/messages?limit=2")["messages"]
    # The next page after the last one shown: strictly before its time (never it again).
    cursor = listed[-1]["Created"]
    older = http.get("/api/v1/messages?" + _query(before=cursor))["messages"]
    assert listed[-1]["ID"] not in [m["ID"] for m in older]
    everything = http.get("/api/v1/messages?limit=0")
    assert everything["count"] == len(ALL) and len(everything["messages"]) == len(ALL)
    status, payload = http.json("GET", "/api/v1/messages?before=soon")
    assert status == 400 and "before:" in payload["error"]


def test_latest_and_paging(filled: Catcher, http: Http) -> None:
    assert http.get("/api/v1/message/latest")["Subject"] == ENCODED.subject
    assert http.get("/api/v1/message/latest?query=subject:Rich")["Subject"] == RICH.subject
    page = http.get("/api/v1/messages?start=1&limit=2")
    assert [m["Subject"] for m in page["messages"]] == [COPIES.subject, RICH.subject]
    assert page["start"] == 1 and page["count"] == 2
    assert http.request("GET", "/api/v1/message/99999")[0] == 404
    assert http.request("GET", "/api/v1/message/latest?query=subject:nothing-like-it")[0] == 404


def test_raw_download_and_view_pages(filled: Catcher, http: Http) -> None:
    ident = ids_by_subject(filled)[PLAIN.subject]
    status, headers, body = http.request("GET", f"/api/v1/message/{ident}/raw?dl=1")
    assert status == 200 and body == build(PLAIN)
    assert headers["Content-Disposition"] == f'attachment; filename="{ident}.eml"'
    status, headers, body = http.request("GET", f"//view/{ident}.txt")
    assert status == 200 and "Grüße aus der Küche" in body.decode()
    status, _, _ = http.request("GET", f"/view/{ident}.html")
    assert status == 404  # no HTML part
    rich = ids_by_subject(filled)[RICH.subject]
    status, headers, body = http.request("GET", f"//view/{rich}.html")
    assert status == 200 and b"the sale" in body
    assert "sandbox" in headers["Content-Security-Policy"]  # its script never runs


def test_parts_and_checksums(filled: Catcher, http: Http) -> None:
    rich = http.get(f"/api/v1/message/{ids_by_subject(filled)[RICH.subject]}")
    [report] = rich["Attachments"]
    assert report["Checksums"]["SHA256"] == hashlib.sha256(REPORT).hexdigest()
    status, headers, body = http.request(
        "GET", f"/api/v1/message/{rich['ID']}/part/{report['PartID']}"
    )
    assert (status, body, headers["Content-Type"]) == (200, REPORT, "application/pdf")
    [logo] = rich["Inline"]
    status, headers, body = http.request(
        "GET", f"/api/v1/message/{rich['ID']}/part/{logo['PartID']}/thumb"
    )
    assert (status, body, headers["Content-Type"]) == (200, PIXEL, "image/png")


def test_send_builds_a_real_message_and_routes_it_like_smtp(catcher: Catcher, http: Http) -> None:
    request = {
        "From": {"Email": "app@shop.test", "Name": "Shop"},
        "To": [{"Email": "ann+w7@example.com", "Name": "Ann Ö"}],
        "Cc": [{"Email": "cc@example.com"}],
        "Bcc": ["hidden@example.com"],
        "ReplyTo": [{"Email": "help@shop.test"}],
        "Subject": "Ihre Bestellung ✓",
        "Text": "Danke!",
        "HTML": "<p>Danke! <img src='cid:pic'></p>",
        "Attachments": [
            {
                "Content": base64.b64encode(REPORT).decode(),
                "Filename": "r.pdf",
                "ContentType": "application/pdf",
            },
            {
                "Content": base64.b64encode(b"GIF89a").decode(),
                "Filename": "p.gif",
                "ContentID": "pic",
                "ContentType": "image/gif",
            },
        ],
        "Headers": {"X-Tag": "one"},
    }
    status, reply = http.json("POST", "/api/v1/send", request)
    assert status == 200, reply
    stored = catcher.store.get(int(reply["ID"]))
    assert stored is not None
    assert stored.envelope.rcpt_tos == (
        "ann+w7@example.com",
        "cc@example.com",
        "hidden@example.com",
    )
    assert b"hidden@example.com" not in stored.raw  # Bcc is envelope only
    assert catcher.store.mailboxes_of(stored.id) == ("w7",)  # plus tag routing, as over SMTP
    mine = http.get(f"/api/messages/{stored.id}")
    assert mine["subject"] == "Ihre Bestellung ✓" and mine["text"].strip() == "Danke!"
    assert mine["to"] == [{"name": "Ann Ö", "address": "ann+w7@example.com"}]
    assert [p["filename"] for p in mine["parts"] if p["filename"]] == ["p.gif", "r.pdf"]
    shaped = http.get(f"/api/v1/message/{stored.id}")
    assert shaped["Tags"] == ["w7"] and [a["FileName"] for a in shaped["Attachments"]] == ["r.pdf"]


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({}, "From"),
        ({"From": {"Email": "a@b.test"}}, "recipient"),
        ({"From": {"Email": "a@b.test\r\nBcc: x@y"}, "To": [{"Email": "c@d.test"}]}, "From"),
        (
            {
                "From": {"Email": "a@b.test"},
                "To": [{"Email": "c@d.test"}],
                "Headers": {"X-A": "1\r\nBcc: e@f"},
            },
            "line break",
        ),
        (
            {
                "From": {"Email": "a@b.test"},
                "To": [{"Email": "c@d.test"}],
                "Headers": {"Bad Name": "1"},
            },
            "header name",
        ),
        (
            {
                "From": {"Email": "a@b.test"},
                "To": [{"Email": "c@d.test"}],
                "Attachments": [{"Content": "!!!"}],
            },
            "base64",
        ),
        ({"From": {"Email": "a@b.test"}, "To": "c@d.test"}, "To"),
        (
            {
                "From": {"Email": "a@b.test"},
                "To": [{"Email": "c@d.test"}],
                "Attachments": [{"Content": "", "ContentType": "text/html\r\nX: y"}],
            },
            "content type",
        ),
        ({**_TO_ONE, "Bcc": ["b@y.test\r\nRCPT TO:<x@z.test>"]}, "Bcc"),
        ({**_TO_ONE, "Bcc": ["not an address <>, ;"]}, "Bcc"),
        ({"From": {"Email": "a@b.test"}, "To": [{"Email": "evil:b@y.test;"}]}, "To"),
        ({**_TO_ONE, "Headers": {"From": "evil@z.test"}}, "own fields"),
        ({**_TO_ONE, "Headers": {"bcc": "hidden@z.test"}}, "own fields"),
        ({**_TO_ONE, "Headers": {"X-A": "1\u2028Bcc: e@f"}}, "line break"),
        ({**_TO_ONE, "Attachments": [{"Content": "", "ContentType": "multipart/mixed"}]}, "file"),
        ({**_TO_ONE, "Attachments": [{"Content": "", "ContentType": "tëxt/plain"}]}, "file"),
        ({**_TO_ONE, "Subject": False}, "Subject"),
    ],
)
def test_send_refuses_bad_requests_and_stores_nothing(
    catcher: Catcher, http: Http, body: dict[str, Any], complaint: str
) -> None:
    status, reply = http.json("POST", "/api/v1/send", body)
    assert status == 400 and complaint.lower() in reply["Error"].lower(), reply
    assert len(catcher.store) == 0


def test_other_routes_keep_the_usual_request_cap(catcher: Catcher, http: Http) -> None:
    host, port = catcher.url.removeprefix("http://").rsplit(":", 1)
    for method, path in (("POST", "/api/mailboxes"), ("PUT", "/api/v1/send")):
        connection = HTTPConnection(host, int(port), timeout=30)
        try:  # the head alone: the answer comes before any of the body is read
            connection.putrequest(method, path)
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(2 * 1024 * 1024))
            connection.endheaders()
            response = connection.getresponse()
            assert response.status == 413, (method, path)
            assert b"exceeds 1048576 bytes" in response.read()
        finally:
            connection.close()


def test_send_refuses_more_recipients_than_smtp_would(make_catcher: Any) -> None:
    catcher = make_catcher(max_recipients=3)
    body = {"From": {"Email": "a@b.test"}, "Bcc": [f"r{n}@c.test" for n in range(4)]}
    status, reply = Http(catcher.url).json("POST", "/api/v1/send", body)
    assert status == 400 and "at most 3 recipients" in reply["Error"]


def test_send_reads_json_whatever_its_type_and_writes_extra_headers_as_given(
    catcher: Catcher, http: Http
) -> None:
    body = {
        "from": {"Email": "a@b.test"},  # Mailpit reads field names in any case
        "TO": [{"Email": "c@d.test"}],
        "Headers": {
            "Message-ID": "<<<odd>>>",
            "Date": "garbage",
            "X-Ümlaut": "ok",
            "X-Text": "Grüße",
        },
        "Attachments": [
            {"Content": base64.encodebytes(REPORT).decode(), "Filename": "wrapped.pdf"},
            {"Content": "data:image/png;base64," + base64.b64encode(PIXEL).decode()},
        ],
    }
    status, _, reply = http.request(
        "POST", "/api/v1/send", json.dumps(body).encode(), {"Content-Type": "text/plain"}
    )
    assert status == 400  # a header name must be ASCII
    del body["Headers"]["X-Ümlaut"]  # type: ignore[attr-defined]
    status, _, reply = http.request(
        "POST", "/api/v1/send", json.dumps(body).encode(), {"Content-Type": "text/plain"}
    )
    assert status == 200, reply
    stored = catcher.store.get(int(json.loads(reply)["ID"]))
    assert stored is not None
    assert b"\r\nMessage-ID: <<<odd>>>\r\n" in b"\r\n" + stored.raw
    assert b"\r\nDate: garbage\r\n" in b"\r\n" + stored.raw
    assert stored.raw.count(b"Message-ID:") == 1 and stored.raw.count(b"\nDate:") == 1
    assert b"X-Text: =?utf-8?" in stored.raw
    shaped = http.get(f"/api/v1/message/{stored.id}")
    files = {a["FileName"]: a["Size"] for a in shaped["Attachments"]}
    assert files == {"wrapped.pdf": len(REPORT), "": len(PIXEL)}


def test_send_takes_a_body_over_the_usual_request_cap(catcher: Catcher, http: Http) -> None:
    big = bytes(range(256)) * 8000  # 2 MB: over the 1 MB other requests may send
    body = {
        "From": {"Email": "a@b.test"},
        "To": [{"Email": "c@d.test"}],
        "Attachments": [{"Content": base64.b64encode(big).decode(), "Filename": "big.bin"}],
    }
    status, reply = http.json("POST", "/api/v1/send", body)
    assert status == 200, reply
    part = http.get(f"/api/v1/message/{reply['ID']}")["Attachments"][0]
    status, _, content = http.request("GET", f"/api/v1/message/{reply['ID']}/part/{part['PartID']}")
    assert content == big


def test_tags_are_mailboxes(catcher: Catcher, http: Http) -> None:
    with smtp_client(catcher) as smtp:
        smtp.sendmail("a@shop.test", ["ann+team1@example.com"], b"Subject: tagged\r\n\r\nx\r\n")
        smtp.sendmail("a@shop.test", ["bob@example.com"], b"Subject: untagged\r\n\r\nx\r\n")
    assert http.get("/api/v1/tags") == ["team1"]
    assert _subjects(http, "/api/v1/search?query=tag:team1") == ["tagged"]
    assert _subjects(http, "/api/v1/search?query=-tag:team1") == ["untagged"]
    status, payload = http.json("PUT", "/api/v1/tags", {"IDs": ["1"], "Tags": ["x"]})
    assert status == 400 and "mailboxes" in payload["error"]
    assert http.get("/api/v1/info")["Tags"] == {"team1": 1}


# -- MailHog -------------------------------------------------------------------------------------


def test_mailhog_message_shape(filled: Catcher, http: Http) -> None:
    ident = ids_by_subject(filled)[RICH.subject]
    shaped = http.get(f"/api/v1/messages/{ident}")
    assert shaped["ID"] == str(ident)
    assert shaped["From"] == {
        "Relays": None,
        "Mailbox": "news",
        "Domain": "shop.test",
        "Params": "",
    }
    assert shaped["Raw"]["Data"].encode() == build(RICH)
    headers = shaped["Content"]["Headers"]
    assert headers["Subject"] == [RICH.subject] and headers["Return-Path"] == [f"<{RICH.sender}>"]
    parts = shaped["MIME"]["Parts"]
    assert parts[0]["Headers"]["Content-Type"][0].startswith("multipart/alternative")
    assert [p["Headers"]["Content-Type"][0] for p in parts[0]["MIME"]["Parts"]][:1] == [
        'text/plain; charset="utf-8"'
    ]
    status, headers, body = http.request("GET", f"/api/v1/messages/{ident}/mime/part/1/download")
    assert (status, body) == (200, REPORT) and "report.pdf" in headers["Content-Disposition"]
    status, headers, body = http.request("GET", f"/api/v1/messages/{ident}/download")
    assert (status, body) == (200, build(RICH))
    assert http.request("GET", "/api/v2/search?kind=subject&query=x")[0] == 400
    assert http.request("GET", "/api/v2/jim")[0] == 404
    assert http.get("/api/v2/messages?limit=1000")["count"] == len(ALL)


# -- MailCatcher ---------------------------------------------------------------------------------


def test_mailcatcher_routes(filled: Catcher, http: Http) -> None:
    listed = http.get("/messages")
    assert [m["subject"] for m in listed] == [s.subject for s in ALL]
    rich = next(m for m in listed if m["subject"] == RICH.subject)
    described = http.get(f"/messages/{rich['id']}.json")
    assert described["type"] == "multipart/mixed"
    assert described["formats"] == ["source", "html", "plain"]
    [attachment] = described["attachments"]
    assert (attachment["filename"], attachment["type"]) == ("report.pdf", "application/pdf")
    status, _, body = http.request("GET", f"/messages/{rich['id']}/parts/{attachment['cid']}")
    assert (status, body) == (200, REPORT)
    status, _, body = http.request("GET", f"/messages/{rich['id']}/parts/logo@shop.test")
    assert status == 200 and body.startswith(b"\x89PNG")
    assert http.request("GET", f"/messages/{rich['id']}.eml")[2] == build(RICH)
    status, headers, body = http.request("GET", f"/messages/{rich['id']}.source")
    assert (status, body) == (200, build(RICH)) and headers["Content-Type"].startswith("text/plain")
    assert b"the sale" in http.request("GET", f"/messages/{rich['id']}.html")[2]
    plain = listed[0]["id"]
    assert http.request("GET", f"/messages/{plain}.html")[0] == 404
    assert http.request("DELETE", f"/messages/{plain}")[0] == 204
    assert http.request("DELETE", f"/messages/{plain}")[0] == 404
    assert http.request("DELETE", "/")[0] == 403
    assert http.request("DELETE", "/messages")[0] == 204 and len(filled.store) == 0


def _query(**params: str) -> str:
    return urlencode(params)


def test_the_peer_apis_have_a_document_of_their_own(catcher: Catcher, http: Http) -> None:
    document = http.get("/api/compat/openapi.json")
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    assert paths["/api/v1/search"]["delete"]["tags"] == ["Mailpit API v1"]
    assert paths["/api/v2/search"]["get"]["tags"] == ["MailHog API"]
    assert paths["/messages/{ident}.json"]["get"]["tags"] == ["MailCatcher API"]
    assert "Mailpit's search syntax" in paths["/api/v1/search"]["get"]["summary"]
    part = paths["/api/v1/message/{ident}/part/{part_id}"]["get"]
    assert [p["name"] for p in part["parameters"]] == ["ident", "part_id"]
    app = create_app(catcher.store, catcher.settings, catcher.status)
    served = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in BLUEPRINTS
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert served == {(p, m) for p, ops in paths.items() for m in ops}


def test_json_errors_on_peer_routes(catcher: Catcher, http: Http) -> None:
    for path in ("/api/v1/message/nope", "/api/v1/messages/nope", "/messages/1.json"):
        status, payload = http.json("GET", path)
        assert status == 404 and "error" in payload, path
    status, _, body = http.request("GET", "/api/v1/messages?limit=lots")
    assert status == 400 and "limit" in json.loads(body)["error"]


def test_a_million_empty_parts_are_split_into_ten_thousand(catcher: Catcher, http: Http) -> None:
    raw = (
        b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
        + b"--x\r\n\r\n" * 1_000_000
    )
    with smtp_client(catcher) as smtp:
        smtp.sendmail("a@b.test", ["c@d.test"], raw)
    ident = ids_by_subject(catcher)["parts"]
    mine = http.get(f"/api/messages/{ident}")
    assert len(mine["parts"]) == 10_000
    assert any("more than 10000 parts" in d for d in mine["defects"])
    assert len(http.get(f"/api/v1/messages/{ident}")["MIME"]["Parts"]) == 10_000
    assert http.get(f"/api/v1/message/{ident}")["Subject"] == "parts"
    # The last part holds the rest, unsplit: 990,000 empty parts' worth of lines.
    [rest] = http.get(f"/messages/{ident}.json")["attachments"]
    assert rest["cid"] == "part-10000@catcher" and rest["size"] == 990_000 * len(b"--x\r\n\r\n")


# -- chaos: views onto fault rules -----------------------------------------------------------


def test_mailpit_chaos_is_a_view_onto_fault_rules(catcher: Catcher, http: Http) -> None:
    assert http.get("/api/v1/chaos")["Recipient"] == {"ErrorCode": 451, "Probability": 0}
    status, triggers = http.json(
        "PUT", "/api/v1/chaos", {"Recipient": {"ErrorCode": 452, "Probability": 100}}
    )
    assert status == 200 and triggers["Recipient"] == {"ErrorCode": 452, "Probability": 100}
    assert triggers["Sender"] == {"ErrorCode": 451, "Probability": 0}
    [rule] = http.get("/api/faults")["faults"]
    assert (rule["stage"], rule["source"], rule["probability"]) == ("rcpt", "chaos", 1.0)
    with smtp_client(catcher) as client:
        client.ehlo()
        client.mail("a@shop.test")
        assert client.rcpt("ada@example.com") == (452, b"4.3.0 Chaos recipient error")
    assert http.get("/api/v1/chaos") == triggers
    assert http.get("/api/v1/webui")["ChaosEnabled"] is True
    status, payload = http.json("PUT", "/api/v1/chaos", {"Sender": {"ErrorCode": 250}})
    assert status == 400 and "ErrorCode" in payload["error"]
    http.json("PUT", "/api/v1/chaos", {})
    assert http.get("/api/faults")["faults"] == []


def test_mailhog_jim_is_a_view_onto_fault_rules(catcher: Catcher, http: Http) -> None:
    assert http.request("GET", "/api/v2/jim")[0] == 404  # off, as MailHog starts
    assert http.request("PUT", "/api/v2/jim", {"RejectAuthChance": 1})[0] == 404
    only_recipients = {
        "DisconnectChance": 0,
        "AcceptChance": 1,
        "RejectSenderChance": 0,
        "RejectRecipientChance": 1,
        "RejectAuthChance": 0,
    }
    status, settings = http.json("POST", "/api/v2/jim", only_recipients)
    assert status == 201 and settings["RejectRecipientChance"] == 1
    assert settings["LinkSpeedMin"] == 1024  # MailHog's default, kept
    assert http.get("/api/v2/jim") == settings
    [rule] = http.get("/api/faults")["faults"]
    assert (rule["stage"], rule["source"]) == ("rcpt", "jim")
    with smtp_client(catcher) as client:
        client.ehlo()
        assert client.mail("a@shop.test")[0] == 250
        assert client.rcpt("ada@example.com") == (550, b"5.7.1 Jim rejected you")
    status, _, body = http.request("DELETE", "/api/v2/jim")
    assert (status, body) == (200, b"")
    assert http.request("GET", "/api/v2/jim")[0] == 404
    assert http.get("/api/faults")["faults"] == []
    status, _, _ = http.request("POST", "/api/v2/jim", {"DisconnectChance": 2})
    assert status == 400
    status, defaults = http.json("POST", "/api/v2/jim")
    assert status == 201 and defaults["DisconnectChance"] == 0.005
    assert len(http.get("/api/faults")["faults"]) == 8
