"""catcher.parsing against what it was built on: the standard library's compat32 parser.

``catcher.parsing.tree`` replaced compat32's ``BytesParser`` (and the other parsing
modules their slow paths). The old pipeline lives on here, and only here: a copy of
``catcher.parsing.mime`` fed by the compat32 tree, with the old header decoding, address
tokenizer, snippet and sizes. Every message in tests/data and the shared corpus, thousands
of damaged copies of them, and hand-made edge cases must come out the same, field for
field and byte for byte, except for the deliberate differences listed in ``DIFFERENCES``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import random
import re
import sys
from email.message import Message as _StdMessage
from email.parser import BytesParser
from email.policy import Compat32
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

import catcher.parsing.addresses
import catcher.parsing.mime
from catcher.parsing import Parsed, parse, part_contents
from catcher.parsing.addresses import Address
from catcher.parsing.charsets import bytes_to_text, decode_words, to_bytes
from catcher.parsing.headers import _parse_date
from catcher.parsing.htmltext import SNIPPET_LENGTH, read_html
from catcher.parsing.tree import MAX_NESTING, TOO_DEEP

from .conftest import CORPUS, CORPUS_MISSING, DATA, corpus_files

# --- the compat32 tree, as catcher.parsing.mime used it --------------------------------------


class _RawPolicy(Compat32):
    """compat32, but header values come back exactly as received."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawPolicy()


class _Node(_StdMessage):
    """A MIME entity whose message/* bodies the feed parser leaves unparsed."""

    def get_content_type(self) -> str:
        ctype = super().get_content_type()
        return "application/octet-stream" if ctype.startswith("message/") else ctype

    def get_boundary(self, failobj: Any = None) -> Any:
        try:
            return super().get_boundary(failobj)
        except Exception:  # raw 8-bit bytes in an RFC 2231 boundary: the stdlib raises
            return failobj

    def raw_header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.raw_items():
            if key.strip().lower() == wanted:
                return value
        return None

    def raw_body(self) -> bytes:
        # The body as read: get_payload() would decode 8-bit text by its charset. This is
        # the parser catcher used before, kept as it was to compare against.
        payload = getattr(self, "_payload", None)
        return to_bytes(payload if isinstance(payload, str) else "")


def _parse_tree(raw: bytes, headers_only: bool = False) -> _Node:
    parser = BytesParser(_Node, policy=_POLICY)
    return cast(_Node, parser.parsebytes(raw, headersonly=headers_only))


_STD_DEFECTS = {
    "NoBoundaryInMultipartDefect": "multipart without a boundary parameter",
    "StartBoundaryNotFoundDefect": "multipart boundary never found in the body",
    "CloseBoundaryNotFoundDefect": "missing closing boundary",
    "FirstHeaderLineIsContinuationDefect": "first header line is a continuation line",
    "MisplacedEnvelopeHeaderDefect": "'From ' envelope line inside the headers",
    "MissingHeaderBodySeparatorDefect": "a header line without a colon ends the headers early",
    "MultipartInvariantViolationDefect": "multipart Content-Type but the body is not multipart",
    "InvalidMultipartContentTransferEncodingDefect": (
        "multipart with a Content-Transfer-Encoding other than 7bit, 8bit or binary"
    ),
}


class Compat32Entity:
    """A compat32 node behind the interface mime.py reads a ``tree.Entity`` through."""

    def __init__(self, node: _Node, depth: int) -> None:
        self.node = node
        self.depth = depth
        self.items = list(node.raw_items())
        self.default_type = node.get_default_type()
        names = [type(defect).__name__ for defect in node.defects]
        self.defects = [
            _STD_DEFECTS.get(name) or str(defect) or name
            for defect, name in zip(node.defects, names, strict=True)
            if not (
                name == "MultipartInvariantViolationDefect"
                and (
                    "StartBoundaryNotFoundDefect" in names or "NoBoundaryInMultipartDefect" in names
                )
            )
        ]
        self.children = (
            [Compat32Entity(kid, depth + 1) for kid in node.get_payload() if isinstance(kid, _Node)]
            if node.is_multipart()
            else None
        )

    def raw_items(self) -> list[tuple[str, str]]:
        return self.items

    def raw_header(self, name: str) -> str | None:
        return self.node.raw_header(name)

    def raw_body(self) -> bytes:
        return self.node.raw_body()

    def is_multipart(self) -> bool:
        return self.children is not None

    def get_default_type(self) -> str:
        return self.default_type

    def get_param(self, name: str, header: str = "content-type") -> Any:
        return self.node.get_param(name, header=header)


