"""catcher.message: real mail from tests/data (and the shared corpus), hand-made hostile input."""

from __future__ import annotations

import ast
import dataclasses
import email
import email.policy
import hashlib
import re
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import catcher.parsing
import catcher.parsing.mime
import catcher.parsing.tree
from catcher.parsing import (
    Address,
    Parsed,
    Part,
    addresses_text,
    parse,
    part_content,
    part_contents,
)

DATA = Path(__file__).parent / "data"

PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff"
GIF = b"GIF8"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def parsed(name: str) -> Parsed:
    return parse(load(name))


def by_id(message: Parsed) -> dict[str, Part]:
    return {part.part_id: part for part in message.parts}


def content(name: str, part_id: str) -> tuple[Part, bytes]:
    found = part_content(load(name), part_id)
    assert found is not None, f"{name} has no part {part_id}"
    return found


def data_files() -> list[Path]:
    return sorted(DATA.rglob("*.eml"))


def header(name: str, value: str) -> Parsed:
    """A one-header message with a short body."""
    return parse(f"{name}: {value}\r\n\r\nbody\r\n".encode())


# -- the contract ---------------------------------------------------------------------------


def test_public_names() -> None:
    parsing = {"Address", "Parsed", "Part", "addresses_text", "parse", "part_content"}
    assert parsing <= set(catcher.parsing.__all__)
    message = parse(b"Subject: x\r\n\r\nx")
    for value, name in (
        (Address("", "a@b.c"), "name"),
        (message, "subject"),
        (message.parts[0], "size"),
    ):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, "changed")
    assert [f.name for f in dataclasses.fields(Part)] == [
        "part_id",
        "content_type",
        "charset",
        "filename",
        "size",
        "content_id",
        "disposition",
        "is_attachment",
    ]


@pytest.mark.parametrize("module", sorted(Path(catcher.parsing.__file__).parent.glob("*.py")))
def test_imports_only_the_standard_library(module: Path) -> None:
    tree = ast.parse(module.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            inside = name.startswith("catcher.parsing")
            assert top == "__future__" or top in sys.stdlib_module_names or inside, name


def test_address_rendering() -> None:
    assert str(Address("", "a@b.c")) == "a@b.c"
    assert str(Address("Ann", "a@b.c")) == "Ann <a@b.c>"
    assert str(Address("Doe, John", "j@x.org")) == '"Doe, John" <j@x.org>'
    assert str(Address("nobody here", "")) == "nobody here"
    both = (Address("Ann", "a@b.c"), Address("", "c@d.e"))
    assert addresses_text(both) == "Ann <a@b.c>, c@d.e"
    assert addresses_text(()) == ""


# -- hand-made hostile input ----------------------------------------------------------------

HOSTILE = {
    "empty": b"",
    "nul bytes": b"\x00" * 100,
    "no header/body separator": b"Subject: hi\r\nFrom: a@b.c\r\nthis is no header\r\nbody\r\n",
    "1 MB single line": b"x" * 1_000_000,
    "bare CR line ends": b"Subject: cr\rFrom: a@b.c\r\rbody\rline two\r",
    "binary junk": bytes((i * 7919 + 13) % 256 for i in range(50_000)),
    "headers only": b"Subject: only headers\r\nFrom: a@b.c\r\n",
    "NUL in headers": b"Subject: a\x00b\r\nFrom: <a@b.c>\r\n\r\nbody\x00\r\n",
    "broken encoded-words": (
        b"Subject: =?utf-8?b?####?= =?x-foo?q?abc?= =?utf-8?q?=ZZ?= =??q?x?= =?utf-8?x?y?=\r\n\r\n"
    ),
    "hostile parameters": (
        b"Content-Type: text/plain; charset*0*=utf-8''%E2; charset*1*=%82; name*=x'y'%ZZ\r\n"
        b"Content-Disposition: attachment; filename*=\"utf-8''%\"; filename*0=a; filename*2=b\r\n"
        b"\r\nx\r\n"
    ),
    "broken address headers": b'From: "abc <a@b.c>, (comment\r\nTo: <<<>>>,,,;;;::: @@@\r\n\r\n',
    "nested multiparts past the nesting limit": b"Content-Type: multipart/mixed; boundary=b0\r\n"
    + b"\r\n"
    + b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i)
        for i in range(1, 3000)
    ),
    "nested attached messages": b"Content-Type: message/rfc822\r\n\r\n" * 100 + b"hi\r\n",
    "3000 broken parts": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    + b"--b\r\nContent-Type: text/plain; charset=x-bad\r\nContent-Transfer-Encoding: base64\r\n"
    b"\r\n!!!\r\n" * 3000 + b"--b--\r\n",
    # Found by fuzzing: an 8-bit RFC 2231 charset name made the stdlib's get_boundary() raise.
    "8-bit charset in an RFC 2231 boundary": (
        b"Content-Type: multipart/mixed; boundary*=\"a\xe2\x82''x\"\r\n"
        b"\r\n--x\r\n\r\nhi\r\n--x--\r\n"
    ),
    "unclosed head in html": b"Content-Type: text/html\r\n\r\n<head><style>x{}</style>hello",
    "unknown codecs named": b"Content-Type: text/plain; charset=rot13\r\n\r\nabc\r\n",
}


