"""Raw mail bytes in, a frozen model out: addresses, headers, bodies, parts and defects."""

from __future__ import annotations

import binascii
import codecs
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import utils
from email.message import Message as _StdMessage
from email.parser import BytesParser
from email.policy import Compat32
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any, cast

__all__ = [
    "Address",
    "Delivery",
    "Envelope",
    "Message",
    "Parsed",
    "Part",
    "SearchText",
    "Summary",
    "addresses_text",
    "html_text",
    "parse",
    "part_content",
]

SNIPPET_LENGTH = 200
# Attached messages inside attached messages: past this depth they are listed, not opened.
MAX_MESSAGE_DEPTH = 16
# A hostile message can carry thousands of defective parts; past this the list only says so.
MAX_DEFECTS = 100


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox from an address header."""

    name: str
    address: str

    def __str__(self) -> str:
        if not self.name:
            return self.address
        name = self.name
        if _NEEDS_QUOTES.search(name):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{self.address}>" if self.address else name


@dataclass(frozen=True, slots=True)
class Part:
    """One leaf of the MIME tree (or an attached message), numbered like IMAP body sections."""

    part_id: str
    content_type: str
    charset: str | None
    filename: str | None
    size: int
    content_id: str | None
    disposition: str
    is_attachment: bool


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a message says, decoded to text, with whatever was wrong with it in ``defects``."""

    sender: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    subject: str
    date: datetime | None
    date_raw: str | None
    message_id: str | None
    headers: tuple[tuple[str, str], ...]
    text: str | None
    html: str | None
    parts: tuple[Part, ...]
    defects: tuple[str, ...]
    snippet: str


def addresses_text(addrs: tuple[Address, ...]) -> str:
    """Render addresses as one line, ``Name <a@b>, c@d``."""
    return ", ".join(str(a) for a in addrs)


def parse(raw: bytes) -> Parsed:
    """Parse a message; any input gives a best-effort model, problems go to ``defects``."""
    try:
        return _Analysis(raw).parsed()
    except Exception as exc:  # the last line of defence: parse() must never raise
        return _fallback(raw, exc)


def part_content(raw: bytes, part_id: str) -> tuple[Part, bytes] | None:
    """The part with this id and its decoded payload, or None when there is no such part."""
    try:
        for leaf in _Analysis(raw).leaves:
            if leaf.part_id == part_id:
                return _part(leaf), leaf.payload
    except Exception:  # same promise as parse(): a broken message has no parts to serve
        return None
    return None


# --- the MIME tree ------------------------------------------------------------------------