def _node_for_header(content_type: str) -> _Node:
    """A compat32 node with this raw Content-Type value."""
    node = _Node(policy=_POLICY)
    node.set_raw("Content-Type", content_type)
    return node


def compat32_tree(raw: bytes, depth: int = 0, *, headers_only: bool = False) -> Compat32Entity:
    return Compat32Entity(_parse_tree(raw, headers_only), depth)


# --- the old slow paths ---------------------------------------------------------------------

_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def old_header_text(value: str, name: str, problems: list[str], hint: str | None = None) -> str:
    text, used = bytes_to_text(_LINE_BREAKS.sub("", value), hint)
    if used:
        problems.append(f"header {name!r} is not UTF-8; decoded as {used}")
    text = decode_words(text, problems, name)
    if "\x00" in text:
        problems.append(f"NUL byte in header {name!r}")
        text = text.replace("\x00", "")
    return text.strip()


def _copy(module: ModuleType, name: str) -> Any:
    """A private copy of a module, so patching it leaves the real one (and any catcher
    running in this process) alone."""
    spec = importlib.util.spec_from_file_location(name, cast(str, module.__file__))
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    sys.modules[name] = copy  # dataclasses look their module up while the class is built
    spec.loader.exec_module(copy)
    return copy


_old_addresses = _copy(catcher.parsing.addresses, "compat32_addresses")
_old_addresses._SIMPLE = re.compile(r"(?!)")  # every header through the tokenizer


