"""Generated MIME structures and header values: no view or part route ever answers 5xx."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catcher.server import Catcher

from .conftest import Http, deliver

# Header text as hostile senders write it: encoded words, 8-bit bytes, controls, folds.
TOKENS = st.sampled_from(
    [
        "=?utf-8?b?w6k=?=",
        "=?iso-8859-1?q?caf=E9?=",
        "=?bogus?x?zz?=",
        "=?utf-8?q?",
        "\r\n\t",
        "\r\n ",
        '"',
        "\\",
        "<",
        ">",
        ",",
        ";",
        ":",
        "(",
        ")",
        "@",
        "\x00",
        "\x7f",
        "\u202e",
        "caf\u00e9",
        "\U0001f600",
        " ",
        "../",
        "%0D%0A",
    ]
)
TEXT = st.lists(st.one_of(TOKENS, st.text(max_size=8)), max_size=12).map("".join)
TYPES = st.sampled_from(
    [
        "text/plain",
        "text/html",
        "image/png",
        "application/octet-stream",
        "message/rfc822",
        "text/html; charset=utf-8,text/html",
        "text/plain; charset*=utf-8''%0D%0Ax",
        "application/xhtml+xml",
        "text/x-unknown",
        "",
    ]
)
ENCODINGS = st.sampled_from(
    ["", "7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "bogus"]
)
CHARSETS = st.sampled_from(
    ["utf-8", "iso-8859-1", "iso-2022-jp", "utf-7", "bogus", "", '"', "utf-8\r\n x"]
)
BODIES = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"<html><head><title>t</title></head><body><a href='https://x.test/y'>y</a>",
            b"<img src=cid:part1><img src='//tracker.test/p.gif'>",
            b"SGVsbG8gd29ybGQ=\r\n",
            b"=E9=\r\nsoft break=\r\n",
            b"begin 644 f.txt\r\n#86)C\r\n`\r\nend\r\n",
            b'<a <a <a "x=',
        ]
    ),
)


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    lines = []
    ctype = draw(TYPES)
    if ctype:
        lines.append(f'Content-Type: {ctype}; charset={draw(CHARSETS)}; name="{draw(TEXT)}"')
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["attachment", "inline", "weird", ""]))
        lines.append(f"Content-Disposition: {kind}; filename*=utf-8''{quote(draw(TEXT))}")
    if draw(st.booleans()):
        lines.append(f"Content-Transfer-Encoding: {draw(ENCODINGS)}")
    if draw(st.booleans()):
        lines.append(f"Content-ID: <{draw(TEXT)}>")
    head = "\r\n".join(lines).encode("utf-8", "surrogateescape")
    return head + b"\r\n\r\n" + draw(BODIES)


def multipart(children: st.SearchStrategy[list[bytes]]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "digest", "x"]))
        boundary = draw(st.sampled_from(["b1", "=_b", "a b", "", "--", "b1; x", "\u00e9"]))
        head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
        parts = draw(children)
        closed = draw(st.booleans())
        sep = f"\r\n--{boundary}\r\n".encode("utf-8", "surrogateescape")
        end = f"\r\n--{boundary}--\r\n".encode() if closed else b""
        return head.encode() + b"\r\n\r\npreamble" + sep + sep.join(parts) + end

    return build()


PARTS = st.recursive(leaf(), lambda inner: multipart(st.lists(inner, max_size=4)), max_leaves=8)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    headers = []
    for name in draw(
        st.lists(
            st.sampled_from(
                ["From", "To", "Cc", "Subject", "Date", "Message-ID", "X-Odd", "Bcc", "Reply-To"]
            ),
            max_size=8,
        )
    ):
        headers.append(f"{name}: {draw(TEXT)}".encode("utf-8", "surrogateescape"))
    if draw(st.booleans()):
        headers.append(draw(st.binary(max_size=40)).replace(b"\r", b"").replace(b"\n", b""))
    return b"\r\n".join(headers) + b"\r\n" + draw(PARTS) + b"\r\n"


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=messages())
def test_no_route_answers_5xx_for_any_message(catcher: Catcher, raw: bytes) -> None:
    http = Http(catcher.url)
    ident = deliver(catcher, raw)
    status, detail = http.json("GET", f"/api/messages/{ident}")
    assert status == 200, detail
    paths = [f"/api/messages/{ident}/{view}" for view in ("html", "text", "headers", "raw")]
    paths += ["/api/messages?q=caf%C3%A9&to=victim", f"/api/messages/{ident}/html?block_remote=1"]
    for part in detail["parts"]:
        paths += [part["url"], part["url"] + "?download=1"]
    for path in paths:
        status, headers, _ = http.request("GET", path)
        assert status < 500, (path, status)
        assert "\n" not in headers.get("Content-Type", ""), headers