@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_gives_a_model(raw: bytes) -> None:
    message = parse(raw)
    assert isinstance(message, Parsed)
    for part in {*message.parts[:3], *message.parts[-2:]}:
        found = part_content(raw, part.part_id)
        assert found is not None
        assert found[0] == part
        assert len(found[1]) == part.size
    assert part_content(raw, "99.99") is None


def test_hostile_input_details() -> None:
    empty = parse(b"")
    assert (empty.subject, empty.text, empty.html, empty.parts, empty.defects) == (
        "",
        None,
        None,
        (),
        (),
    )
    assert parse(b"x" * 1_000_000).text == "x" * 1_000_000

    headers_only = parse(HOSTILE["headers only"])
    assert headers_only.subject == "only headers"
    assert headers_only.text is None and headers_only.parts == ()
    assert headers_only.defects == ()

    no_separator = parse(HOSTILE["no header/body separator"])
    assert no_separator.subject == "hi"
    assert no_separator.text == "this is no header\r\nbody\r\n"
    assert "a header line without a colon ends the headers early" in no_separator.defects

    bare_cr = parse(HOSTILE["bare CR line ends"])
    assert bare_cr.subject == "cr"
    assert [a.address for a in bare_cr.sender] == ["a@b.c"]
    assert any("bare CR" in d for d in bare_cr.defects)

    nul = parse(HOSTILE["NUL in headers"])
    assert nul.subject == "ab"
    assert "NUL byte in header 'Subject'" in nul.defects

    words = parse(HOSTILE["broken encoded-words"])
    assert words.subject == "abc=ZZx =?utf-8?x?y?="
    assert "header 'Subject': unknown charset 'x-foo'" in words.defects

    deep = parse(HOSTILE["nested multiparts past the nesting limit"])
    [kept] = deep.parts  # the multipart MAX_NESTING levels down, whole, as text
    assert kept.part_id == ".".join(["1"] * catcher.parsing.tree.MAX_NESTING)
    assert kept.content_type == "text/plain"
    assert f"part {kept.part_id}: {catcher.parsing.tree.TOO_DEEP}" in deep.defects

    nested = parse(HOSTILE["nested attached messages"])
    assert len(nested.parts) == catcher.parsing.mime.MAX_MESSAGE_DEPTH
    assert any("nested too deeply" in d for d in nested.defects)

    many = parse(HOSTILE["3000 broken parts"])
    assert len(many.parts) == 3000
    assert len(many.defects) == catcher.parsing.mime.MAX_DEFECTS + 1
    assert many.defects[-1].startswith("... and ")

    boundary = parse(HOSTILE["8-bit charset in an RFC 2231 boundary"])
    assert "multipart without a boundary parameter" in boundary.defects
    assert boundary.text is not None and "hi" in boundary.text

    assert parse(HOSTILE["unclosed head in html"]).snippet == "hello"
    assert parse(HOSTILE["unknown codecs named"]).defects == ("part 1: unknown charset 'rot13'",)


# -- headers --------------------------------------------------------------------------------