class OldHeaderFields:
    """Every header decoded, then each address field looked up and decoded again."""

    def __init__(self, items: list[tuple[str, str]], hint: str | None) -> None:
        self.problems: list[str] = []
        out = []
        for name, value in items:
            name = bytes_to_text(name)[0].strip()
            out.append((name, old_header_text(value, name, self.problems, hint)))
        self.headers = tuple(out)
        self.items = items
        self.hint = hint

    def first(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def addresses(self, name: str) -> tuple[Address, ...]:
        out: list[Address] = []
        for key, value in self.items:
            key = bytes_to_text(key)[0].strip()
            if key.lower() == name:
                text = bytes_to_text(_LINE_BREAKS.sub("", value), self.hint)[0]
                out.extend(_old_addresses.parse_addresses(text, key, self.problems))
        return tuple(out)

    def date(self) -> Any:
        value = self.first("date")
        if not value:
            return None
        when = _parse_date(value)
        if when is None:
            self.problems.append(f"unparseable Date header {value[:80]!r}")
        return when


def old_line_ends(raw: bytes) -> tuple[int, int, int]:
    crlf = raw.count(b"\r\n")
    return crlf, raw.count(b"\n") - crlf, raw.count(b"\r") - crlf


def old_collapse(text: str, limit: int) -> str:
    words: list[str] = []
    size = 0
    for match in re.finditer(r"\S+", text):
        words.append(match.group())
        size += len(match.group()) + 1
        if size > limit:
            break
    return " ".join(words)[:limit].rstrip()


def old_snippet(text: str | None, html: str | None) -> str:
    if text is not None and text.strip():
        return old_collapse(text, SNIPPET_LENGTH)
    if not html:
        return ""
    return old_collapse(read_html(html, SNIPPET_LENGTH + 64).text, SNIPPET_LENGTH)


compat32 = _copy(catcher.parsing.mime, "compat32_mime")
"""catcher.parsing.mime as it was: ``compat32.parse`` and ``compat32.part_contents``."""
compat32.parse_tree = compat32_tree
compat32.HeaderFields = OldHeaderFields
compat32.header_text = old_header_text
compat32.b64size = lambda data: None  # every payload decoded to learn its size
compat32._line_ends = old_line_ends
compat32.snippet = old_snippet


# --- comparing ------------------------------------------------------------------------------


def outcome(module: Any, raw: bytes) -> tuple[Any, ...]:
    """Everything parse and part_contents say, as plain values."""
    parsed = dataclasses.astuple(module.parse(raw))
    contents = tuple((dataclasses.astuple(part), data) for part, data in module.part_contents(raw))
    return parsed, contents


def differences(raw: bytes) -> list[str]:
    """The fields of Parsed (and "part_contents") where old and new disagree."""
    old = outcome(compat32, raw)
    new = outcome(catcher.parsing.mime, raw)
    names = [f.name for f in dataclasses.fields(Parsed)]
    found = [name for name, a, b in zip(names, old[0], new[0], strict=True) if a != b]
    return found + (["part_contents"] if old[1] != new[1] else [])


def messages() -> list[Path]:
    return sorted(DATA.rglob("*.eml")) + corpus_files()


def label(path: Path) -> str:
    base = DATA if path.is_relative_to(DATA) else CORPUS
    return ("data/" if base == DATA else "corpus/") + path.relative_to(base).as_posix()


# --- damage, as real mail and fuzzers bring it ----------------------------------------------

_BOUNDARY_LINE = re.compile(rb"(?m)^--[^\r\n]*")
_PARAMETER = re.compile(rb"(?i)(boundary|charset|name|filename)(\*?[0-9]*\*?)=")
_INTERESTING = b"\r\n-: ;\"=\t\x00\xff*'"
_JUNK_LINES = [
    b"From someone\r\n",
    b" continued\r\n",
    b":no name\r\n",
    b"no colon\r\n",
    b"\r\n",
    b"Content-Type: multipart/mixed; boundary=x\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Type: message/rfc822\r\n",
    b'Content-Type: multipart/digest; boundary="--"\r\n',
]


def mutate(raw: bytes, rng: random.Random) -> bytes:
    """One seeded mutation of a message."""
    kind = rng.randrange(9)
    lines = raw.splitlines(keepends=True) or [b""]
    pick = rng.randrange(len(lines))
    if kind == 0:  # truncated
        return raw[: rng.randrange(len(raw) + 1)]
    if kind == 1:  # a line lost
        del lines[pick]
    elif kind == 2:  # a line repeated
        lines.insert(pick, lines[pick])
    elif kind == 3:  # a boundary line damaged
        return _damage_boundary(raw, rng, pick)
    elif kind == 4:  # bytes flipped
        data = bytearray(raw or b"\n")
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(len(data))] = rng.choice(_INTERESTING + bytes([rng.randrange(256)]))
        return bytes(data)
    elif kind == 5:  # a line end changed
        lines[pick] = lines[pick].rstrip(b"\r\n") + rng.choice([b"\n", b"\r", b"\r\n", b""])
    elif kind == 6:  # an odd header line
        lines.insert(rng.randrange(min(len(lines), 30) + 1), rng.choice(_JUNK_LINES))
    elif kind == 7:  # a parameter damaged
        found = list(_PARAMETER.finditer(raw))
        if not found:
            return raw + b"\r\n"
        match = rng.choice(found)
        insert = rng.choice([b'"', b";", b"*", b"*0*", b"*1", b"\\", b"'", b"%", b" "])
        at = rng.choice([match.start(), match.end(), match.end() + 1])
        return raw[:at] + insert + raw[at:]
    elif len(lines) > 2:  # a run of lines reversed
        first, last = sorted(rng.sample(range(len(lines)), 2))
        lines[first:last] = lines[first:last][::-1]
    return b"".join(lines)


def _damage_boundary(raw: bytes, rng: random.Random, pick: int) -> bytes:
    found = list(_BOUNDARY_LINE.finditer(raw))
    if not found:
        return raw[:pick] + b"--" + raw[pick:]
    match = rng.choice(found)
    line = match.group()
    damage = rng.randrange(6)
    if damage == 0:
        new = b""
    elif damage == 1:
        new = line[:-2] if line.endswith(b"--") else line + b"--"
    elif damage == 2:
        new = line + rng.choice([b" ", b"\t", b"x", b" --"])
    elif damage == 3 and len(line) > 3:
        at = rng.randrange(2, len(line))
        new = line[:at] + bytes([rng.choice(_INTERESTING)]) + line[at + 1 :]
    elif damage == 4:
        new = line + b"\r\n" + line
    else:
        new = b"x" + line
    return raw[: match.start()] + new + raw[match.end() :]


