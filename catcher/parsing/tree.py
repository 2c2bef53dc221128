"""The MIME tree: header fields split and unfolded, multipart bodies split on their boundaries.

It reads a message as the standard library's compat32 parser does (the same header values,
parts, payloads and defects) but finds header blocks with a regular expression and boundary
lines with ``bytes.find`` instead of feeding a state machine line by line, so each step is
linear in the input. Attached messages (message/*) stay opaque: they are parsed on their
own from their decoded bytes. Header values are strings holding the raw bytes
surrogate-escaped, as compat32 gives them.
"""

from __future__ import annotations

import re
from email import utils

# Multiparts nested deeper than this are kept whole, as text: real mail nests a handful.
MAX_NESTING = 64
# A message is split into at most this many parts; what follows is kept, unsplit, in the
# last one (real mail has tens; a hostile message can hold a million empty ones).
MAX_PARTS = 10_000

# The texts of the problems the splitter finds (compat32 names them with defect classes).
NO_BOUNDARY = "multipart without a boundary parameter"
START_NOT_FOUND = "multipart boundary never found in the body"
CLOSE_NOT_FOUND = "missing closing boundary"
FIRST_CONTINUATION = "first header line is a continuation line"
MISPLACED_FROM = "'From ' envelope line inside the headers"
NO_SEPARATOR = "a header line without a colon ends the headers early"
NO_HEADER_NAME = "Missing header name."
MULTIPART_CTE = "multipart with a Content-Transfer-Encoding other than 7bit, 8bit or binary"
TOO_DEEP = f"multipart nested more than {MAX_NESTING} levels deep; kept as text"
TOO_MANY = f"more than {MAX_PARTS} parts; the rest kept unsplit in the last one"

Param = str | tuple[str | None, str | None, str]
"""A parameter's value: text, or (charset, language, text) when RFC 2231 encoded it."""


class Entity:
    """One MIME entity: its header fields as received, its body, and its parts if multipart."""

    __slots__ = (
        "items",
        "defects",
        "default_type",
        "depth",
        "children",
        "_buf",
        "_start",
        "_end",
        "_lead",
        "_strip",
        "_first",
        "_params",
    )

    def __init__(
        self, items: list[tuple[str, str]], defects: list[str], default_type: str, depth: int
    ) -> None:
        self.items = items
        self.defects = defects
        self.default_type = default_type
        self.depth = depth
        self.children: list[Entity] | None = None
        self._buf = b""
        self._start = self._end = 0
        self._lead = b""
        self._strip = False
        self._first: dict[str, str] | None = None
        self._params: dict[str, list[tuple[str, Param]] | None] = {}

    def raw_items(self) -> list[tuple[str, str]]:
        return self.items

    def raw_header(self, name: str) -> str | None:
        """The first field with this (lower-case) name, as received."""
        first = self._first
        if first is None:
            if not self.items:
                return None
            first = {}
            for key, value in self.items:
                first.setdefault(key.lower(), value)
            self._first = first
        return first.get(name)

    def raw_body(self) -> bytes:
        """The body as received (a multipart's is empty; its parts hold it)."""
        if self.children is not None:
            return b""
        buf, start, end = self._buf, self._start, self._end
        if self._lead:
            buf, start, end = self._lead + buf[start:end], 0, len(self._lead) + end - start
        if self._strip and end > start and buf[end - 1] in b"\r\n":
            # RFC 2046: the line break before a boundary belongs to the boundary.
            end -= 2 if end - 2 >= start and buf[end - 2 : end] == b"\r\n" else 1
        return buf if start == 0 and end == len(buf) else buf[start:end]

    def is_multipart(self) -> bool:
        return self.children is not None

    def get_default_type(self) -> str:
        return self.default_type

    def get_param(self, name: str, header: str = "content-type") -> Param | None:
        """A parameter of a header, unquoted and RFC 2231 decoded, as compat32's get_param.

        Raises ValueError where compat32 raises (some hostile RFC 2231 continuations).
        """
        if header in self._params:
            params = self._params[header]
        else:
            value = self.raw_header(header)
            if value is None:
                return None
            params = self._params[header] = _params_or_none(value)
        if params is None:
            raise ValueError(f"unreadable parameters in {header}")
        name = name.lower()
        for key, found in params:
            if key == name:
                return found
        return None

    def boundary(self) -> str | None:
        """The boundary parameter as compat32's get_boundary reads it, or None."""
        try:
            value = self.get_param("boundary")
            if value is None:
                return None
            return str(utils.collapse_rfc2231_value(value)).rstrip()
        except Exception:  # raw 8-bit bytes in an RFC 2231 charset name: the stdlib raises
            return None


def parse_tree(raw: bytes, depth: int = 0, *, headers_only: bool = False) -> Entity:
    """Split a message into its MIME tree (``depth``: how deep the message is attached)."""
    if headers_only:
        items, defects, _, _ = _read_headers(raw, 0, len(raw))
        return Entity(items, defects, "text/plain", depth)
    return _entity(raw, 0, len(raw), depth, "text/plain", strip=False, parts=[MAX_PARTS])


# --- header fields ------------------------------------------------------------------------