def test_headers_keep_order_repeats_and_names_and_are_unfolded() -> None:
    raw = (
        b"Received: from a\r\n\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        b"Received: from c\r\n  by d\r\n"
        b"X-CASE-kept: =?utf-8?q?caf=C3=A9?=\r\n"
        b"Subject: =?utf-8?q?a?=  =?utf-8?q?b?= c\r\n\r\nbody\r\n"
    )
    message = parse(raw)
    assert message.headers == (
        ("Received", "from a\tby b; Mon, 1 Jan 2024 00:00:00 +0000"),
        ("Received", "from c  by d"),
        ("X-CASE-kept", "café"),
        ("Subject", "ab c"),
    )
    assert message.subject == "ab c"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=?utf-8?q?caf=C3=A9?=", "café"),
        ("=?UTF-8?B?w6k=?=", "é"),
        ("=?iso-8859-1?q?caf=E9?=", "café"),
        # A multibyte character split across two encoded-words.
        ("=?utf-8?q?=C3?= =?utf-8?q?=A9?=", "é"),
        ("=?utf-8*en?q?hello?=", "hello"),
        ("=?utf-8?b?w6k?=", "é"),  # missing padding
        ("=?x-unknown?q?plain?=", "plain"),
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
        ("=?ks_c_5601-1987?B?x9Gx2w==?=", "한글"),
        ("=?iso-8859-8-i?q?=F9=EC=E5=ED?=", "שלום"),
        ("=?gb2312?B?1tDOxA==?=", "中文"),
        ("=?iso-2022-jp?B?GyRCLSEbKEI=?=", "①"),  # NEC extension: only cp932 knows it
    ],
)
def test_encoded_words(value: str, expected: str) -> None:
    assert header("Subject", value).subject == expected


def test_raw_8bit_headers() -> None:
    assert parse("Subject: Grüße ✔\r\n\r\nx".encode()).subject == "Grüße ✔"
    latin = parse(b"Subject: Gr\xfc\xdfe\r\n\r\nx")
    assert latin.subject == "Grüße"
    assert "header 'Subject' is not UTF-8; decoded as windows-1252" in latin.defects
    # Raw 8-bit headers in the charset the body declares are read in that charset.
    gb = parse(
        "Subject: 中文\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n中文".encode("gb2312")
    )
    assert gb.subject == "中文"
    assert gb.text == "中文"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            '"Doe, John" <john@example.com>, jane@example.com',
            [("Doe, John", "john@example.com"), ("", "jane@example.com")],
        ),
        (
            'Team: a@b.c, "X Y" <x@y.z>;, last@x.org',
            [("", "a@b.c"), ("X Y", "x@y.z"), ("", "last@x.org")],
        ),
        ("undisclosed-recipients:;", []),
        ("=?utf-8?q?J=C3=B6rg?= <j@xn--bcher-kva.de>", [("Jörg", "j@bücher.de")]),
        ('"=?utf-8?q?Doe=2C_J?=" <j@x.de>', [("Doe, J", "j@x.de")]),
        ("john@example.com (John Doe)", [("John Doe", "john@example.com")]),
        (
            "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
            [("Pete", "pete@silly.test")],
        ),
        ("Mary Smith <@node.test:mary@example.net>", [("Mary Smith", "mary@example.net")]),
        ('"q\\"uote" <q@x.com>', [('q"uote', "q@x.com")]),
        ("'Outlook Name' <o@x.com>", [("Outlook Name", "o@x.com")]),
        ("<>", []),
        ("root", [("", "root")]),
    ],
)
def test_addresses(value: str, expected: list[tuple[str, str]]) -> None:
    message = header("To", value)
    assert [(a.name, a.address) for a in message.to] == expected
    assert message.defects == ()


@pytest.mark.parametrize(
    ("value", "expected", "defect"),
    [
        ("Müller, Hans <h@x.de>", [("Müller, Hans", "h@x.de")], "unquoted comma"),
        ("John Doe john@x.com", [("John Doe", "john@x.com")], "without angle brackets"),
        ("a@b.c; d@e.f", [("", "a@b.c"), ("", "d@e.f")], "';' used to separate"),
        ("a@b.c d@e.f", [("", "a@b.c"), ("", "d@e.f")], "separated by spaces"),
        ("foo bar", [("foo bar", "")], "no address in 'foo bar'"),
        ("Joe <joe@x.com", [("Joe", "joe@x.com")], "missing '>'"),
        ('"abc <a@b.c>', [("abc", "a@b.c")], "unterminated quoted string"),
        ("a@b@c", [("", "a@b@c")], "invalid address"),
    ],
)
def test_broken_addresses_are_salvaged_with_a_defect(
    value: str, expected: list[tuple[str, str]], defect: str
) -> None:
    message = header("Cc", value)
    assert [(a.name, a.address) for a in message.cc] == expected
    assert any(defect in d and "'Cc'" in d for d in message.defects), message.defects