def mutations(per_message: int, seed: int = 0) -> list[tuple[str, bytes]]:
    out = []
    for path in messages():
        raw = path.read_bytes()
        rng = random.Random(f"{path.name}:{seed}")
        for number in range(per_message):
            out.append((f"{label(path)} #{number}", mutate(raw, rng)))
    return out


# --- hand-made edge cases -------------------------------------------------------------------

MP = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
EDGES = {
    "empty": b"",
    "one line break": b"\r\n",
    "blank lines": b"\n\n\n",
    "header without a line break": b"Subject: x",
    "headers only": b"Subject: x\r\nFrom: a@b.c\r\n",
    "body only": b"hello world\r\nsecond line\r\n",
    "NUL bytes": b"Subject: a\x00b\r\n\r\nx\x00y\r\n",
    "8-bit header name": b"Subj\xe9ct: x\r\nTo: a@b.c\r\n\r\nbody",
    "space before the colon": b"Subject : x\r\n\r\nbody",
    "mbox From line first": b"From a@b Mon Jan 1 00:00:00 2024\r\nSubject: x\r\n\r\nbody\r\n",
    "From line last, then blank": b"Subject: x\r\nFrom me\r\n\r\nbody\r\n",
    "From line last, then text": b"Subject: x\r\nFrom me\r\nbody\r\n",
    "From line last, at the end": b"Subject: x\r\nFrom me\r\n",
    "From line inside": b"Subject: x\r\nFrom me\r\n folded\r\nTo: a@b.c\r\n\r\nbody",
    "continuation first": b" folded\r\nSubject: x\r\n\r\nbody",
    "colon first": b":x\r\nSubject: y\r\n\r\nbody",
    "bare LF": MP.replace(b"\r\n", b"\n") + b"--b\nContent-Type: text/plain\n\nhi\n--b--\n",
    "bare CR": MP.replace(b"\r\n", b"\r") + b"--b\r\rhi\r--b--\r",
    "boundary with blanks after": MP + b"--b \t\r\n\r\nhi\r\n--b-- \r\n",
    "boundary glued to text": MP + b"--bb\r\n--b\r\n\r\nhi\r\n--bx\r\n--b--\r\n",
    "close boundary with junk": MP + b"--b\r\n\r\nhi\r\n--b--junk\r\n--b--\r\n",
    "no close boundary": MP + b"--b\r\n\r\nhi\r\n--b\r\n\r\nthere\r\n",
    "close before open": MP + b"preamble\r\n--b--\r\nepilogue\r\n",
    "no boundary line": MP + b"just text\r\n",
    "boundary line at the very end": MP + b"--b\r\n\r\nhi\r\n--b",
    "repeated boundary lines": MP + b"--b\r\n--b\r\n\r\nhi\r\n--b\r\n--b\r\n\r\nthere\r\n--b--\r\n",
    "empty last part": MP + b"--b\r\n\r\nhi\r\n--b\r\n--b--\r\n",
    "part without headers": MP + b"--b\r\nhello there\r\n--b\r\nhttp://x\r\n--b--\r\n",
    "part with headers only": MP + b"--b\r\nContent-Type: text/html\r\n--b--\r\n",
    "From line ending a part's headers": MP
    + b"--b\r\nContent-Type: text/plain\r\nFrom x\r\n\r\nbody\r\n--b--\r\n",
    "From line alone in a part": MP + b"--b\r\nX: y\r\nFrom x\r\n\r\n--b--\r\n",
    "preamble and epilogue": MP + b"pre\r\n--b\r\n\r\nhi\r\n--b--\r\n--b\r\n\r\nafter\r\n",
    "same boundary nested": MP + b"--b\r\n" + MP + b"--b\r\n\r\ninner\r\n--b--\r\n--b--\r\n",
    "outer boundary ends inner": MP
    + b"--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\none\r\n"
    + b"--b\r\n\r\ntwo\r\n--b--\r\n",
    "digest": b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in\r\n"
    + b"\r\nx\r\n--d\r\nContent-Type: text/plain\r\n\r\ny\r\n--d--\r\n",
    "attached message holding the boundary": MP
    + b"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\n--b\r\nx\r\n--b--\r\n",
    "delivery status": MP
    + b"--b\r\nContent-Type: message/delivery-status\r\n\r\nA: b\r\n\r\nC: d\r\n--b--\r\n",
    "base64 multipart": b"Content-Type: multipart/mixed; boundary=b\r\n"
    + b"Content-Transfer-Encoding: base64\r\n\r\n--b\r\n\r\nhi\r\n--b--\r\n",
    "multipart CTE with blanks": b"Content-Type: multipart/mixed; boundary=b\r\n"
    + b"Content-Transfer-Encoding: 7bit \r\n\r\n--b\r\n\r\nhi\r\n--b--\r\n",
    "no boundary parameter": b"Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nhi\r\n--b--\r\n",
    "multipart without a boundary inside": MP
    + b"--b\r\nContent-Type: multipart/related\r\n\r\ntext\r\n--b--\r\n",
    "empty boundary": b'Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n\r\nhi\r\n----\r\n',
    "quoted boundary": b'Content-Type: multipart/mixed; boundary="a b;c\\"d"\r\n\r\n'
    + b'--a b;c"d\r\n\r\nhi\r\n--a b;c"d--\r\n',
    "boundary with trailing blanks": b'Content-Type: multipart/mixed; boundary="x  "\r\n\r\n'
    + b"--x\r\n\r\nhi\r\n--x--\r\n",
    "8-bit boundary": b"Content-Type: multipart/mixed; boundary=\xe9\xff\r\n\r\n"
    + b"--\xe9\xff\r\n\r\nhi\r\n--\xe9\xff--\r\n",
    "folded boundary": b'Content-Type: multipart/mixed; boundary="a\r\n b"\r\n\r\n--a\r\n'
    + b"\r\nhi\r\n--a--\r\n",
    "RFC 2231 boundary": b"Content-Type: multipart/mixed; boundary*=utf-8''a%20b\r\n\r\n"
    + b"--a b\r\n\r\nhi\r\n--a b--\r\n",
    "RFC 2231 non-ASCII boundary": b"Content-Type: multipart/mixed; boundary*=utf-8''%E2%82%AC"
    + b"\r\n\r\n--\xe2\x82\xac\r\n\r\nhi\r\n",
    "RFC 2231 8-bit charset": b"Content-Type: multipart/mixed; boundary*=\"a\xe2\x82''x\"\r\n"
    + b"\r\n--x\r\n\r\nhi\r\n--x--\r\n",
    "RFC 2231 mixed numbering": b"Content-Type: multipart/mixed; boundary*=a; boundary*0=b\r\n"
    + b"\r\n--a\r\n\r\nhi\r\n",
    "RFC 2231 huge number": b"Content-Type: text/plain; name*"
    + b"9" * 5000
    + b"=x; charset=utf-8\r\n\r\nhi",
    "RFC 2231 filename": b"Content-Type: application/pdf\r\nContent-Disposition: attachment;"
    + b" filename*0*=utf-8''%E2%9C%94; filename*1=\" x.pdf\"\r\n\r\n%PDF",
    "parameter in the type's place": b"Content-Type: boundary=b\r\n\r\n--b\r\n\r\nhi\r\n",
    "upper-case parameter": b"Content-Type: multipart/mixed; BOUNDARY=b\r\n\r\n--b\r\n\r\nhi\r\n",
    "two Content-Type headers": b"Content-Type: text/plain\r\n" + MP + b"--b\r\n\r\nhi\r\n",
    "semicolons in quotes": b'Content-Type: text/plain; name="a;b"; charset="utf-8"\r\n\r\nhi',
    "escaped quote": b'Content-Type: text/plain; name="a\\";b"; charset=latin1\r\n\r\nhi\xe9',
    "unclosed quote": b'Content-Type: text/plain; name="a; charset=utf-8\r\n\r\nhi',
    "empty parameters": b"Content-Type: text/plain;;; charset=utf-8;\r\n\r\nhi",
    "comment in the type": b"Content-Type: multipart/mixed (x); boundary=b\r\n\r\n"
    + b"--b\r\n\r\nhi\r\n",
    "spaces in the type": b"Content-Type: multipart / mixed; boundary=b\r\n\r\n--b\r\n\r\nhi\r\n",
    "byte order mark": b"\xef\xbb\xbfSubject: x\r\n\r\nbody",
    # tree reads the first 64 KB of headers in one go: here that window ends inside a CRLF.
    "headers past 64 KB": b"X: " + b"a" * (65536 - 4) + b"\r\nSubject: y\r\n\r\nbody\r\n",
    "headers past 64 KB, LF": b"X: " + b"a" * (65536 - 4) + b"\nSubject: y\n\nbody\n",
    "base64 attachments": MP
    + b"--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + b"iVBORw0KGgo=\r\n--b\r\nContent-Type: application/pdf\r\n"
    + b"Content-Transfer-Encoding: base64\r\n\r\nQUJD\r\n"
    + b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\nQQ\r\n--b--\r\n",
}