# What compat32 takes for a header line: a field ("Name:", any printable name without a colon),
# a continuation (leading space or tab), or an mbox "From " line. The first other line ends
# the headers; a blank one is the separator and is dropped. (Runs of lines are matched a few
# hundred at a time: one regular expression repeated over a million lines costs more than
# linear time.)
_HEADER_START = re.compile(rb"From |[!-9;-~]*:|[\t ]")
_HEADER_LINES = re.compile(rb"(?:(?:From |[!-9;-~]*:|[\t ])[^\r\n]*(?:\r\n|\r|\n)){0,256}")
_LINE = re.compile(rb"[^\r\n]*")
_LINES = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?")
# The usual case, read in one go: only "Name: value" fields and their continuation lines,
# in the first 64 KB.
_CLEAN_WINDOW = 1 << 16
_CLEAN_BLOCK = re.compile(rb"(?:[!-9;-~]+:[^\r\n]*(?:\r\n|\r|\n)(?:[\t ][^\r\n]*(?:\r\n|\r|\n))*)*")
_FIELD = re.compile(rb"([!-9;-~]+):[ \t]*([^\r\n]*(?:(?:\r\n|\r|\n)[\t ][^\r\n]*)*)(?:\r\n|\r|\n)")


def _read_headers(
    buf: bytes, start: int, end: int
) -> tuple[list[tuple[str, str]], list[str], int, bytes]:
    """The fields of the header block at ``start``, its defects, where the body starts, and a
    line compat32 pushes back in front of the body (an mbox "From " line ending the headers)."""
    window = min(end, start + _CLEAN_WINDOW)
    clean = _CLEAN_BLOCK.match(buf, start, window)
    stop = clean.end() if clean else start
    # Clean up to a blank line or the end (and not cut short by the window, which could end
    # between the CR and LF of a line break).
    if stop == end or (stop < window and buf[stop] in b"\r\n"):
        items = [
            (name.decode("ascii"), value.decode("ascii", "surrogateescape"))
            for name, value in _FIELD.findall(buf, start, stop)
        ]
        return items, [], _after_line_break(buf, stop, end), b""
    return _read_headers_slowly(buf, start, end)


def _after_line_break(buf: bytes, pos: int, end: int) -> int:
    if pos >= end:
        return end
    return pos + 2 if buf.startswith(b"\r\n", pos, end) else pos + 1


def _read_headers_slowly(
    buf: bytes, start: int, end: int
) -> tuple[list[tuple[str, str]], list[str], int, bytes]:
    """compat32's header loop and ``_parse_headers``, with all their oddities."""
    stop = start
    while True:
        run = _HEADER_LINES.match(buf, stop, end)
        if run is None or run.end() == stop:
            break
        stop = run.end()
    defects: list[str] = []
    body = stop
    separated = False
    if stop < end:
        line_end = _LINE.match(buf, stop, end)
        rest = line_end.end() if line_end else stop
        if buf[stop] in b"\r\n":
            body = _after_line_break(buf, stop, end)
            separated = True
        elif rest == end and _HEADER_START.match(buf, stop, end):
            stop = body = end  # a last header line without a line break
        else:
            defects.append(NO_SEPARATOR)
    items: list[tuple[str, str]] = []
    name = b""
    value: list[bytes] = []
    lead = b""
    for match in _LINES.finditer(buf, start, stop):
        line = match.group()
        if not line:
            break  # the empty match at the end
        if line[0] in b" \t":
            if not name:
                _note(defects, FIRST_CONTINUATION)
            else:
                value.append(line)
            continue
        if name:
            items.append(_field(name, value))
            name = b""
        if line.startswith(b"From "):
            if match.start() == start:
                continue  # the mbox envelope line
            if match.end() == stop:
                # Probably the body's first line: compat32 pushes it back, after the blank
                # line it already dropped.
                if separated:
                    lead = line
                else:
                    body = stop - len(line)
                break
            _note(defects, MISPLACED_FROM)
            continue
        colon = line.find(b":")
        if colon == 0:
            _note(defects, NO_HEADER_NAME)
            continue
        name = line[:colon]
        value = [line[colon + 1 :].lstrip(b" \t")]
    if name:
        items.append(_field(name, value))
    return items, defects, body, lead


def _note(defects: list[str], defect: str) -> None:
    # compat32 notes one per line; each is reported once, and a header of a million bad
    # lines should not make a list of a million.
    if defect not in defects:
        defects.append(defect)


def _field(name: bytes, value: list[bytes]) -> tuple[str, str]:
    text = b"".join(value).rstrip(b"\r\n")
    return name.decode("ascii"), text.decode("ascii", "surrogateescape")


# --- bodies -------------------------------------------------------------------------------