def test_all_address_fields_and_repeated_headers() -> None:
    raw = (
        b"From: a@x.org, b@x.org\r\nTo: t1@x.org\r\nTo: t2@x.org\r\nCc: c@x.org\r\n"
        b"Bcc: hidden@x.org\r\nReply-To: Replies <r@x.org>\r\n\r\nbody\r\n"
    )
    message = parse(raw)
    assert [a.address for a in message.sender] == ["a@x.org", "b@x.org"]
    assert [a.address for a in message.to] == ["t1@x.org", "t2@x.org"]
    assert [a.address for a in message.cc] == ["c@x.org"]
    assert [a.address for a in message.bcc] == ["hidden@x.org"]
    assert message.reply_to == (Address("Replies", "r@x.org"),)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "Tue, 1 Oct 2024 10:00:00 +0200",
            datetime(2024, 10, 1, 10, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("Tue, 1 Oct 2024 10:00:00 -0000", datetime(2024, 10, 1, 10, tzinfo=UTC)),
        ("1 Oct 2024 10:00 GMT", datetime(2024, 10, 1, 10, tzinfo=UTC)),
        ("2024-10-01T10:00:00Z", datetime(2024, 10, 1, 10, tzinfo=UTC)),
    ],
)
def test_dates(value: str, expected: datetime) -> None:
    message = header("Date", value)
    assert message.date == expected
    assert message.date is not None and message.date.tzinfo is not None
    assert message.date_raw == value


def test_bad_date_and_message_id() -> None:
    message = parse(b"Date: Whenever\r\nMessage-ID:  <abc@x.org> (comment)\r\n\r\nx")
    assert message.date is None
    assert message.date_raw == "Whenever"
    assert "unparseable Date header 'Whenever'" in message.defects
    assert message.message_id == "abc@x.org"
    assert parse(b"Subject: x\r\n\r\nx").date_raw is None


# -- bodies and charsets --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "encoded", "expected", "defect"),
    [
        ("utf8", "é".encode(), "é", None),
        ("ks_c_5601-1987", "한글".encode("cp949"), "한글", None),
        ("iso-8859-8-i", "שלום".encode("iso-8859-8"), "שלום", None),
        ("iso-8859-1", b"\x93quoted\x94", "\u201cquoted\u201d", None),  # read as windows-1252
        ("shift_jis", "①".encode("cp932"), "①", None),
        ("x-unknown", "é".encode(), "é", "part 1: unknown charset 'x-unknown'"),
        ("us-ascii", "é".encode(), "é", "part 1: text is not valid 'us-ascii'; decoded as utf-8"),
        ("us-ascii", b"caf\xe9", "café", "decoded as windows-1252"),
        ("utf-8", b"caf\xe9", "caf\ufffd", "part 1: text is not valid 'utf-8'; undecodable"),
        ("base64", b"abc", "abc", "part 1: unknown charset 'base64'"),  # not a text codec
    ],
)
def test_body_charsets(charset: str, encoded: bytes, expected: str, defect: str | None) -> None:
    raw = f"Content-Type: text/plain; charset={charset}\r\n\r\n".encode() + encoded
    message = parse(raw)
    assert message.text == expected
    if defect is None:
        assert message.defects == ()
    else:
        assert any(defect in d for d in message.defects), message.defects


def test_single_part_html_and_bodiless_messages() -> None:
    html = parse(b"Content-Type: text/html\r\n\r\n<p>Hi &amp; bye</p><script>x()</script>")
    assert html.text is None
    assert html.html == "<p>Hi &amp; bye</p><script>x()</script>"
    assert html.snippet == "Hi & bye"
    attachment = parse(b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\r\n")
    assert attachment.text is None and attachment.html is None
    assert attachment.parts[0].is_attachment


def test_snippet_collapses_whitespace_and_stops_at_200() -> None:
    message = parse(b"Subject: s\r\n\r\n" + b"word \r\n\t " * 100)
    assert message.snippet == ("word " * 40).strip()[:200]
    assert len(message.snippet) <= 200


def test_filenames() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment;\r\n filename*0*=utf-8''%E2%9C%94%20long;\r\n"
        b" filename*1*=%20name.txt\r\n\r\nx\r\n"
        b'--b\r\nContent-Type: application/octet-stream; name="=?utf-8?q?caf=C3=A9.pdf?="\r\n'
        b"\r\nx\r\n"
        b'--b\r\nContent-Type: image/png; name="\xe2\x80\xaegnp.exe\x07"\r\n\r\nx\r\n'
        b"--b\r\nContent-Type: image/png\r\n"
        b'Content-Disposition: attachment; filename="r\xe9sum\xe9"\r\n'
        b"\r\nx\r\n"
        b"--b--\r\n"
    )
    names = [p.filename for p in parse(raw).parts]
    assert names == [None, "✔ long name.txt", "café.pdf", "gnp.exe", "résumé"]