class _RawPolicy(Compat32):
    """compat32, but header values come back exactly as received.

    compat32 turns a value holding 8-bit bytes into a ``Header`` whose text has lost those
    bytes; keeping the surrogate-escaped string lets us decode it as UTF-8 or Latin-1 ourselves.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawPolicy()


class _Node(_StdMessage):
    """A MIME entity whose message/* bodies the feed parser leaves unparsed.

    Attached messages are parsed on their own from their decoded bytes: that keeps their
    exact bytes for download and copes with base64-encoded message/rfc822 parts.
    """

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
        # Read _payload itself: get_payload() decodes 8-bit bodies lossily, and the feed
        # parser trims the line break that belongs to the next boundary only there.
        payload = getattr(self, "_payload", None)
        return _to_bytes(payload if isinstance(payload, str) else "")


def _parse_tree(raw: bytes, headers_only: bool = False) -> _Node:
    parser = BytesParser(_Node, policy=_POLICY)
    return cast(_Node, parser.parsebytes(raw, headersonly=headers_only))


def _to_bytes(text: str) -> bytes:
    """Undo the parser's surrogateescape decoding to get the bytes as received."""
    try:
        return text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # non-ASCII text we produced ourselves, not the parser
        return text.encode("utf-8", "surrogateescape")


@dataclass(slots=True)
class _Level:
    """One message in the tree: the top one, or one attached as message/rfc822."""

    root: _Node
    leaves: dict[int, _Leaf] = field(default_factory=dict)
    cids: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Leaf:
    node: _Node
    level: _Level
    part_id: str
    content_type: str
    charset: str | None
    filename: str | None
    content_id: str | None
    disposition: str
    payload: bytes
    related_member: bool
    is_message: bool
    inner: _Node | None = None
    alternative: bool = False  # a direct child of multipart/alternative
    body: bool = False


class _Analysis:
    """One walk over a message, shared by parse() and part_content()."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.leaves: list[_Leaf] = []
        self.levels: list[_Level] = []
        self.defects: dict[str, None] = {}  # a dict: ordered, and duplicates cost nothing
        self._result: Parsed | None = None
        self._line_end_defects()
        if raw.startswith(b"\xef\xbb\xbf"):
            # Saved by a Windows editor; the mark would hide the first header line.
            self._defect("", "UTF-8 byte order mark before the headers")
            raw = raw[3:]
        self.root = _parse_tree(raw)
        self.top = self._walk_message(self.root, "", "", 0)
        self.hint = _charset_hint(self.leaves)
        for leaf in self.leaves:
            leaf.filename = _filename(leaf.node, self.hint)
            if leaf.inner is not None and leaf.filename is None:
                subject = leaf.inner.raw_header("subject")
                text = _header_text(subject, "subject", [], self.hint) if subject else ""
                leaf.filename = (_clean_filename(text) or "message") + ".eml"
        for level in self.levels:
            _choose_bodies(level)

    # -- the walk

    def _walk_message(self, msg: _Node, prefix: str, label: str, depth: int) -> _Level:
        level = _Level(msg)
        self.levels.append(level)
        self._node_defects(msg, label)
        if msg.is_multipart():
            self._walk_children(msg, prefix, level, depth)
        else:
            self._leaf(msg, prefix + "1", level, depth, related_member=False, root_label=label)
        return level

    def _walk_children(self, msg: _Node, prefix: str, level: _Level, depth: int) -> None:
        kids = [k for k in msg.get_payload() or () if isinstance(k, _Node)]
        subtype = _content_type(msg)[0].partition("/")[2]
        root = _related_root(msg, kids) if subtype == "related" else -1
        for index, kid in enumerate(kids):
            part_id = f"{prefix}{index + 1}"
            if kid.is_multipart():
                self._node_defects(kid, f"part {part_id}")
                self._walk_children(kid, part_id + ".", level, depth)
            else:
                member = subtype == "related" and index != root
                leaf = self._leaf(kid, part_id, level, depth, related_member=member)
                if leaf is not None:
                    leaf.alternative = subtype == "alternative"

    def _leaf(
        self,
        node: _Node,
        part_id: str,
        level: _Level,
        depth: int,
        *,
        related_member: bool,
        root_label: str | None = None,
    ) -> _Leaf | None:
        where = f"part {part_id}"
        if root_label is None:
            self._node_defects(node, where)
        ctype, valid = _content_type(node)
        if not valid:
            self._defect(where, f"invalid Content-Type {node.raw_header('content-type')!r}")
        if ctype.startswith("multipart/"):
            # A multipart without usable boundaries: its body is shown as text.
            ctype = "text/plain"
        payload = self._payload(node, where)
        if root_label is not None and not payload.strip(b"\r\n"):
            return None  # a message without a body has no body part
        is_message = ctype in ("message/rfc822", "message/global")
        declared = _param(node, "charset")
        charset = (declared or "").strip().lower() or None
        if charset and ctype.startswith("text/") and _codecs_for(charset) is None:
            self._defect(where, f"unknown charset {charset!r}")
        if ctype in _HTML_TYPES and not charset:
            charset = _sniff_html_charset(payload)
        leaf = _Leaf(
            node=node,
            level=level,
            part_id=part_id,
            content_type=ctype,
            charset=None if is_message else charset,
            filename=None,
            content_id=_content_id(node.raw_header("content-id")),
            disposition=_disposition(node.raw_header("content-disposition")),
            payload=payload,
            related_member=related_member,
            is_message=is_message,
        )
        self.leaves.append(leaf)
        level.leaves[id(node)] = leaf
        if is_message:
            self._attached_message(leaf, depth)
        return leaf

    def _attached_message(self, leaf: _Leaf, depth: int) -> None:
        where = f"part {leaf.part_id}"
        if depth + 1 >= MAX_MESSAGE_DEPTH:
            self._defect(where, "attached messages nested too deeply; not opened")
            return
        try:
            leaf.inner = _parse_tree(leaf.payload)
            self._walk_message(leaf.inner, leaf.part_id + ".", where, depth + 1)
        except Exception as exc:  # an unparseable attachment must not spoil the outer message
            self._defect(where, f"attached message could not be parsed ({type(exc).__name__})")

    def _payload(self, node: _Node, where: str) -> bytes:
        data = node.raw_body()
        cte = (node.raw_header("content-transfer-encoding") or "").strip().lower()
        cte = re.split(r"[\s;(]", cte, maxsplit=1)[0].strip("\"'")
        if cte in ("", "7bit", "8bit", "binary"):
            return data
        if cte in ("base64", "base-64"):
            decoded, problem = _b64decode(data)
        elif cte in ("quoted-printable", "quoted_printable"):
            decoded, problem = _qpdecode(data)
        elif cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
            decoded, problem = _uudecode(data)
        else:
            decoded, problem = data, f"unknown Content-Transfer-Encoding {cte!r}; kept as is"
        if problem:
            self._defect(where, problem)
        return decoded

    # -- bodies

    def parsed(self) -> Parsed:
        if self._result is None:
            text = html = None
            for leaf in self.top.leaves.values():
                if not leaf.body:
                    continue
                decoded, problem = _decode_text(leaf.payload, leaf.charset)
                if problem:
                    self._defect(f"part {leaf.part_id}", problem)
                if leaf.content_type == "text/plain":
                    text = decoded
                else:
                    html = decoded
            parts = tuple(_part(leaf) for leaf in self.leaves)
            self._result = _model(self.root, self.hint, text, html, parts, list(self.defects))
        return self._result

    # -- defects

    def _defect(self, where: str, what: str) -> None:
        self.defects[f"{where}: {what}" if where else what] = None

    def _node_defects(self, node: _Node, where: str) -> None:
        names = [type(defect).__name__ for defect in node.defects]
        for defect, name in zip(node.defects, names, strict=True):
            if name == "MultipartInvariantViolationDefect" and (
                "StartBoundaryNotFoundDefect" in names or "NoBoundaryInMultipartDefect" in names
            ):
                continue  # the same problem, already reported more precisely
            self._defect(where, _STD_DEFECTS.get(name) or str(defect) or name)

    def _line_end_defects(self) -> None:
        crlf = self.raw.count(b"\r\n")
        bare_lf = self.raw.count(b"\n") - crlf
        bare_cr = self.raw.count(b"\r") - crlf
        # Files stored with plain LF ends are normal; mixing is what breaks parsers (and
        # is how SMTP smuggling works), so only that is reported.
        if crlf and bare_lf:
            self._defect("", f"mixed line ends: {crlf} CRLF and {bare_lf} bare LF")
        if bare_cr:
            self._defect("", f"{bare_cr} bare CR characters (read as line ends)")


def _part(leaf: _Leaf) -> Part:
    return Part(
        part_id=leaf.part_id,
        content_type=leaf.content_type,
        charset=leaf.charset,
        filename=leaf.filename,
        size=len(leaf.payload),
        content_id=leaf.content_id,
        disposition=leaf.disposition,
        is_attachment=_is_attachment(leaf),
    )


def _choose_bodies(level: _Level) -> None:
    text, html = _choose(level.root, level)
    if text is not None:
        text.body = True
    if html is not None:
        html.body = True
        refs = _CID_REF.findall(html.payload)
        level.cids = frozenset(urllib.parse.unquote(r.decode("ascii", "replace")) for r in refs)


def _charset_hint(leaves: list[_Leaf]) -> str | None:
    """The charset the sender used for text, to read raw 8-bit headers that are not UTF-8."""
    for leaf in leaves:
        if leaf.content_type.startswith("text/") and leaf.charset:
            chain = _codecs_for(leaf.charset)
            if chain and chain[0] not in ("ascii", "utf-8"):
                return leaf.charset
    return None


def _is_attachment(leaf: _Leaf) -> bool:
    """Whether a user would see this part as a file attached to the message."""
    if leaf.body:
        return False
    if leaf.is_message:
        return True
    if leaf.content_id is not None and leaf.content_id in leaf.level.cids:
        return False  # the HTML body shows it, whatever its disposition says
    if leaf.disposition == "attachment":
        return True
    located = leaf.content_id is not None or leaf.node.raw_header("content-location") is not None
    if leaf.related_member and located:
        return False  # a resource of the HTML body
    if leaf.content_type.startswith("text/") and not leaf.filename:
        # Another rendering of the body (text/watch-html, text/enriched) or an empty part.
        if leaf.alternative or not leaf.payload.strip():
            return False
    return True


def _choose(node: _Node, level: _Level) -> tuple[_Leaf | None, _Leaf | None]:
    """Pick the text/plain and text/html body leaves of one message."""
    if not node.is_multipart():
        leaf = level.leaves.get(id(node))
        if leaf is None or leaf.disposition == "attachment" or leaf.is_message:
            return None, None
        if leaf.content_type == "text/plain":
            return leaf, None
        if leaf.content_type in _HTML_TYPES:
            return None, leaf
        return None, None
    kids = [k for k in node.get_payload() or () if isinstance(k, _Node)]
    subtype = _content_type(node)[0].partition("/")[2]
    if subtype == "related":
        return _choose(kids[_related_root(node, kids)], level) if kids else (None, None)
    text: _Leaf | None = None
    html: _Leaf | None = None
    for kid in kids:
        if subtype != "alternative" and (text or html):
            kid_leaf = level.leaves.get(id(kid))
            if kid_leaf is not None and kid_leaf.filename:
                continue  # a named text file after the body is an attachment
        kid_text, kid_html = _choose(kid, level)
        text = text or kid_text
        html = html or kid_html
        if text and html:
            break
    return text, html


def _related_root(node: _Node, kids: list[_Node]) -> int:
    """RFC 2387: the part named by ``start``, else the first; senders that put the root
    elsewhere without ``start`` usually still say its type in ``type``."""
    start = _param(node, "start")
    if start:
        wanted = _content_id(start)
        for index, kid in enumerate(kids):
            if _content_id(kid.raw_header("content-id")) == wanted:
                return index
    root_type = (_param(node, "type") or "").strip().lower()
    if root_type and kids and _content_type(kids[0])[0] != root_type:
        for index, kid in enumerate(kids):
            if _content_type(kid)[0] == root_type:
                return index
    return 0


_HTML_TYPES = ("text/html", "application/xhtml+xml")
_CID_REF = re.compile(rb"""cid:([^"'\s>)]+)""", re.IGNORECASE)
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


# --- content headers ----------------------------------------------------------------------

_TOKEN_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_COMMENT = re.compile(r"\([^()]*\)")


def _content_type(node: _Node) -> tuple[str, bool]:
    """The lower-case type/subtype and whether the header (if any) was valid."""
    value = node.raw_header("content-type")
    if value is None or not value.strip():
        default = node.get_default_type()
        return default, True
    ctype = _COMMENT.sub("", value.split(";", 1)[0]).strip().lower()
    ctype = "".join(ctype.split())
    if _TOKEN_TYPE.match(ctype):
        return ctype, True
    return "text/plain", False


def _param(
    node: _Node, name: str, header: str = "content-type", hint: str | None = None
) -> str | None:
    """A header parameter as text: RFC 2231 and RFC 2047 decoded, 8-bit bytes decoded."""
    try:
        value = node.get_param(name, header=header)
    except Exception:  # the stdlib's parameter parser trips on some hostile values
        return None
    if value is None:
        return None
    if isinstance(value, tuple):
        charset, _, text = value
        data = text.encode("latin-1", "surrogateescape") if text else b""
        decoded, _ = _decode_text(data, charset or None)
        return decoded
    return _decode_words(_bytes_to_text(value, hint)[0], [], "")


def _filename(node: _Node, hint: str | None) -> str | None:
    for name, header in (("filename", "content-disposition"), ("name", "content-type")):
        value = _param(node, name, header, hint)
        if value:
            cleaned = _clean_filename(value)
            if cleaned:
                return cleaned
    return None


# Control characters, and the bidi overrides that make "exe.pdf" look like "fdp.exe".
_FILENAME_JUNK = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _clean_filename(value: str) -> str:
    return _FILENAME_JUNK.sub("", value).strip()


def _content_id(value: str | None) -> str | None:
    if not value:
        return None
    text = _bytes_to_text("".join(value.split()))[0]
    match = re.search(r"<([^<>]*)>", text)
    cid = (match.group(1) if match else text).strip()
    return cid or None


def _disposition(value: str | None) -> str:
    if value is None:
        return ""
    kind = _COMMENT.sub("", value.split(";", 1)[0]).strip().strip("\"'").lower()
    if not kind or kind == "inline":
        return "inline" if kind else ""
    # RFC 2183: an unrecognised disposition type is treated as attachment.
    return "attachment"


_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)


def _sniff_html_charset(payload: bytes) -> str | None:
    match = _META_CHARSET.search(payload[:4096])
    return match.group(1).decode("ascii").lower() if match else None


# --- transfer encodings -------------------------------------------------------------------

_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_B64_JUNK = bytes(b for b in range(256) if b not in _B64_ALPHABET)
_WHITESPACE = b" \t\r\n\f\v"
_SPACED = re.compile(rb"\S[ \t]+\S")


def _b64decode(data: bytes) -> tuple[bytes, str | None]:
    first_line = data[:4096].lstrip().split(b"\n", 1)[0].strip()
    if _SPACED.search(first_line):
        # Words with spaces between them: plain text mislabelled as base64.
        return data, "labelled base64 but is not base64; kept as is"
    compact = data.translate(None, _WHITESPACE)
    cleaned = compact.translate(None, _B64_JUNK)
    problem = None
    if len(cleaned) != len(compact):
        problem = "invalid characters in base64 data"
    body = cleaned.rstrip(b"=")
    if b"=" not in body and len(cleaned) % 4 == 0:
        try:
            return binascii.a2b_base64(cleaned), problem
        except binascii.Error:
            pass
    # Padding inside the data (pieces glued together) or missing: decode piece by piece.
    out = []
    for chunk in re.split(rb"=+", cleaned):
        rest = len(chunk) % 4
        if rest == 1:
            chunk = chunk[:-1]
            problem = problem or "invalid base64 length"
        elif rest:
            chunk += b"=" * (4 - rest)
        try:
            out.append(binascii.a2b_base64(chunk))
        except binascii.Error:
            problem = "undecodable base64 data"
    return b"".join(out), problem or "invalid base64 padding"


_QP_BAD_ESCAPE = re.compile(rb"=(?![0-9A-Fa-f]{2}|[ \t]*(?:\r\n|\n|\r|\Z))")


def _qpdecode(data: bytes) -> tuple[bytes, str | None]:
    problem = "invalid quoted-printable escape" if _QP_BAD_ESCAPE.search(data) else None
    return binascii.a2b_qp(data), problem


def _uudecode(data: bytes) -> tuple[bytes, str | None]:
    lines = data.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(b"begin")), None)
    if start is None:
        return data, "uuencoded part without a 'begin' line; kept as is"
    out = []
    problem = None
    for line in lines[start + 1 :]:
        if line.strip() == b"end":
            break
        if not line.strip():
            continue
        try:
            out.append(binascii.a2b_uu(line))
        except binascii.Error:
            # Some encoders pad lines with junk: decode only the length the line claims.
            size = (((line[0] - 32) & 63) * 4 + 5) // 3
            try:
                out.append(binascii.a2b_uu(line[:size]))
            except binascii.Error:
                problem = "undecodable uuencoded line"
    return b"".join(out), problem


# --- charsets -----------------------------------------------------------------------------

# Labels seen in real mail that Python lacks or maps to a narrower table than senders used.
_CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "ksc_5601": "cp949",
    "euc-kr": "cp949",
    "windows-949": "cp949",
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "csshiftjis": "cp932",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "windows-874": "cp874",
    "unicode-1-1-utf-7": "utf-7",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "x-mac-cyrillic": "mac_cyrillic",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
    "utf8": "utf-8",
}
# What mail calls Latin-1 is almost always Windows-1252 (as browsers assume); the second
# codec catches the few bytes cp1252 leaves undefined.
_LATIN = ("cp1252", "latin-1")
# Python has no codec for the ISO-2022-JP Windows writes (with NEC and IBM extensions, such as
# circled digits), so text that iso2022_jp rejects is re-read through cp932.
_JIS_CP932 = "iso-2022-jp as cp932"
_JIS = ("iso2022_jp_ext", _JIS_CP932)
_CHARSET_CHAINS = {
    "iso-8859-1": _LATIN,
    "latin1": _LATIN,
    "latin-1": _LATIN,
    "l1": _LATIN,
    "iso-2022-jp": _JIS,
    "csiso2022jp": _JIS,
    "iso2022jp": _JIS,
}
# 8-bit Japanese text is often labelled ISO-2022-JP (a 7-bit charset) by old mailers.
_MISLABELLED = {"iso2022_jp_ext": ("euc_jp", "cp932")}
_NOT_TEXT_CODECS = frozenset(
    {"undefined", "idna", "punycode", "unicode_escape", "raw_unicode_escape", "mbcs", "oem"}
)


@lru_cache(maxsize=256)
def _codecs_for(label: str) -> tuple[str, ...] | None:
    """The Python codecs to try for a charset label, or None when it names no text codec."""
    name = label.strip().strip("\"'").lower().partition("*")[0].strip()
    if not name or len(name) > 40:
        return None
    if name in _CHARSET_CHAINS:
        return _CHARSET_CHAINS[name]
    name = re.sub(r"^(iso-?8859-\d+)-[ie]$", r"\1", name)  # the Hebrew/Arabic -i/-e forms
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if info.name.replace("-", "_") in _NOT_TEXT_CODECS or not getattr(
        info, "_is_text_encoding", True
    ):
        return None
    return (info.name,)


def _decode_with(data: bytes, codec: str) -> str:
    if codec == _JIS_CP932:
        return _jis_as_cp932(data)
    return data.decode(codec)


_JIS_ESCAPE = re.compile(rb"(\x1b(?:\$@|\$B|\(B|\(J|\(I))")


def _jis_as_cp932(data: bytes) -> str:
    """ISO-2022-JP read as the Shift_JIS superset Windows uses; ValueError when it is not."""
    out = bytearray()
    mode = b"\x1b(B"
    for piece in _JIS_ESCAPE.split(data):
        if _JIS_ESCAPE.fullmatch(piece):
            mode = piece
        elif mode in (b"\x1b$@", b"\x1b$B"):
            if len(piece) % 2:
                raise ValueError("odd number of bytes in a two-byte run")
            for high, low in zip(piece[::2], piece[1::2], strict=True):
                if not (0x21 <= high <= 0x7E and 0x21 <= low <= 0x7E):
                    raise ValueError("byte outside the JIS range")
                if high % 2:
                    low += 0x1F if low < 0x60 else 0x20
                else:
                    low += 0x7E
                high = (high + 1) // 2 + 0x70
                out += bytes((high + 0x40 if high >= 0xA0 else high, low))
        elif mode == b"\x1b(I":
            out += bytes(b | 0x80 for b in piece)
        elif not piece.isascii():
            raise ValueError("8-bit byte in a 7-bit charset")
        else:
            out += piece
    return out.decode("cp932")


def _latin(data: bytes) -> str:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decode_text(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode body or word bytes: declared charset, then UTF-8, then a lossy last resort."""
    if not charset:
        try:
            return data.decode("utf-8"), None
        except UnicodeDecodeError:
            return _latin(data), "8-bit text without a charset; decoded as windows-1252"
    chain = _codecs_for(charset)
    if chain is None:
        try:
            return data.decode("utf-8"), f"unknown charset {charset!r}"
        except UnicodeDecodeError:
            return _latin(data), f"unknown charset {charset!r}"
    for codec in chain:
        try:
            return _decode_with(data, codec), None
        except ValueError:  # UnicodeDecodeError, or a codec's own complaint
            pass
        except Exception:  # a few codecs raise other errors on hostile input
            break
    # UTF-8 mislabelled as something else is the common case; but plain ASCII that a 7-bit
    # charset (ISO-2022-*, UTF-7) rejected would "succeed" as UTF-8 and show escape codes.
    if chain[0] != "utf-8" and not data.isascii():
        try:
            return data.decode("utf-8"), f"text is not valid {charset!r}; decoded as utf-8"
        except UnicodeDecodeError:
            pass
    for codec in _MISLABELLED.get(chain[0], ()):
        try:
            return data.decode(codec), f"text is not valid {charset!r}; decoded as {codec}"
        except UnicodeDecodeError:
            pass
    if chain[0] == "ascii":
        return _latin(data), f"text is not valid {charset!r}; decoded as windows-1252"
    try:
        text = data.decode(chain[0], "replace")
    except Exception:  # same as above: never let a codec's own bug escape
        text = _latin(data)
    return text, f"text is not valid {charset!r}; undecodable bytes replaced"


def _bytes_to_text(value: str, hint: str | None = None) -> tuple[str, str | None]:
    """Header text from the parser's surrogate-escaped string, and the charset used when the
    raw bytes were not UTF-8 (RFC 6532): the one the message's text declares, else cp1252."""
    if value.isascii():
        return value, None
    data = _to_bytes(value)
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    chain = _codecs_for(hint) if hint else None
    if chain and hint:
        try:
            return _decode_with(data, chain[0]), hint
        except Exception:  # a wrong guess; fall through to the last resort
            pass
    return _latin(data), "windows-1252"


# --- header values ------------------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?]*)\?=")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def _decode_words(text: str, problems: list[str], header: str) -> str:
    """Decode RFC 2047 encoded-words wherever they appear; malformed ones stay as written."""
    if "=?" not in text:
        return text
    out: list[str] = []
    pending_charset = ""
    pending = bytearray()
    have_pending = False

    def flush() -> None:
        nonlocal have_pending
        if have_pending:
            decoded, problem = _decode_text(bytes(pending), pending_charset or "unknown")
            if problem:
                problems.append(f"header {header!r}: {problem}")
            out.append(decoded)
            pending.clear()
            have_pending = False

    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        if not (have_pending and not gap.strip()):
            flush()
            out.append(gap)
        charset = match.group(1).partition("*")[0].lower()
        encoded = _word_bytes(match.group(3), charset)
        if match.group(2) in "bB":
            data, problem = _b64decode(encoded)
            if problem:
                problems.append(f"header {header!r}: {problem} in an encoded-word")
        else:
            data = binascii.a2b_qp(encoded, header=True)
        # Adjacent words in one charset are joined first: senders split multibyte characters.
        if have_pending and charset != pending_charset:
            flush()
        pending_charset = charset
        pending.extend(data)
        have_pending = True
        pos = match.end()
    flush()
    out.append(text[pos:])
    return "".join(out)


def _word_bytes(text: str, charset: str) -> bytes:
    if text.isascii():
        return text.encode("ascii")
    # Raw 8-bit characters inside an encoded-word are already text: encoding them in the
    # word's charset makes decoding give them back unchanged.
    chain = _codecs_for(charset)
    if chain and chain[0] != _JIS_CP932:
        try:
            return text.encode(chain[0])
        except (UnicodeError, LookupError):
            pass
    return text.encode("utf-8", "surrogateescape")


def _header_text(value: str, name: str, problems: list[str], hint: str | None = None) -> str:
    text, used = _bytes_to_text(_LINE_BREAKS.sub("", value), hint)
    if used:
        problems.append(f"header {name!r} is not UTF-8; decoded as {used}")
    text = _decode_words(text, problems, name)
    if "\x00" in text:
        problems.append(f"NUL byte in header {name!r}")
        text = text.replace("\x00", "")
    return text.strip()


def _headers(root: _Node, hint: str | None) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    problems: list[str] = []
    out = []
    for name, value in root.raw_items():
        name = _bytes_to_text(name)[0].strip()
        out.append((name, _header_text(value, name, problems, hint)))
    return tuple(out), problems


class _HeaderFields:
    """Typed views of the top-level headers."""

    def __init__(self, headers: tuple[tuple[str, str], ...], root: _Node, hint: str | None) -> None:
        self.headers = headers
        self.root = root
        self.hint = hint
        self.problems: list[str] = []

    def first(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def addresses(self, name: str) -> tuple[Address, ...]:
        out: list[Address] = []
        for key, value in self.root.raw_items():
            key = _bytes_to_text(key)[0].strip()
            if key.lower() == name:
                text = _bytes_to_text(_LINE_BREAKS.sub("", value), self.hint)[0]
                out.extend(_parse_addresses(text, key, self.problems))
        return tuple(out)

    def date(self) -> datetime | None:
        value = self.first("date")
        if not value:
            return None
        when = _parse_date(value)
        if when is None:
            self.problems.append(f"unparseable Date header {value[:80]!r}")
        return when


def _parse_date(value: str) -> datetime | None:
    try:
        when = utils.parsedate_to_datetime(value)
    except Exception:  # it raises TypeError, ValueError, IndexError... on junk
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    # "-0000" means "zone unknown": UTC is the honest reading.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    match = re.search(r"<([^<>]*)>", value)
    mid = (match.group(1) if match else value).strip()
    return mid or None


# --- addresses ----------------------------------------------------------------------------

_NEEDS_QUOTES = re.compile(r'[()<>\[\]:;@\\,."]')
_ADDR_SPEC = re.compile(r"^[^@\s]+@[^@\s]+$")
_ADDRESS_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
    | (?P<quoted>"(?:[^"\\]|\\.)*")
    | (?P<stray>")
    | (?P<comment>\()
    | (?P<special>[<>,:;])
    | (?P<word>[^\s"(<>,:;]+)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # ws, quoted, comment, word, or the special character itself
    raw: str
    value: str


def _tokenize(text: str, problems: list[str], header: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _ADDRESS_TOKEN.match(text, pos)
        if match is None:  # cannot happen with these alternatives; stop rather than loop
            break
        kind = match.lastgroup or "word"
        raw = match.group()
        if kind == "comment":
            end, value, closed = _scan_comment(text, pos)
            if not closed:
                problems.append(f"header {header!r}: unterminated comment")
            tokens.append(_Token("comment", text[pos:end], value))
            pos = end
            continue
        if kind == "stray":
            # An unterminated quote is read as a stray character rather than swallowing the rest.
            problems.append(f"header {header!r}: unterminated quoted string")
            tokens.append(_Token("word", raw, ""))
        elif kind == "quoted":
            tokens.append(_Token("quoted", raw, re.sub(r"\\(.)", r"\1", raw[1:-1])))
        elif kind == "special":
            tokens.append(_Token(raw, raw, raw))
        else:
            tokens.append(_Token(kind, raw, raw))
        pos = match.end()
    return tokens


def _scan_comment(text: str, start: int) -> tuple[int, str, bool]:
    depth = 0
    pos = start
    chars: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            chars.append(text[pos + 1])
            pos += 2
            continue
        if char == "(":
            depth += 1
            if depth > 1:
                chars.append(char)
        elif char == ")":
            depth -= 1
            if depth == 0:
                return pos + 1, "".join(chars), True
            chars.append(char)
        else:
            chars.append(char)
        pos += 1
    return pos, "".join(chars), False


def _parse_addresses(text: str, header: str, problems: list[str]) -> list[Address]:
    """Parse an address list, salvaging what senders get wrong (and saying so in problems)."""
    entries = _split_entries(_tokenize(text, problems, header), problems, header)
    out: list[Address] = []
    index = 0
    while index < len(entries):
        entry = entries[index]
        # "Doe, John <j@x>": an unquoted comma; join the bare words to the next mailbox.
        if (
            index + 1 < len(entries)
            and _bare_words(entry)
            and any(t.kind == "<" for t in entries[index + 1])
        ):
            entries[index + 1] = [*entry, _Token("word", ",", ","), *entries[index + 1]]
            problems.append(f"header {header!r}: unquoted comma in a display name")
            index += 1
            continue
        out.extend(_mailboxes(entry, problems, header))
        index += 1
    return out


def _split_entries(tokens: list[_Token], problems: list[str], header: str) -> list[list[_Token]]:
    entries: list[list[_Token]] = []
    current: list[_Token] = []
    angle = in_group = False
    for token in tokens:
        kind = token.kind
        if kind == "<":
            angle = True
        elif kind == ">":
            angle = False
        elif not angle and kind == ",":
            entries.append(current)
            current = []
            continue
        elif not angle and kind == ":" and not in_group and not _has_address(current):
            in_group = True  # group syntax: the group's name is not a mailbox
            current = []
            continue
        elif not angle and kind == ";":
            if not in_group:
                problems.append(f"header {header!r}: ';' used to separate addresses")
            in_group = False
            entries.append(current)
            current = []
            continue
        current.append(token)
    entries.append(current)
    return entries


def _has_address(tokens: list[_Token]) -> bool:
    return any(t.kind == "<" or (t.kind == "word" and "@" in t.raw) for t in tokens)


def _bare_words(tokens: list[_Token]) -> bool:
    words = [t for t in tokens if t.kind not in ("ws", "comment")]
    return bool(words) and all(t.kind == "word" and "@" not in t.raw for t in words)


def _mailboxes(tokens: list[_Token], problems: list[str], header: str) -> list[Address]:
    """Usually one mailbox; none for an empty entry; several when commas were left out."""
    if not any(t.kind not in ("ws", "comment") for t in tokens):
        return []
    opening = next((i for i, t in enumerate(tokens) if t.kind == "<"), None)
    if opening is not None:
        rest = tokens[opening + 1 :]
        closing = next((i for i, t in enumerate(rest) if t.kind == ">"), None)
        if closing is None:
            problems.append(f"header {header!r}: missing '>' after an address")
        inner = rest if closing is None else rest[:closing]
        address = "".join(t.raw for t in inner if t.kind not in ("ws", "comment", "<"))
        if address.startswith("@") and ":" in address:
            address = address.partition(":")[2]  # drop an obsolete source route
        name = _phrase(tokens[:opening], problems, header)
    else:
        chunks: list[str] = []
        glue = False
        for token in tokens:
            if token.kind in ("ws", "comment"):
                glue = False
                continue
            if glue:
                chunks[-1] += token.raw
            else:
                chunks.append(token.raw)
            glue = True
        comments = [t.value for t in tokens if t.kind == "comment" and t.value.strip()]
        name = _decode_words(" ".join(comments[0].split()), problems, header) if comments else ""
        if len(chunks) == 1:
            address = chunks[0]
        elif not any("@" in c for c in chunks):
            problems.append(f"header {header!r}: no address in {' '.join(chunks)!r}")
            return [Address(_decode_words(" ".join(chunks), problems, header), "")]
        elif all(c.count("@") == 1 and _ADDR_SPEC.match(c) for c in chunks):
            problems.append(f"header {header!r}: addresses separated by spaces, not commas")
            return [Address("", _unicode_domain(c)) for c in chunks]
        elif "@" in chunks[-1] and not any("@" in c for c in chunks[:-1]):
            problems.append(f"header {header!r}: address without angle brackets after a name")
            name = _decode_words(" ".join(chunks[:-1]), problems, header)
            address = chunks[-1]
        else:
            address = "".join(chunks)
    if not name and not address:
        return []  # "<>", the null sender, names nobody
    # A bare local part ("root") is how local mail is often addressed: not worth a defect.
    if "@" in address and '"' not in address and not _ADDR_SPEC.match(address):
        problems.append(f"header {header!r}: invalid address {address!r}")
    return [Address(name, _unicode_domain(address))]


def _phrase(tokens: list[_Token], problems: list[str], header: str) -> str:
    words: list[str] = []
    for token in tokens:
        if token.kind == "comment":
            continue
        if token.kind == "ws":
            words.append(" ")
        elif token.kind == "quoted":
            words.append(token.value)
        elif token.raw != '"':
            words.append(token.raw)
    name = _decode_words(" ".join("".join(words).split()), problems, header)
    if len(name) > 1 and name[0] == name[-1] == "'":
        name = name[1:-1]  # Outlook's 'Name' <addr>
    return name.strip()


def _unicode_domain(address: str) -> str:
    local, at, domain = address.rpartition("@")
    if not at or "xn--" not in domain.lower():
        return address
    labels = []
    for label in domain.split("."):
        if label.lower().startswith("xn--"):
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                pass
        labels.append(label)
    return f"{local}@{'.'.join(labels)}"


# --- snippet ------------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    """Visible text of an HTML document, enough of it for a snippet."""

    _HIDDEN = frozenset({"script", "style", "title", "template"})
    # Anything else in <head> ends it, as in browsers: mail often never closes it.
    _HEAD_CONTENT = frozenset({"meta", "link", "base", "noscript"}) | _HIDDEN

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.hidden = 0
        self.in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self.in_head = True
        elif tag in self._HIDDEN:
            self.hidden += 1
        elif tag not in self._HEAD_CONTENT:
            self.in_head = False
        self.chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False
        elif tag in self._HIDDEN and self.hidden:
            self.hidden -= 1
        self.chunks.append(" ")

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.in_head and data.strip():
            self.in_head = False
        if not self.in_head:
            self.chunks.append(data)


def _collapse(text: str, limit: int) -> str:
    words: list[str] = []
    size = 0
    for match in re.finditer(r"\S+", text):
        words.append(match.group())
        size += len(match.group()) + 1
        if size > limit:
            break
    return " ".join(words)[:limit].rstrip()


def html_text(html: str, limit: int | None = None) -> str:
    """The visible text of an HTML document, whitespace collapsed; ``limit`` stops early."""
    extractor = _TextExtractor()
    try:
        for start in range(0, len(html), 8192):
            extractor.feed(html[start : start + 8192])
            if limit is not None and len(_collapse("".join(extractor.chunks), limit)) >= limit:
                break
    except Exception:  # HTMLParser has asserted on hostile markup in the past
        pass
    return _collapse("".join(extractor.chunks), limit if limit is not None else len(html) + 1)


def _snippet(text: str | None, html: str | None) -> str:
    if text is not None and text.strip():
        return _collapse(text, SNIPPET_LENGTH)
    if not html:
        return ""
    return html_text(html, SNIPPET_LENGTH)


# --- when all else fails ------------------------------------------------------------------


def _model(
    root: _Node,
    hint: str | None,
    text: str | None,
    html: str | None,
    parts: tuple[Part, ...],
    defects: list[str],
) -> Parsed:
    headers, problems = _headers(root, hint)
    fields = _HeaderFields(headers, root, hint)
    sender = fields.addresses("from")
    to = fields.addresses("to")
    cc = fields.addresses("cc")
    bcc = fields.addresses("bcc")
    reply_to = fields.addresses("reply-to")
    date = fields.date()
    found = list(dict.fromkeys([*defects, *problems, *fields.problems]))
    if len(found) > MAX_DEFECTS:
        found[MAX_DEFECTS:] = [f"... and {len(found) - MAX_DEFECTS} more defects"]
    return Parsed(
        sender=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=reply_to,
        subject=fields.first("subject") or "",
        date=date,
        date_raw=fields.first("date"),
        message_id=_message_id(fields.first("message-id")),
        headers=headers,
        text=text,
        html=html,
        parts=parts,
        defects=tuple(found),
        snippet=_snippet(text, html),
    )


def _fallback(raw: bytes, exc: Exception) -> Parsed:
    defect = f"message structure could not be parsed ({type(exc).__name__}); headers only"
    try:
        return _model(_parse_tree(raw, headers_only=True), None, None, None, (), [defect])
    except Exception:  # not even the headers: an empty model that still says why
        return Parsed((), (), (), (), (), "", None, None, None, (), None, None, (), (defect,), "")


# -- the stored record --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Envelope:
    """What the SMTP client said in MAIL FROM and RCPT TO (Bcc recipients show only here)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Delivery:
    """Facts about the SMTP session that delivered a message."""

    client_address: str
    helo: str
    tls: bool
    auth_user: str | None


@dataclass(frozen=True, slots=True)
class Summary:
    """What a list shows of a message: small, so it is kept once built."""

    sender: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    snippet: str
    attachments: int
    defects: int

    @classmethod
    def of(cls, parsed: Parsed) -> Summary:
        return cls(
            sender=parsed.sender,
            to=parsed.to,
            cc=parsed.cc,
            subject=parsed.subject,
            snippet=parsed.snippet,
            attachments=sum(1 for p in parsed.parts if p.is_attachment),
            defects=len(parsed.defects),
        )


@dataclass(frozen=True, slots=True)
class SearchText:
    """Lower-cased text of a message for the store's filters, built once."""

    sender: str
    recipients: str
    subject: str
    everything: str

    @classmethod
    def of(cls, envelope: Envelope, parsed: Parsed) -> SearchText:
        sender = " ".join((envelope.mail_from, addresses_text(parsed.sender))).lower()
        recipients = " ".join(
            (
                " ".join(envelope.rcpt_tos),
                addresses_text(parsed.to),
                addresses_text(parsed.cc),
                addresses_text(parsed.bcc),
            )
        ).lower()
        subject = parsed.subject.lower()
        names = " ".join(p.filename for p in parsed.parts if p.filename)
        body = parsed.text if parsed.text is not None else html_text(parsed.html or "")
        everything = "\n".join((subject, sender, recipients, names.lower(), body.lower()))
        return cls(sender, recipients, subject, everything)


# Full models kept for the messages read most recently (a person opening one reads it
# several times: detail, HTML, parts); the rest are rebuilt from the raw bytes on demand.
PARSED_CACHE_SIZE = 64


@dataclass(frozen=True, slots=True, eq=False)
class Message:
    """One captured message: the exact bytes received plus the SMTP facts.

    Nothing is parsed on arrival, so the SMTP intake path stays as short as a bare
    sink's. The first list or search that needs a message parses it once and keeps only
    its ``summary`` and ``search`` text; the full model (``parsed``, which repeats the
    bodies and headers) is rebuilt from ``raw`` when asked for, with the most recent ones
    cached. Values are immutable, so all of it is safe to share between threads.
    """

    id: int
    raw: bytes
    received_at: datetime
    envelope: Envelope
    delivery: Delivery
    _summary: Summary | None = field(default=None, repr=False)
    _search: SearchText | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def parsed(self) -> Parsed:
        return _parse_message(self)

    @property
    def indexed(self) -> bool:
        """Whether ``summary`` and ``search`` are built already."""
        return self._search is not None

    @property
    def summary(self) -> Summary:
        return self._summary or self._index()[0]

    @property
    def search(self) -> SearchText:
        return self._search or self._index()[1]

    def _index(self) -> tuple[Summary, SearchText]:
        # Two threads may do this at once for one message; both build equal values.
        parsed = self.parsed
        summary, search = Summary.of(parsed), SearchText.of(self.envelope, parsed)
        object.__setattr__(self, "_summary", summary)
        object.__setattr__(self, "_search", search)
        return summary, search


@lru_cache(maxsize=PARSED_CACHE_SIZE)
def _parse_message(message: Message) -> Parsed:
    return parse(message.raw)
