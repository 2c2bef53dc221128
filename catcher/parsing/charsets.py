"""Bytes to text: transfer encodings, charsets, raw 8-bit headers and RFC 2047 encoded-words."""

from __future__ import annotations

import binascii
import codecs
import re
from functools import lru_cache


def to_bytes(text: str) -> bytes:
    """Undo the parser's surrogateescape decoding to get the bytes as received."""
    try:
        return text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # non-ASCII text we produced ourselves, not the parser
        return text.encode("utf-8", "surrogateescape")


# --- transfer encodings -------------------------------------------------------------------

_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_B64_JUNK = bytes(b for b in range(256) if b not in _B64_ALPHABET)
_WHITESPACE = b" \t\r\n\f\v"
_SPACED = re.compile(rb"\S[ \t]+\S")


def b64decode(data: bytes) -> tuple[bytes, str | None]:
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


_B64_DATA = frozenset(_B64_ALPHABET[:-1])
_NOT_B64_DATA = bytes(b for b in range(256) if b not in _B64_DATA)


def b64size(data: bytes) -> tuple[int, str | None] | None:
    """The length ``b64decode(data)`` gives and the problem it reports, without decoding;
    None when only decoding can tell (padding inside the data, odd lengths)."""
    first_line = data[:4096].lstrip().split(b"\n", 1)[0].strip()
    if _SPACED.search(first_line):
        return None
    rest = data.translate(None, _B64_ALPHABET)  # the whitespace and junk, in order
    problem = "invalid characters in base64 data" if rest.translate(None, _WHITESPACE) else None
    last = _data_end(data)
    if data.find(b"=", 0, last) >= 0:
        return None
    # b64decode's fast path: a2b_base64 decodes the data and stops at the padding; one
    # character past a group of four is the one length it refuses.
    size = len(data) - len(rest)
    body = size - data.count(b"=", last)
    if size % 4 or body % 4 == 1:
        return None
    return body // 4 * 3 + (0, 0, 1, 2)[body % 4], problem


def _data_end(data: bytes) -> int:
    """Where the last base64 data character (not padding) ends, or 0."""
    size = 64
    while True:
        tail = data[-size:].rstrip(_NOT_B64_DATA)
        if tail or size >= len(data):
            return len(data) - min(size, len(data)) + len(tail)
        size *= 4


_QP_BAD_ESCAPE = re.compile(rb"=(?![0-9A-Fa-f]{2}|[ \t]*(?:\r\n|\n|\r|\Z))")


def qpdecode(data: bytes) -> tuple[bytes, str | None]:
    problem = "invalid quoted-printable escape" if _QP_BAD_ESCAPE.search(data) else None
    return binascii.a2b_qp(data), problem


def uudecode(data: bytes) -> tuple[bytes, str | None]:
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
JIS_CP932 = "iso-2022-jp as cp932"
_JIS = ("iso2022_jp_ext", JIS_CP932)
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
def codecs_for(label: str) -> tuple[str, ...] | None:
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
    if codec == JIS_CP932:
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


def decode_text(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode body or word bytes: declared charset, then UTF-8, then a lossy last resort."""
    if not charset:
        try:
            return data.decode("utf-8"), None
        except UnicodeDecodeError:
            return _latin(data), "8-bit text without a charset; decoded as windows-1252"
    chain = codecs_for(charset)
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


def bytes_to_text(value: str, hint: str | None = None) -> tuple[str, str | None]:
    """Header text from the parser's surrogate-escaped string, and the charset used when the
    raw bytes were not UTF-8 (RFC 6532): the one the message's text declares, else cp1252."""
    if value.isascii():
        return value, None
    data = to_bytes(value)
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    chain = codecs_for(hint) if hint else None
    if chain and hint:
        try:
            return _decode_with(data, chain[0]), hint
        except Exception:  # a wrong guess; fall through to the last resort
            pass
    return _latin(data), "windows-1252"


# --- RFC 2047 encoded-words ---------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?]*)\?=")


def decode_words(text: str, problems: list[str], header: str) -> str:
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
            decoded, problem = decode_text(bytes(pending), pending_charset or "unknown")
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
            data, problem = b64decode(encoded)
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
    chain = codecs_for(charset)
    if chain and chain[0] != JIS_CP932:
        try:
            return text.encode(chain[0])
        except (UnicodeError, LookupError):
            pass
    return text.encode("utf-8", "surrogateescape")