# -- real mail from tests/data ---------------------------------------------------------------


def test_rfc6532_utf8_headers() -> None:
    message = parsed("mikel-mail/rfc6532__utf8_headers.eml")
    assert message.subject == "Säying Hello"
    assert message.sender == (Address("Jöhn Doe", "jdöe@mächine.example"),)
    assert message.to == (Address("Märy Smith", "märy@exämple.net"),)
    assert message.defects == ()


def test_unicode_headers_split_words_and_rfc2047_filename() -> None:
    message = parsed("spamassassin/nice__unicode1.eml")
    assert message.subject == "Domače omrežje"  # a UTF-8 character split across two words
    assert message.sender[0].name == "Marilù Gioffré ♥"
    assert message.to == (Address("Dörte Å. Sörensen, Jr.", "Dörte@Sörensen.example.com"),)
    assert message.message_id == "b497e6c2@example.срб"
    assert message.parts[0].filename == "документы для отдела кадров.pdf"
    assert message.text is None


@pytest.mark.parametrize(
    ("name", "part_id", "filename"),
    [
        ("enmime/testdata__mail__mime-bad-8bit-filename.eml", "2", "管理.doc"),
        (
            "james-mime4j/mimetools-testmsgs__attachment-filename-encoding-UTF8.eml",
            "2",
            "attachment.äöü",
        ),
        (
            "james-mime4j/mimetools-testmsgs__attachment-filename-encoding-Latin1.eml",
            "2",
            "attachment.äöü",
        ),
        (
            "mikel-mail/attachment_emails__attachment_with_base64_encoded_name.eml",
            "2",
            "This is a test.pdf",
        ),
        ("mikel-mail/attachment_emails__attachment_nonascii_filename.eml", "2", "ciële.txt"),
        (
            "mikel-mail/multi_charset__japanese_attachment_long_name.eml",
            "1",
            "かきくけこ" * 5 + ".txt",
        ),
    ],
)
def test_attachment_filenames(name: str, part_id: str, filename: str) -> None:
    part = by_id(parsed(name))[part_id]
    assert part.filename == filename
    assert part.is_attachment


def test_japanese_attachment_only_message() -> None:
    message = parsed("mikel-mail/multi_charset__japanese_attachment_long_name.eml")
    assert message.subject == "まみむめも" * 10
    assert message.text is None and message.html is None
    assert message.parts[0].disposition == "attachment"


def test_inline_cid_image() -> None:
    name = "mailpit/inline-attachment.eml"
    message = parsed(name)
    assert message.html is not None and "cid:test1@example.com" in message.html
    assert message.text is None
    image = by_id(message)["2"]
    assert (image.content_type, image.content_id, image.disposition) == (
        "image/png",
        "test1@example.com",
        "inline",
    )
    assert not image.is_attachment
    part, data = content(name, "2")
    assert part == image
    assert data.startswith(PNG) and len(data) == image.size


def test_mixed_inline_and_attachment() -> None:
    name = "mailpit/mixed-attachment.eml"
    parts = by_id(parsed(name))
    assert not parts["2"].is_attachment and parts["2"].content_id == "inline@example.com"
    assert parts["3"].is_attachment and parts["3"].filename == "document.pdf"
    assert content(name, "3")[1].startswith(b"%PDF")


def test_alternative_inside_related_with_a_big_jpeg() -> None:
    name = "mimekit/dkim__related.eml"
    message = parsed(name)
    assert [p.part_id for p in message.parts] == ["1.1", "1.2", "2"]
    assert message.text is not None and message.text.strip().startswith("This is the message body.")
    assert message.html is not None and "cid:ii_15071bf7ff349334" in message.html
    image = by_id(message)["2"]
    assert (image.content_type, image.content_id, image.is_attachment) == (
        "image/jpeg",
        "ii_15071bf7ff349334",
        False,
    )
    data = content(name, "2")[1]
    assert data.startswith(JPEG) and len(data) == image.size == 156223
    assert message.defects == ()


