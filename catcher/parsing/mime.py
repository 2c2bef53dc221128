"""The MIME tree of a message: its parts, which are the bodies, which are attachments.

``tree`` splits the message as the standard library's compat32 parser would; everything
that parser would decode (transfer encodings, charsets, header words) is decoded by
catcher's own code, which copes with more of the mail senders really send and says what
was wrong in ``defects``.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime

from catcher.parsing.addresses import Address
from catcher.parsing.charsets import (
    b64decode,
    b64size,
    bytes_to_text,
    codecs_for,
    decode_text,
    decode_words,
    qpdecode,
    to_bytes,
    uudecode,
)
from catcher.parsing.headers import HeaderFields, header_text, parse_message_id
from catcher.parsing.htmltext import snippet
from catcher.parsing.tree import Entity, parse_tree

# Attached messages inside attached messages: past this depth they are listed, not opened.
MAX_MESSAGE_DEPTH = 16
# A hostile message can carry thousands of defective parts; past this the list only says so.
MAX_DEFECTS = 100


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


def part_contents(raw: bytes) -> tuple[tuple[Part, bytes], ...]:
    """Every part with its decoded payload, from one walk over the message."""
    try:
        return tuple((_part(leaf), leaf.payload) for leaf in _Analysis(raw).leaves)
    except Exception:  # same promise as parse()
        return ()


def raw_headers(raw: bytes) -> list[tuple[str, str]]:
    """The message's header fields in order, as sent: encoded-words and folding kept,
    8-bit bytes read as UTF-8 (or replaced when they are not)."""
    try:
        items = parse_tree(raw, headers_only=True).items
    except Exception:  # same promise as parse()
        return []
    return [(name, to_bytes(value).decode("utf-8", "replace")) for name, value in items]


# --- the MIME tree ------------------------------------------------------------------------


@dataclass(slots=True)
class _Level:
    """One message in the tree: the top one, or one attached as message/rfc822."""

    root: Entity
    leaves: dict[int, _Leaf] = field(default_factory=dict)
    cids: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Leaf:
    node: Entity
    level: _Level
    part_id: str
    content_type: str
    charset: str | None
    filename: str | None
    content_id: str | None
    disposition: str
    encoded: bytes  # the body as received; ``payload`` is it decoded
    decoded: bytes | None  # None until someone needs it
    size: int
    related_member: bool
    is_message: bool
    inner: Entity | None = None
    alternative: bool = False  # a direct child of multipart/alternative
    body: bool = False

    @property
    def payload(self) -> bytes:
        if self.decoded is None:
            self.decoded = _decode(self.encoded, _cte(self.node))[0]
        return self.decoded


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
        self.root = parse_tree(raw)
        self.top = self._walk_message(self.root, "", "", 0)
        self.hint = _charset_hint(self.leaves)
        for leaf in self.leaves:
            leaf.filename = _filename(leaf.node, self.hint)
            if leaf.inner is not None and leaf.filename is None:
                subject = leaf.inner.raw_header("subject")
                text = header_text(subject, "subject", [], self.hint) if subject else ""
                leaf.filename = (_clean_filename(text) or "message") + ".eml"
        for level in self.levels:
            _choose_bodies(level)

    # -- the walk

    def _walk_message(self, msg: Entity, prefix: str, label: str, depth: int) -> _Level:
        level = _Level(msg)
        self.levels.append(level)
        self._node_defects(msg, label)
        if msg.is_multipart():
            self._walk_children(msg, prefix, level, depth)
        else:
            self._leaf(msg, prefix + "1", level, depth, related_member=False, root_label=label)
        return level

    def _walk_children(self, msg: Entity, prefix: str, level: _Level, depth: int) -> None:
        kids = msg.children or []
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
        node: Entity,
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
        encoded = node.raw_body()
        cte = _cte(node)
        decoded, size = self._payload(encoded, cte, where)
        if root_label is not None:
            if decoded is None:
                decoded = _decode(encoded, cte)[0]
            if not decoded.strip(b"\r\n"):
                return None  # a message without a body has no body part
        is_message = ctype in ("message/rfc822", "message/global")
        declared = _param(node, "charset")
        charset = (declared or "").strip().lower() or None
        if charset and ctype.startswith("text/") and codecs_for(charset) is None:
            self._defect(where, f"unknown charset {charset!r}")
        leaf = _Leaf(
            node=node,
            level=level,
            part_id=part_id,
            content_type=ctype,
            charset=None if is_message else charset,
            filename=None,
            content_id=_content_id(node.raw_header("content-id")),
            disposition=_disposition(node.raw_header("content-disposition")),
            encoded=encoded,
            decoded=decoded,
            size=size,
            related_member=related_member,
            is_message=is_message,
        )
        if ctype in _HTML_TYPES and not charset:
            leaf.charset = _sniff_html_charset(leaf.payload)
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
            leaf.inner = parse_tree(leaf.payload, leaf.node.depth + 1)
            self._walk_message(leaf.inner, leaf.part_id + ".", where, depth + 1)
        except Exception as exc:  # an unparseable attachment must not spoil the outer message
            self._defect(where, f"attached message could not be parsed ({type(exc).__name__})")

    def _payload(self, data: bytes, cte: str, where: str) -> tuple[bytes | None, int]:
        """The decoded body (None when its size is known without decoding) and its size."""
        if cte in ("", "7bit", "8bit", "binary"):
            return data, len(data)
        if cte in ("base64", "base-64"):
            measured = b64size(data)
            if measured is not None:
                # An attachment's size without decoding it: part_content decodes it if asked.
                size, problem = measured
                if problem:
                    self._defect(where, problem)
                return None, size
        decoded, problem = _decode(data, cte)
        if problem:
            self._defect(where, problem)
        return decoded, len(decoded)

    # -- bodies

    def parsed(self) -> Parsed:
        if self._result is None:
            text = html = None
            for leaf in self.top.leaves.values():
                if not leaf.body:
                    continue
                decoded, problem = decode_text(leaf.payload, leaf.charset)
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

    def _node_defects(self, node: Entity, where: str) -> None:
        for defect in node.defects:
            self._defect(where, defect)

    def _line_end_defects(self) -> None:
        crlf, bare_lf, bare_cr = _line_ends(self.raw)
        # Files stored with plain LF ends are normal; mixing is what breaks parsers (and
        # is how SMTP smuggling works), so only that is reported.
        if crlf and bare_lf:
            self._defect("", f"mixed line ends: {crlf} CRLF and {bare_lf} bare LF")
        if bare_cr:
            self._defect("", f"{bare_cr} bare CR characters (read as line ends)")


_NOT_LINE_END = bytes(b for b in range(256) if b not in b"\r\n")
_BARE_CR = re.compile(rb"\r[^\n]")


def _line_ends(raw: bytes) -> tuple[int, int, int]:
    """How many CRLF, bare LF and bare CR line ends ``raw`` has (bare LFs are counted only
    when there are CRs too)."""
    if b"\r" not in raw:
        return 0, 0, 0  # LF ends (or none): how files are stored
    ends = raw.translate(None, _NOT_LINE_END)
    cr = ends.count(b"\r")
    lf = len(ends) - cr
    if not raw.endswith(b"\r") and _BARE_CR.search(raw) is None:
        return cr, lf - cr, 0  # every CR starts a CRLF
    crlf = raw.count(b"\r\n")
    return crlf, lf - crlf, cr - crlf


def _cte(node: Entity) -> str:
    cte = (node.raw_header("content-transfer-encoding") or "").strip().lower()
    return _CTE_END.split(cte, maxsplit=1)[0].strip("\"'") if cte else ""


_CTE_END = re.compile(r"[\s;(]")


def _decode(data: bytes, cte: str) -> tuple[bytes, str | None]:
    """A body decoded from its transfer encoding, and what was wrong with it."""
    if cte in ("", "7bit", "8bit", "binary"):
        return data, None
    if cte in ("base64", "base-64"):
        return b64decode(data)
    if cte in ("quoted-printable", "quoted_printable"):
        return qpdecode(data)
    if cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        return uudecode(data)
    return data, f"unknown Content-Transfer-Encoding {cte!r}; kept as is"


def _part(leaf: _Leaf) -> Part:
    return Part(
        part_id=leaf.part_id,
        content_type=leaf.content_type,
        charset=leaf.charset,
        filename=leaf.filename,
        size=leaf.size,
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
            chain = codecs_for(leaf.charset)
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


def _choose(node: Entity, level: _Level) -> tuple[_Leaf | None, _Leaf | None]:
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
    kids = node.children or []
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


def _related_root(node: Entity, kids: list[Entity]) -> int:
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


# --- content headers ----------------------------------------------------------------------

_TOKEN_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_COMMENT = re.compile(r"\([^()]*\)")


def _content_type(node: Entity) -> tuple[str, bool]:
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
    node: Entity, name: str, header: str = "content-type", hint: str | None = None
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
        decoded, _ = decode_text(data, charset or None)
        return decoded
    return decode_words(bytes_to_text(value, hint)[0], [], "")


def _filename(node: Entity, hint: str | None) -> str | None:
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
    text = bytes_to_text("".join(value.split()))[0]
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


# --- when all else fails ------------------------------------------------------------------


def _model(
    root: Entity,
    hint: str | None,
    text: str | None,
    html: str | None,
    parts: tuple[Part, ...],
    defects: list[str],
) -> Parsed:
    fields = HeaderFields(root.raw_items(), hint)
    sender = fields.addresses("from")
    to = fields.addresses("to")
    cc = fields.addresses("cc")
    bcc = fields.addresses("bcc")
    reply_to = fields.addresses("reply-to")
    date = fields.date()
    found = list(dict.fromkeys([*defects, *fields.problems]))
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
        message_id=parse_message_id(fields.first("message-id")),
        headers=fields.headers,
        text=text,
        html=html,
        parts=parts,
        defects=tuple(found),
        snippet=snippet(text, html),
    )


def _fallback(raw: bytes, exc: Exception) -> Parsed:
    defect = f"message structure could not be parsed ({type(exc).__name__}); headers only"
    try:
        return _model(parse_tree(raw, headers_only=True), None, None, None, (), [defect])
    except Exception:  # not even the headers: an empty model that still says why
        return Parsed((), (), (), (), (), "", None, None, None, (), None, None, (), (defect,), "")