# Where the new reading deliberately differs from compat32's: the message, the fields of the
# result that differ, and why.
DIFFERENCES = {
    "multiparts nested past MAX_NESTING": (
        b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
        + b"".join(
            b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
            for i in range(MAX_NESTING + 5)
        )
        + b"hi\r\n",
        ["text", "parts", "defects", "snippet", "part_contents"],
        # compat32 checks every line against every enclosing boundary (quadratic in the
        # depth) and recurses until Python's stack runs out (at a few hundred levels, when
        # parse() falls back to the headers alone); catcher keeps the multipart 64 levels
        # down whole, as one text part, and says so in a defect.
        "nesting is capped so time stays linear and recursion bounded",
    ),
}


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DATA.rglob("*.eml")), ids=label)
def test_data_messages_read_as_compat32_read_them(path: Path) -> None:
    assert differences(path.read_bytes()) == []


@pytest.mark.slow
def test_corpus_messages_read_as_compat32_read_them() -> None:
    if not corpus_files():
        pytest.skip(CORPUS_MISSING)
    found = {label(path): differences(path.read_bytes()) for path in corpus_files()}
    assert len(found) > 100
    assert {name: fields for name, fields in found.items() if fields} == {}


@pytest.mark.slow
def test_damaged_messages_read_as_compat32_read_them() -> None:
    cases = mutations(per_message=3)
    assert len(cases) >= 400
    found = {name: differences(raw) for name, raw in cases}
    assert {name: fields for name, fields in found.items() if fields} == {}