def test_gif_attachment_and_clean_message() -> None:
    name = "cpython-test-email/msg_07.eml"
    message = parsed(name)
    assert message.subject == "Here is your dingus fish"
    assert message.text == "Hi there,\n\nThis is the dingus fish.\n"
    gif = by_id(message)["2"]
    assert (gif.filename, gif.disposition, gif.is_attachment) == (
        "dingusfish.gif",
        "attachment",
        True,
    )
    data = content(name, "2")[1]
    assert data.startswith(GIF) and len(data) == gif.size
    assert message.defects == ()


def test_referenced_cids_are_inline_even_when_marked_attachment() -> None:
    parts = by_id(parsed("nodemailer-mailparser/test__fixtures__nodemailer.eml"))
    assert parts["1.2"].content_type == "text/watch-html" and not parts["1.2"].is_attachment
    assert parts["1.3.2"].disposition == "attachment" and not parts["1.3.2"].is_attachment
    assert parts["1.3.3"].filename == "nyan cat ✔.gif" and not parts["1.3.3"].is_attachment
    assert parts["2"].filename == "notes.txt" and parts["2"].is_attachment


def test_related_root_found_by_type() -> None:
    message = parsed("mimekit/messages__multipart-related-mhtml.eml")
    assert message.html is not None and message.text is None
    assert [p.is_attachment for p in message.parts] == [False, False]


def test_attached_message() -> None:
    name = "mikel-mail/attachment_emails__attachment_message_rfc822.eml"
    message = parsed(name)
    assert [p.part_id for p in message.parts] == ["1", "2", "2.1", "2.2"]
    assert message.text == "This is the first part.\r\n"
    attached = by_id(message)["2"]
    assert (attached.content_type, attached.filename, attached.is_attachment) == (
        "message/rfc822",
        "ForwardedMessage.eml",
        True,
    )
    data = content(name, "2")[1]
    assert len(data) == attached.size
    assert parse(data).subject == email.message_from_bytes(data).get("subject")
    assert content(name, "2.2")[1].startswith(b"%PDF")
    assert not by_id(message)["2.1"].is_attachment  # the attached message's own body


def test_base64_encoded_nested_messages() -> None:
    name = "james-mime4j/testmsgs__base64encoded-rfc822message-nested.eml"
    message = parsed(name)
    assert [(p.part_id, p.content_type) for p in message.parts] == [
        ("1", "message/rfc822"),
        ("1.1", "message/rfc822"),
        ("1.1.1", "text/plain"),
    ]
    assert message.parts[0].filename == "a simple rfc822 message encoded in a base64 body..eml"
    assert message.parts[1].filename == "message.eml"  # no subject to name it after
    assert content(name, "1")[1].startswith(b"MIME-Version: 1.0\r\n")
    assert content(name, "1.1.1")[1] == b"Text body\n\r\n"
    assert message.text is None


def test_digest() -> None:
    message = parsed("mimekit/messages__multipart-digest.eml")
    assert [p.part_id for p in message.parts] == ["1", "1.1", "1.1.1", "1.2", "1.2.1"]
    parts = by_id(message)
    assert [parts[i].content_type for i in ("1", "1.1", "1.2")] == ["message/rfc822"] * 3
    assert [parts[i].filename for i in ("1", "1.1", "1.2")] == ["submsg.eml", "m1.eml", "m2.eml"]


def test_delivery_status_notification() -> None:
    message = parsed("enmime/dsn__testdata__multi_recipient_dsn.eml")
    assert message.subject == "Returned mail: User unknown"
    assert [p.content_type for p in message.parts] == [
        "text/plain",
        "message/delivery-status",
        "message/rfc822",
        "text/plain",
    ]
    assert message.text == "[human-readable explanation goes here]\n"
    assert by_id(message)["2"].is_attachment
    bounce = parsed("postal-mime/bounce.eml")
    assert by_id(bounce)["3"].filename == "Proovikiri.eml"  # named after the bounced subject
    assert bounce.defects == ()


def test_byte_order_mark_before_headers() -> None:
    message = parsed("mimekit/messages__feedback-report.eml")
    assert message.subject == "FW: Earn money"
    assert [p.content_type for p in message.parts][:2] == ["text/plain", "message/feedback-report"]
    assert "UTF-8 byte order mark before the headers" in message.defects


