"""Hostile mail and hostile requests: memory held to the cap, work linear in the input,
no 5xx for anything a client can send."""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from collections.abc import Callable

import pytest

from catcher.server import Catcher

from .conftest import Http, deliver

MB = 1024 * 1024


def emoji_text(size: int, n: int) -> bytes:
    """A text message of about ``size`` bytes whose decoded text takes 4 bytes a character."""
    line = f"{n:06d} " + "x" * 60 + "\N{GRINNING FACE}\r\n"
    body = line * (size // len(line.encode()))
    head = f"Subject: big {n}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    return (head + body).encode()


def test_memory_stays_under_the_cap_while_messages_are_opened(
    make_catcher: Callable[..., Catcher], traced: None
) -> None:
    cap = 8 * MB
    catcher = make_catcher(max_bytes=cap, max_messages=0)
    http = Http(catcher.url)
    gc.collect()
    baseline = tracemalloc.get_traced_memory()[0]
    worst = 0
    for n in range(24):
        ident = deliver(catcher, emoji_text(MB // 2, n))
        # Opened as a person opens it: the detail, the text, and the list around it.
        assert http.get(f"/api/messages/{ident}")["subject"] == f"big {n}"
        assert http.request("GET", f"/api/messages/{ident}/text")[0] == 200
        assert http.get("/api/messages?limit=50")["messages"][0]["id"] == ident
        assert http.get("/api/messages?q=zzzz")["matched"] == 0  # indexes everything
        gc.collect()
        worst = max(worst, tracemalloc.get_traced_memory()[0] - baseline)
        stats = http.get("/api/stats")
        assert stats["held_bytes"] <= cap, stats
    assert http.get("/api/stats")["evicted"] > 0
    assert worst < cap * 1.25, f"{worst / MB:.1f} MB held for mail under a {cap / MB:.0f} MB cap"
    http.request("DELETE", "/api/messages")
    gc.collect()
    left = tracemalloc.get_traced_memory()[0] - baseline
    assert left < MB, f"{left / MB:.1f} MB still held after deleting everything"


# -- work linear in the input ---------------------------------------------------------------

HOSTILE_HTML = {
    "unclosed tags": "<a ",
    "unclosed quotes": '<a x="',
    "unclosed comments": "<!-- ",
    "unclosed end tags": "</a ",
    "remote sources": "src=//a ",
    "tags in attributes": '<img src="//x/<a">',
    "nested tags": "<div><span>",
    "entities": "&amp;&#x41;&bogus;",
    "bare angles": "< <3 <<",
    "styles": "<p style='background:url(//t/x.png)'>",
}


def html_message(unit: str, size: int) -> bytes:
    body = unit * (size // len(unit))
    return f"Subject: hostile\r\nContent-Type: text/html\r\n\r\n<html>{body}\r\n".encode()


def cpu_to_serve(catcher: Catcher, http: Http, raw: bytes) -> float:
    """The process's CPU time to store, list, search and open a message: the best of 3."""
    times = []
    for _ in range(3):
        http.request("DELETE", "/api/messages")
        ident = deliver(catcher, raw)
        began = time.process_time()
        assert http.get("/api/messages")["messages"][0]["id"] == ident
        assert http.get("/api/messages?q=nothing-like-this")["matched"] == 0
        detail = http.get(f"/api/messages/{ident}")
        assert detail["html"] is not None
        assert http.request("GET", f"/api/messages/{ident}/html")[0] == 200
        times.append(time.process_time() - began)
    return min(times)


@pytest.mark.parametrize("unit", HOSTILE_HTML.values(), ids=HOSTILE_HTML.keys())
def test_hostile_html_costs_time_linear_in_its_size(catcher: Catcher, unit: str) -> None:
    http = Http(catcher.url)
    small = cpu_to_serve(catcher, http, html_message(unit, 256 * 1024))
    large = cpu_to_serve(catcher, http, html_message(unit, 1024 * 1024))
    # Linear work is ~4x for 4x the input; quadratic would be ~16x.
    assert large < max(small, 0.01) * 8, f"256 KB: {small:.3f} s, 1 MB: {large:.3f} s"


def test_a_huge_address_list_stays_out_of_lists(catcher: Catcher) -> None:
    http = Http(catcher.url)
    to = ", ".join(f"person{n}@example.com" for n in range(60_000))
    ident = deliver(catcher, f"To: {to}\r\nSubject: many\r\n\r\nhi\r\n".encode())
    status, headers, body = http.request("GET", "/api/messages")
    assert status == 200 and len(body) < 64 * 1024, len(body)
    entry = json.loads(body)["messages"][0]
    assert entry["id"] == ident and entry["to_count"] == 60_000 and len(entry["to"]) == 50
    detail = http.get(f"/api/messages/{ident}")
    assert len(detail["to"]) == 60_000 and detail["to"][-1]["address"] == "person59999@example.com"
    assert http.get("/api/messages?to=person59999@example.com")["matched"] == 1


# -- bad input gets a 4xx or a safe answer ----------------------------------------------------


@pytest.mark.parametrize(
    "charset",
    [
        "utf-8\r\n\tx",  # folded into the value
        "utf-8,text/html",
        "utf-8; x=1",
        '"utf-8\\"',
    ],
)
def test_odd_charsets_never_break_a_part(catcher: Catcher, charset: str) -> None:
    http = Http(catcher.url)
    raw = (
        'Subject: charset\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        f'Content-Type: text/plain; charset="{charset}"\r\n\r\n<b>hello</b>\r\n--b--\r\n'
    ).encode()
    ident = deliver(catcher, raw)
    [part] = http.get(f"/api/messages/{ident}")["parts"]
    status, headers, body = http.request("GET", part["url"])
    assert status == 200 and b"<b>hello</b>" in body
    content_type = headers["Content-Type"]
    assert "\n" not in content_type and "html" not in content_type, content_type


def test_rfc2231_charset_with_a_line_break(catcher: Catcher) -> None:
    http = Http(catcher.url)
    raw = (
        b'Subject: 2231\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain; charset*=utf-8''utf-8%0D%0Ax-evil%3A1\r\n\r\nhi\r\n--b--\r\n"
    )
    ident = deliver(catcher, raw)
    [part] = http.get(f"/api/messages/{ident}")["parts"]
    status, headers, body = http.request("GET", part["url"])
    assert status == 200 and body.strip() == b"hi" and "evil" not in json.dumps(headers)


def test_deeply_nested_json_is_a_400(catcher: Catcher) -> None:
    http = Http(catcher.url)
    ident = deliver(catcher, b"Subject: x\r\n\r\nx\r\n")
    nested = b"[" * 30_000 + b"]" * 30_000
    status, payload = http.json("PATCH", f"/api/messages/{ident}", nested)
    assert status == 400 and "nested" in payload["error"]
