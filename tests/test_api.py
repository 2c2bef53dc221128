"""The JSON API over real HTTP against a running catcher fed over real SMTP."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from werkzeug.http import parse_options_header

from catcher.compat import BLUEPRINTS
from catcher.server import Catcher

from .conftest import DATA, Http, make_email, send, smtp_client

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def rich_email() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Ann Sender <ann@example.com>"
    message["To"] = "Bob <bob@example.org>, carol@example.org"
    message["Cc"] = "Dan <dan@example.net>"
    message["Reply-To"] = "replies@example.com"
    message["Subject"] = "Rich message ✓"
    message["Message-ID"] = "<rich-1@example.com>"
    message["Date"] = "Fri, 27 Nov 2026 10:00:00 +0000"
    message["X-Repeat"] = "one"
    message["X-Repeat"] = "two"
    message.set_content("Plain body with a link https://example.com/verify?code=1\n")
    message.add_alternative(
        '<html><head></head><body><p>HTML body</p><img src="cid:logo@example.com">'
        '<img src="https://tracker.example/pixel.gif"><a href="https://example.com/x">x</a>'
        "</body></html>",
        subtype="html",
    )
    html_part = message.get_payload()[1]
    html_part.add_related(PNG, "image", "png", cid="<logo@example.com>", filename="logo.png")
    message.add_attachment(
        b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="Résumé «final».pdf"
    )
    return message


def send_rich(catcher: Catcher) -> int:
    send(
        catcher, rich_email(), to_addrs=["bob@example.org", "carol@example.org", "bcc@hidden.test"]
    )
    latest = catcher.store.latest()
    assert latest is not None
    return latest.id


def test_list_summaries_newest_first_with_counts(catcher: Catcher, http: Http) -> None:
    for i in range(3):
        send(catcher, make_email(subject=f"m{i}", body=f"body number {i}\n" + "long " * 100))
    payload = http.get("/api/messages")
    assert (payload["total"], payload["matched"], payload["unread"]) == (3, 3, 3)
    assert [m["subject"] for m in payload["messages"]] == ["m2", "m1", "m0"]
    first = payload["messages"][0]
    assert first["from"] == {"name": "", "address": "sender@example.com"}
    assert first["to"] == [{"name": "", "address": "rcpt@example.com"}]
    assert first["envelope"] == {
        "mail_from": "sender@example.com",
        "rcpt_to": ["rcpt@example.com"],
        "rcpt_count": 1,
    }
    assert first["snippet"].startswith("body number 2")
    assert len(first["snippet"]) <= 200
    assert first["read"] is False and first["attachments"] == 0
    assert "text" not in first and "html" not in first
    assert first["received_at"].endswith("Z")
    page = http.get("/api/messages?limit=1&offset=1")
    assert [m["subject"] for m in page["messages"]] == ["m1"]
    assert page["matched"] == 3


def test_filters(catcher: Catcher, http: Http) -> None:
    rich = send_rich(catcher)
    send(catcher, make_email(subject="Other", to="zed@example.com", body="nothing here\n"))

    def subjects(query: str) -> list[str]:
        return [m["subject"] for m in http.get("/api/messages?" + query)["messages"]]

    assert subjects("to=bcc@hidden.test") == ["Rich message ✓"]
    assert subjects("to=dan@") == ["Rich message ✓"]
    assert subjects("from=ann%20sender") == ["Rich message ✓"]
    assert subjects("subject=other") == ["Other"]
    assert subjects("q=" + quote("Résumé")) == ["Rich message ✓"]
    assert subjects("q=verify%20code") == ["Rich message ✓"]
    assert subjects(f"since={rich}") == ["Other"]
    payload = http.get("/api/messages?to=nobody")
    assert (payload["total"], payload["matched"], payload["messages"]) == (2, 0, [])


def test_message_detail(catcher: Catcher, http: Http) -> None:
    message_id = send_rich(catcher)
    detail = http.get(f"/api/messages/{message_id}")
    assert detail["subject"] == "Rich message ✓"
    assert detail["from"] == {"name": "Ann Sender", "address": "ann@example.com"}
    assert detail["to"] == [
        {"name": "Bob", "address": "bob@example.org"},
        {"name": "", "address": "carol@example.org"},
    ]
    assert detail["cc"] == [{"name": "Dan", "address": "dan@example.net"}]
    assert detail["reply_to"] == [{"name": "", "address": "replies@example.com"}]
    assert detail["envelope"]["rcpt_to"] == [
        "bob@example.org",
        "carol@example.org",
        "bcc@hidden.test",
    ]
    assert detail["smtp"] == {
        "client_address": "127.0.0.1",
        "helo": detail["smtp"]["helo"],
        "tls": False,
        "auth_user": None,
    }
    assert detail["message_id"] == "rich-1@example.com"
    assert detail["date"] == "2026-11-27T10:00:00Z"
    assert [h["value"] for h in detail["headers"] if h["name"] == "X-Repeat"] == ["one", "two"]
    assert detail["text"].startswith("Plain body with a link")
    assert "<p>HTML body</p>" in detail["html"]
    assert detail["remote_resources"] == ["https://tracker.example/pixel.gif"]
    assert detail["defects"] == []
    assert detail["attachments"] == 1
    parts = {p["content_type"]: p for p in detail["parts"]}
    assert parts["image/png"]["content_id"] == "logo@example.com"
    assert parts["image/png"]["size"] == len(PNG)
    assert parts["application/pdf"]["filename"] == "Résumé «final».pdf"
    assert parts["application/pdf"]["is_attachment"] is True
    assert (
        parts["application/pdf"]["url"]
        == f"/api/messages/{message_id}/parts/{parts['application/pdf']['part_id']}"
    )


def test_latest_alias_follows_filters(catcher: Catcher, http: Http) -> None:
    send(catcher, make_email(subject="for alice", to="alice@example.com"))
    send(catcher, make_email(subject="for bob", to="bob@example.com"))
    assert http.get("/api/messages/latest")["subject"] == "for bob"
    assert http.get("/api/messages/latest?to=alice")["subject"] == "for alice"
    status, _, body = http.request("GET", "/api/messages/latest/raw?to=alice")
    assert status == 200 and b"Subject: for alice" in body
    status, payload = http.json("GET", "/api/messages/latest?to=nobody")
    assert status == 404 and "no message matches" in payload["error"]


def test_read_flag_changes_only_by_patch(catcher: Catcher, http: Http) -> None:
    message_id = send_rich(catcher)
    http.get(f"/api/messages/{message_id}")
    http.request("GET", f"/api/messages/{message_id}/html")
    assert http.get("/api/messages")["messages"][0]["read"] is False
    status, payload = http.json("PATCH", f"/api/messages/{message_id}", {"read": True})
    assert status == 200 and payload["read"] is True
    assert http.get("/api/messages")["messages"][0]["read"] is True
    assert http.get("/api/stats")["unread"] == 0
    for body, expected in (
        ({"read": "yes"}, "read: expected true or false"),
        ({"starred": True}, "unknown field 'starred'"),
        ([1, 2], "expected a JSON object"),
    ):
        status, payload = http.json("PATCH", f"/api/messages/{message_id}", body)
        assert status == 400 and expected in payload["error"]
    status, payload = http.json("PATCH", f"/api/messages/{message_id}", b"{not json")
    assert status == 400 and "expected a JSON object" in payload["error"]


def test_raw_is_exact_and_downloadable(catcher: Catcher, http: Http) -> None:
    message_id = send_rich(catcher)
    stored = catcher.store.get(message_id)
    assert stored is not None
    status, headers, body = http.request("GET", f"/api/messages/{message_id}/raw")
    assert status == 200 and body == stored.raw
    assert headers["Content-Type"] == "message/rfc822"
    status, headers, _ = http.request("GET", f"/api/messages/{message_id}/raw?download=1")
    assert headers["Content-Disposition"] == f'attachment; filename="{message_id}.eml"'


def test_html_is_served_safely_with_cids_resolved(catcher: Catcher, http: Http) -> None:
    message_id = send_rich(catcher)
    status, headers, body = http.request("GET", f"/api/messages/{message_id}/html")
    assert status == 200
    html = body.decode()
    detail = http.get(f"/api/messages/{message_id}")
    png = next(p for p in detail["parts"] if p["content_type"] == "image/png")
    src = re.search(r'<img src="([^"]+)"', html)
    assert src and src.group(1).startswith(png["url"] + "?t=") and "cid:" not in html
    # The preview is sandboxed without an origin, so its image requests look cross-site:
    # only the token from our own HTML lets them through.
    cross_site = {"Sec-Fetch-Site": "cross-site", "Origin": "null"}
    status, headers, body = http.request("GET", src.group(1), headers=cross_site)
    assert status == 200 and body == PNG
    assert headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "Access-Control-Allow-Origin" not in headers
    assert http.request("GET", png["url"], headers=cross_site)[0] == 403
    forged = png["url"] + "?t=" + "0" * 32
    assert http.request("GET", forged, headers=cross_site)[0] == 403
    other = next(p for p in detail["parts"] if p["content_type"] == "application/pdf")
    token = src.group(1).split("?t=")[1]
    assert http.request("GET", f"{other['url']}?t={token}", headers=cross_site)[0] == 403
    assert '<base target="_blank">' in html
    policy = headers["Content-Security-Policy"]
    assert "sandbox" in policy and "allow-scripts" not in policy
    assert "default-src 'none'" in policy and "script-src" not in policy
    _, blocked_headers, _ = http.request("GET", f"/api/messages/{message_id}/html?block_remote=1")
    assert "img-src 'self' data: blob:" in blocked_headers["Content-Security-Policy"]
    status, headers, body = http.request("GET", f"/api/messages/{message_id}/text")
    assert status == 200 and body.decode().startswith("Plain body with a link")
    assert headers["Content-Type"].startswith("text/plain")


def test_parts_decoded_with_safe_disposition(catcher: Catcher, http: Http) -> None:
    message_id = send_rich(catcher)
    detail = http.get(f"/api/messages/{message_id}")
    parts = {p["content_type"]: p for p in detail["parts"]}
    status, headers, body = http.request("GET", parts["image/png"]["url"])
    assert status == 200 and body == PNG and headers["Content-Type"] == "image/png"
    status, headers, body = http.request("GET", parts["application/pdf"]["url"] + "?download=1")
    assert body == b"%PDF-1.4 fake"
    disposition = headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="R_sum_ _final_.pdf"')
    assert "filename*=UTF-8''R%C3%A9sum%C3%A9%20%C2%ABfinal%C2%BB.pdf" in disposition
    status, payload = http.json("GET", f"/api/messages/{message_id}/parts/99")
    assert status == 404 and "no part '99'" in payload["error"]


def test_hostile_filenames_never_break_headers(catcher: Catcher, http: Http) -> None:
    message = make_email(subject="evil names")
    for name in ("../../etc/passwd", 'a"b; filename=x.exe', "..\\..\\boot.ini"):
        message.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=name)
    send(catcher, message)
    detail = http.get("/api/messages/latest")
    names = []
    for part in detail["parts"]:
        if not part["is_attachment"]:
            continue
        status, headers, _ = http.request("GET", part["url"] + "?download=1")
        assert status == 200
        kind, options = parse_options_header(headers["Content-Disposition"])
        assert kind == "attachment"
        names.append(options["filename"])
    assert names == [".._.._etc_passwd", 'a"b; filename=x.exe', ".._.._boot.ini"]


def test_headers_route(catcher: Catcher, http: Http) -> None:
    message_id = send_rich(catcher)
    headers = http.get(f"/api/messages/{message_id}/headers")
    names = [h["name"] for h in headers]
    assert names[:3] == ["From", "To", "Cc"]
    assert [h["value"] for h in headers if h["name"] == "X-Repeat"] == ["one", "two"]


def test_delete_one_matching_and_all(catcher: Catcher, http: Http) -> None:
    send(catcher, make_email(subject="keep", to="keep@example.com"))
    drop = send_rich(catcher)
    send(catcher, make_email(subject="drop too", to="bcc@hidden.test"))
    status, payload = http.json("DELETE", f"/api/messages/{drop}")
    assert status == 200 and payload == {"deleted": 1, "ids": [drop]}
    status, payload = http.json("DELETE", f"/api/messages/{drop}")
    assert status == 404 and str(drop) in payload["error"]
    status, payload = http.json("DELETE", "/api/messages?to=hidden.test")
    assert status == 200 and payload["deleted"] == 1
    assert [m["subject"] for m in http.get("/api/messages")["messages"]] == ["keep"]
    status, payload = http.json("DELETE", "/api/messages")
    assert status == 200 and payload["deleted"] == 1
    assert http.get("/api/messages")["total"] == 0


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/api/messages?limit=0", 400, "limit: must be from 1 to 1000"),
        ("/api/messages?limit=abc", 400, "limit: expected a whole number"),
        ("/api/messages?limit=5000", 400, "limit: must be from 1 to 1000"),
        ("/api/messages?offset=-1", 400, "offset: must be 0 or more"),
        ("/api/messages?since=x", 400, "since: expected a whole number"),
        ("/api/messages?q=" + "x" * 1001, 400, "q: at most 1000 characters"),
        ("/api/messages/999999", 404, "no message with id 999999"),
        ("/api/messages/abc", 404, "no message with id 'abc'"),
        ("/api/messages/abc/raw", 404, "no message with id 'abc'"),
        ("/api/messages/12345678901234567890", 404, "no message with id '1234567890"),
        ("/api/messages/1/nope", 404, "not found"),
        ("/api/messages?since=", 400, "since: expected a whole number"),
        ("/api/messages/wait?timeout=100", 400, "timeout: must be from 0 to 60"),
        ("/api/nothing-here", 404, "not found"),
    ],
)
def test_bad_requests_get_clear_json_errors(
    http: Http, path: str, status: int, fragment: str
) -> None:
    got, payload = http.json("GET", path)
    assert got == status
    assert fragment.lower() in payload["error"].lower()


def test_wait_returns_at_once_for_existing_message(catcher: Catcher, http: Http) -> None:
    send(catcher, make_email(subject="already", to="w@example.com"))
    started = time.monotonic()
    payload = http.get("/api/messages/wait?to=w@example.com&timeout=5")
    assert payload["subject"] == "already" and "text" in payload
    assert time.monotonic() - started < 1


def test_wait_answers_soon_after_the_250(catcher: Catcher, http: Http) -> None:
    since = catcher.store.latest().id if catcher.store.latest() else 0  # type: ignore[union-attr]
    result: dict[str, object] = {}

    def wait() -> None:
        result["payload"] = http.get(
            f"/api/messages/wait?to=late@example.com&since={since}&timeout=20"
        )
        result["at"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()
    # Let the waiter reach the server: its request is parked once a thread waits on the store.
    deadline = time.monotonic() + 10
    while not _has_waiter(catcher) and time.monotonic() < deadline:
        time.sleep(0.005)
    with smtp_client(catcher) as client:
        client.send_message(make_email(subject="noise", to="other@example.com"))
        client.send_message(make_email(subject="late one", to="late@example.com"))
        replied = time.monotonic()
    waiter.join(20)
    assert result["payload"]["subject"] == "late one"  # type: ignore[index]
    assert result["at"] - replied < 0.1  # type: ignore[operator]


def _has_waiter(catcher: Catcher) -> bool:
    return catcher.status().http_parked > 0


def test_wait_times_out_with_408(http: Http) -> None:
    started = time.monotonic()
    status, payload = http.json("GET", "/api/messages/wait?to=never@example.com&timeout=0.3")
    assert status == 408 and "within 0.3 s" in payload["error"]
    assert 0.3 <= time.monotonic() - started < 3


def test_stats_and_health(catcher: Catcher, http: Http) -> None:
    send(catcher, make_email())
    stats = http.get("/api/stats")
    assert stats["messages"] == 1 and stats["bytes"] > 0
    assert stats["max_messages"] == catcher.settings.max_messages
    assert stats["smtp_accepted"] >= 1 and stats["version"]
    host, port = catcher.smtp_address
    assert stats["smtp_address"] == f"{host}:{port}"
    assert http.get("/api/health") == {"status": "ok", "smtp": True, "http": True}


def test_every_data_message_is_served(catcher: Catcher, http: Http) -> None:
    paths = sorted(DATA.rglob("*.eml"))
    assert paths
    for path in paths:
        with smtp_client(catcher) as client:
            client.sendmail("a@example.com", ["b@example.com"], path.read_bytes())
        detail = http.get("/api/messages/latest")
        for part in detail["parts"]:
            status, _, body = http.request("GET", part["url"])
            assert status == 200 and len(body) == part["size"], (path, part)
        if detail["html"] is not None:
            assert http.request("GET", f"/api/messages/{detail['id']}/html")[0] == 200


def test_openapi_lists_exactly_the_routes(catcher: Catcher, http: Http) -> None:
    document = http.get("/api/openapi.json")
    assert document["openapi"].startswith("3.1")
    app_routes: set[tuple[str, str]] = set()
    from catcher.web import create_app

    app = create_app(catcher.store, catcher.settings, catcher.status)
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint.split(".")[0] in BLUEPRINTS:
            continue  # (the peers' APIs have a document and a README section of their own)
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
            app_routes.add((path, method.lower()))
    documented = {(p, m) for p, ops in document["paths"].items() for m in ops}
    assert documented == app_routes


def test_request_bodies_are_capped(catcher: Catcher, http: Http) -> None:
    message_id = send_rich(catcher)
    status, payload = http.json(
        "PATCH", f"/api/messages/{message_id}", b"{" + b" " * 200_000 + b"}"
    )
    assert status == 413 and payload["error"]
    status, _, body = http.request("GET", "/api/messages?q=" + "x" * 100_000)
    assert status == 414 and b"exceed 65536 bytes" in body


def test_cross_origin_requests_are_refused(catcher: Catcher, http: Http) -> None:
    send(catcher, make_email())
    status, payload = http.json("GET", "/api/messages", headers={"Origin": "https://evil.example"})
    assert status == 403 and "evil.example" in payload["error"]
    status, _ = http.json("DELETE", "/api/messages", headers={"Origin": "https://evil.example"})
    assert status == 403
    status, _, _ = http.request("GET", "/api/events", headers={"Origin": "https://evil.example"})
    assert status == 403
    status, _ = http.json("GET", "/api/messages", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403
    assert http.get("/api/messages")["total"] == 1
    same = catcher.url
    assert http.json("GET", "/api/messages", headers={"Origin": same})[0] == 200
    status, payload = http.json("GET", "/api/messages", headers={"Host": "attacker.example:8025"})
    assert status == 403 and "attacker.example" in payload["error"]
    # The SMTP greeting name is not a promise that the name resolves to this machine.
    status, _ = http.json(
        "GET", "/api/messages", headers={"Host": f"{catcher.settings.hostname}:80"}
    )
    assert status == 403
    for loopback in ("localhost", "app.localhost", "127.0.0.1", "[::1]"):
        assert http.json("GET", "/api/health", headers={"Host": f"{loopback}:8025"})[0] == 200


def test_cors_allow_list(make_catcher: Callable[..., Catcher]) -> None:
    catcher = make_catcher(cors_origins=("http://localhost:3000",))
    http = Http(catcher.url)
    status, headers, _ = http.request(
        "GET", "/api/messages", headers={"Origin": "http://localhost:3000"}
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    status, headers, _ = http.request(
        "OPTIONS",
        "/api/messages",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "DELETE"},
    )
    assert status == 204 and "DELETE" in headers["Access-Control-Allow-Methods"]
    assert (
        http.request("GET", "/api/messages", headers={"Origin": "http://localhost:4000"})[0] == 403
    )


def test_basic_auth(make_catcher: Callable[..., Catcher]) -> None:
    import base64

    catcher = make_catcher(http_auth=("admin", "pa:ss"))
    http = Http(catcher.url)
    status, headers, body = http.request("GET", "/api/messages")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    assert json.loads(body)["error"] == "authentication required"
    wrong = base64.b64encode(b"admin:nope").decode()
    assert (
        http.request("GET", "/api/messages", headers={"Authorization": f"Basic {wrong}"})[0] == 401
    )
    right = base64.b64encode(b"admin:pa:ss").decode()
    assert (
        http.request("GET", "/api/messages", headers={"Authorization": f"Basic {right}"})[0] == 200
    )
    assert http.request("GET", "/", headers={"Authorization": f"Basic {right}"})[0] == 200
    assert http.request("GET", "/")[0] == 401


def test_raw_inline_is_shown_as_text(catcher: Catcher, http: Http) -> None:
    message_id = send_rich(catcher)
    status, headers, body = http.request("GET", f"/api/messages/{message_id}/raw?inline=1")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert "Content-Disposition" not in headers and body.startswith(b"From: Ann Sender")