@pytest.mark.parametrize(
    ("name", "subject", "body"),
    [
        (
            "spamassassin/nice__cjk__gb2312.1.eml",
            "全新原装进口，送货上门，货到付款",
            "台湾鑫龙商贸集团公司向您拜年",
        ),
        (
            "spamassassin/nice__cjk__big5-base64.1.eml",
            "[SLAT-talk] 鉅靡6月17日新片又到",
            "永久網址",
        ),
        ("php-mime-mail-parser/issue116.eml", "ЖД№41 от 28.09.2016", "toto"),
        (
            "mikel-mail/multi_charset__japanese_shift_jis.eml",
            "test",
            "このメールはテスト用のメールです",
        ),
        ("mikel-mail/multi_charset__ks_c_5601-1987.eml", "test", "스티해"),
        (
            "spamassassin/nice__cjk__iso-2022-jp.1.eml",
            "MIME text/plain attach with Shift_JIS",
            "MHonArc",
        ),
    ],
)
def test_cjk(name: str, subject: str, body: str) -> None:
    message = parsed(name)
    assert message.subject.startswith(subject)
    assert body in (message.text or message.html or "")
    assert "\ufffd" not in message.subject


def test_html_only_with_inline_image_and_snippet_from_html() -> None:
    message = parsed("mailcatcher/htmlmail.eml")
    assert message.text is None
    assert message.html is not None and "<em>slimey scoundrel</em>" in message.html
    assert message.snippet == "Yo, you slimey scoundrel."  # inline tags join text, as shown


def test_header_only_message_has_no_body_part() -> None:
    message = parsed("enmime/testdata__mail__header-only.eml")
    assert (message.text, message.html, message.parts) == (None, None, ())
    assert message.subject == "Attachment"


@pytest.mark.parametrize(
    ("name", "defect"),
    [
        ("flanker/missing-final-boundary.eml", "missing closing boundary"),
        ("flanker/false-multipart.eml", "multipart boundary never found in the body"),
        ("enmime/testdata__parts__multimixed-no-closing-boundary.eml", "missing closing boundary"),
        ("mimekit/dkim__multipart-no-end-boundary.eml", "missing closing boundary"),
        (
            "enmime/testdata__low-quality__malformed-base64-attach.eml",
            "part 2: invalid characters in base64 data",
        ),
        ("enmime/testdata__parts__extra-base64-character.eml", "part 1: invalid base64 length"),
        (
            "enmime/testdata__low-quality__unk-charset-part.eml",
            "part 1: unknown charset 'fakescii'",
        ),
        (
            "zbateson-mail-mime-parser/invalid-charset.eml",
            "part 1: unknown charset 'invalid-charset'",
        ),
        (
            "enmime/testdata__low-quality__incorrect-charset.eml",
            "part 1: text is not valid 'us-ascii'; decoded as utf-8",
        ),
        (
            "enmime/testdata__mail__mime-bad-content-transfer-encoding.eml",
            "part 1: labelled base64 but is not base64; kept as is",
        ),
        (
            "cpython-test-email/msg_47.eml",
            "part 1: a header line without a colon ends the headers early",
        ),
        (
            "mikel-mail/error_emails__content_transfer_encoding_x_uuencode.eml",
            "part 2: uuencoded part without a 'begin' line; kept as is",
        ),
        (
            "mikel-mail/error_emails__invalid_subject_characters.eml",
            "header 'Subject' is not UTF-8; decoded as windows-1252",
        ),
        ("spamassassin/nice__unicode2.eml", "header 'From': no address in"),
    ],
)
def test_defects_on_malformed_mail(name: str, defect: str) -> None:
    defects = parsed(name).defects
    assert any(d.startswith(defect) for d in defects), defects


CLEAN = [
    "cpython-test-email/msg_07.eml",
    "enmime/testdata__mail__quoted-printable-mime.eml",
    "enmime/testdata__mail__other-multi-related.eml",
    "mailcatcher/multipartmail-with-utf8.eml",
    "mailpit/inline-attachment.eml",
    "mailpit/mime-attachment.eml",
    "mikel-mail/attachment_emails__attachment_message_rfc822.eml",
    "mimekit/dkim__related.eml",
    "mimekit/messages__simple-embedded-message.eml",
    "nodemailer-mailparser/test__fixtures__nodemailer.eml",
    "postal-mime/bounce.eml",
]