@pytest.mark.parametrize("raw", EDGES.values(), ids=EDGES.keys())
def test_edge_cases_read_as_compat32_read_them(raw: bytes) -> None:
    assert differences(raw) == []


@pytest.mark.parametrize("name", DIFFERENCES)
def test_deliberate_differences(name: str) -> None:
    raw, fields, _ = DIFFERENCES[name]
    assert differences(raw) == fields


def test_nesting_is_cut_at_max_nesting() -> None:
    raw, _, _ = DIFFERENCES["multiparts nested past MAX_NESTING"]
    message = parse(raw)
    [kept] = message.parts
    assert kept.part_id == ".".join(["1"] * MAX_NESTING)
    assert kept.content_type == "text/plain"
    assert message.text is not None and message.text.startswith("--b64\r\n")
    assert f"part {kept.part_id}: {TOO_DEEP}" in message.defects
    old = compat32.parse(raw)
    assert old.parts[0].part_id == ".".join(["1"] * (MAX_NESTING + 5))


def test_sizes_are_known_without_decoding() -> None:
    raw = EDGES["base64 attachments"]
    analysis = catcher.parsing.mime._Analysis(raw)
    assert [leaf.decoded for leaf in analysis.leaves] == [None, None, b"A"]
    assert [part.size for part in parse(raw).parts] == [8, 3, 1]
    assert [len(data) for _, data in part_contents(raw)] == [8, 3, 1]


def test_the_old_pipeline_is_really_the_old_one() -> None:
    """Guard the comparison itself: the copy runs compat32 and the old slow paths."""
    assert isinstance(compat32._Analysis(b"Subject: x\r\n\r\nhi").root, Compat32Entity)
    to = compat32.parse(b"To: A <a@b.c>\r\n\r\nhi").to
    assert [dataclasses.astuple(address) for address in to] == [("A", "a@b.c")]
    assert compat32.parse_tree is compat32_tree
    assert vars(catcher.parsing.mime)["parse_tree"] is not compat32_tree
    assert _old_addresses._SIMPLE.fullmatch("a@b.c") is None
    assert catcher.parsing.addresses._SIMPLE.fullmatch("a@b.c") is not None