def _entity(
    buf: bytes, start: int, end: int, depth: int, default: str, *, strip: bool, parts: list[int]
) -> Entity:
    """The entity in ``buf[start:end]``; ``parts`` holds how many more the message may
    be split into."""
    items, defects, body, lead = _read_headers(buf, start, end)
    entity = Entity(items, defects, default, depth)
    entity._buf = buf
    entity._start = body
    entity._end = end
    entity._lead = lead
    ctype = _structure_type(entity)
    if not ctype.startswith("multipart/"):
        entity._strip = strip
        return entity
    # A multipart that is not split keeps its body whole, trailing line break and all.
    if depth >= MAX_NESTING:
        defects.append(TOO_DEEP)
        return entity
    boundary = entity.boundary()
    if boundary is None:
        defects.append(NO_BOUNDARY)
        return entity
    cte = entity.raw_header("content-transfer-encoding")
    if cte is not None and cte.lower() not in ("7bit", "8bit", "binary"):
        defects.append(MULTIPART_CTE)
    delimiter = _delimiter(boundary)
    first = None if delimiter is None else _next_boundary(buf, delimiter, body, end)
    if first is None or first[2]:
        # No opening boundary line: compat32 keeps the lines before it (all of them, when
        # there is none) as the body, and drops the rest.
        defects.append(START_NOT_FOUND)
        if first is not None:
            entity._end = first[0]
        return entity
    assert delimiter is not None
    kind = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
    children: list[Entity] = []
    line = first
    while True:
        part = line[1]
        if parts[0] <= 1:
            defects.append(TOO_MANY)
            children.append(_entity(buf, part, end, MAX_NESTING, kind, strip=False, parts=parts))
            break
        parts[0] -= 1
        after = _next_boundary(buf, delimiter, part, end)
        while after is not None and after[0] == part:
            # compat32 skips boundary lines that follow a boundary line, closing ones too.
            part = after[1]
            after = _next_boundary(buf, delimiter, part, end)
        stop = end if after is None else after[0]
        children.append(_entity(buf, part, stop, depth + 1, kind, strip=True, parts=parts))
        if after is None:
            defects.append(CLOSE_NOT_FOUND)
            break
        if after[2]:
            break
        line = after
    entity.children = children
    return entity


def _structure_type(entity: Entity) -> str:
    """The content type as compat32 reads it to decide whether to split a body."""
    value = entity.raw_header("content-type")
    if value is None:
        return entity.default_type
    ctype = value.partition(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


def _delimiter(boundary: str) -> bytes | None:
    try:
        delimiter = b"--" + boundary.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # characters no line of raw bytes can hold
        return None
    return None if b"\r" in delimiter or b"\n" in delimiter else delimiter


# After "--boundary": "--" when it closes, blanks, and the line break (or the end).
_TAIL = re.compile(rb"(--)?[ \t]*(?:\r\n|\r|\n|\Z)")
_LINE_BREAK = re.compile(rb"[\r\n]")


def _next_boundary(
    buf: bytes, delimiter: bytes, pos: int, end: int
) -> tuple[int, int, bool] | None:
    """The first boundary line at or after ``pos`` (a line start) and before ``end``: where it
    starts, where its line break ends, and whether it is the closing one."""
    at = buf.find(delimiter, pos, end)
    while at >= 0:
        if at == pos or buf[at - 1] in b"\r\n":
            tail = _TAIL.match(buf, at + len(delimiter), end)
            if tail is not None:
                return at, tail.end(), tail.group(1) is not None
        # Go on from the next line: a line full of "--boundary" must not cost a find per copy.
        line_break = _LINE_BREAK.search(buf, at, end)
        if line_break is None:
            return None
        at = buf.find(delimiter, line_break.end(), end)
    return None


# --- parameters ---------------------------------------------------------------------------

_SEPARATORS = re.compile(r'[;"]')


def _params_or_none(value: str) -> list[tuple[str, Param]] | None:
    try:
        return _params(value)
    except Exception:  # compat32's get_param raises on these: sorting None with int, int("9"*5000)
        return None


def _params(value: str) -> list[tuple[str, Param]]:
    """A header's parameters as compat32's ``_get_params_preserve`` and ``get_param`` read
    them (the first item is the value before the first ';'), in one pass."""
    pairs = []
    for piece in _pieces(value):
        if "=" in piece:
            key, _, val = piece.partition("=")
            pairs.append((key.strip().lower(), val.strip()))
        else:
            pairs.append((piece.strip(), ""))
    if not any("*" in key for key, _ in pairs[1:]):
        return [(key.lower(), utils.unquote(val)) for key, val in pairs]
    out: list[tuple[str, Param]] = []
    for key, found in utils.decode_params(pairs):
        if isinstance(found, tuple):
            charset, language, text = found
            out.append((key.lower(), (charset, language, utils.unquote(text))))
        else:
            out.append((key.lower(), utils.unquote(found)))
    return out


def _pieces(value: str) -> list[str]:
    """``email.message._parseparam``'s split: at each ';' outside double quotes, where a quote
    preceded by a backslash does not count (linear, where the stdlib's is quadratic)."""
    if '"' not in value:
        return value.split(";")
    pieces = []
    start = 0
    quoted = False
    for match in _SEPARATORS.finditer(value):
        at = match.start()
        if match.group() == '"':
            if at == 0 or value[at - 1] != "\\":
                quoted = not quoted
        elif at == start or not quoted:
            pieces.append(value[start:at])
            start = at + 1
            quoted = False
    pieces.append(value[start:])
    return pieces