@pytest.mark.parametrize("name", CLEAN)
def test_clean_mail_has_no_defects(name: str) -> None:
    assert parsed(name).defects == ()


def test_text_body_despite_mislabelled_base64() -> None:
    message = parsed("enmime/testdata__mail__mime-bad-content-transfer-encoding.eml")
    assert message.text is not None and message.text.startswith("ploozdect  nispplul")


# -- every message in tests/data and the shared corpus --------------------------------------


def manifest() -> dict[str, str]:
    """tests/data file -> sha256, from the table in SOURCES.md."""
    rows = {}
    for line in (DATA / "SOURCES.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 7 and cells[0].endswith(".eml"):
            rows[cells[0]] = cells[6]
    return rows


def test_data_files_are_listed_in_sources_byte_for_byte() -> None:
    rows = manifest()
    files = {p.relative_to(DATA).as_posix(): p for p in data_files()}
    assert 40 <= len(files) <= 60
    assert set(rows) == set(files)
    for name, path in files.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == rows[name], name


def check_everything(raw: bytes) -> Parsed:
    message = parse(raw)
    assert len({p.part_id for p in message.parts}) == len(message.parts)
    for part in message.parts:
        assert re.fullmatch(r"\d+(\.\d+)*", part.part_id), part.part_id
        assert part.content_type == part.content_type.lower() and "/" in part.content_type
        assert part.disposition in ("", "inline", "attachment")
    # Every part from one walk; the one-part lookup for the first and last few.
    assert [found for found, _ in part_contents(raw)] == list(message.parts)
    assert [len(data) for _, data in part_contents(raw)] == [p.size for p in message.parts]
    for part in {*message.parts[:3], *message.parts[-3:]}:
        found = part_content(raw, part.part_id)
        assert found is not None, part.part_id
        assert found[0] == part
        assert len(found[1]) == part.size
    return message


@pytest.mark.parametrize("path", data_files(), ids=lambda p: p.relative_to(DATA).as_posix())
def test_every_data_message(path: Path) -> None:
    check_everything(path.read_bytes())


@pytest.mark.slow
def test_every_corpus_message(corpus_message: Path) -> None:
    # Parametrized by conftest.py, once per message in the shared corpus (CATCHER_CORPUS).
    check_everything(corpus_message.read_bytes())


def stdlib_view(raw: bytes) -> tuple[str, str | None] | None:
    # The stdlib reads a leading byte order mark as body text; catcher skips it (and says so).
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        subject = str(message.get("subject", "") or "")
        sender = message.get("from")
        address = sender.addresses[0].addr_spec if sender is not None and sender.addresses else None
    except Exception:  # where the stdlib itself gives up there is nothing to compare with
        return None
    return subject, address


def stdlib_text(text: str) -> str:
    # policy.default keeps raw 8-bit bytes as surrogates; read them as the UTF-8 they are.
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def idn(address: str) -> str:
    local, _, domain = address.rpartition("@")
    labels = [
        label[4:].encode().decode("punycode") if label.lower().startswith("xn--") else label
        for label in domain.split(".")
    ]
    return f"{local}@{'.'.join(labels)}"


@pytest.mark.parametrize("path", data_files(), ids=lambda p: p.relative_to(DATA).as_posix())
def test_subject_and_sender_agree_with_the_stdlib(path: Path) -> None:
    raw = path.read_bytes()
    view = stdlib_view(raw)
    if view is None:
        pytest.skip("the stdlib cannot parse this message")
    subject, address = view
    message = parse(raw)
    theirs = stdlib_text(subject)
    if "\ufffd" in theirs or "=?" in theirs:
        # The stdlib gave up on a raw 8-bit or non-standard header; ours must be clean text.
        assert "\ufffd" not in message.subject and "=?" not in message.subject
    else:
        assert " ".join(message.subject.split()) == theirs
    if address and "@" in address:
        assert stdlib_text(idn(address)) in [a.address for a in message.sender]


def test_the_line_break_before_a_boundary_belongs_to_the_boundary() -> None:
    message = email.message.EmailMessage()
    message["Subject"] = "bodies"
    message.set_content("Invoice attached.\n")
    message.add_alternative("<p>Invoice</p>\n", subtype="html")
    result = parse(message.as_bytes())
    assert (result.text, result.html) == ("Invoice attached.\n", "<p>Invoice</p>\n")
