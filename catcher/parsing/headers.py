"""Top-level header values decoded to text, and typed views of the common ones."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import utils

from catcher.parsing.addresses import Address, parse_addresses
from catcher.parsing.charsets import bytes_to_text, decode_words


def _unfold(value: str) -> str:
    # Removing every CR and LF is what removing each line break (CRLF, CR or LF) does.
    if "\r" in value or "\n" in value:
        return value.replace("\r", "").replace("\n", "")
    return value


def header_text(value: str, name: str, problems: list[str], hint: str | None = None) -> str:
    """One header value as text: unfolded, 8-bit bytes and encoded-words decoded."""
    text, used = bytes_to_text(_unfold(value), hint)
    return _words(text, used, name, problems)


def _words(text: str, used: str | None, name: str, problems: list[str]) -> str:
    if used:
        problems.append(f"header {name!r} is not UTF-8; decoded as {used}")
    text = decode_words(text, problems, name)
    if "\x00" in text:
        problems.append(f"NUL byte in header {name!r}")
        text = text.replace("\x00", "")
    return text.strip()


RawItems = list[tuple[str, str]]
"""Header names and values as the parser read them (8-bit bytes surrogate-escaped)."""

_ADDRESS_FIELDS = frozenset({"from", "to", "cc", "bcc", "reply-to"})


class HeaderFields:
    """The top-level headers decoded once, and typed views of them.

    ``headers`` holds every field decoded to text, in order; ``problems`` what decoding
    them found, then what the typed views found, in the order they were asked for.
    """

    def __init__(self, items: RawItems, hint: str | None) -> None:
        self.problems: list[str] = []
        headers = []
        self._first: dict[str, str] = {}
        # Address fields are parsed from their text before encoded-words are decoded: a
        # decoded word may hold the commas and brackets that separate addresses.
        self._addresses: dict[str, list[tuple[str, str]]] = {}
        for key, value in items:
            name = bytes_to_text(key)[0].strip()
            lowered = name.lower()
            text, used = bytes_to_text(_unfold(value), hint)
            if lowered in _ADDRESS_FIELDS:
                self._addresses.setdefault(lowered, []).append((name, text))
            decoded = _words(text, used, name, self.problems)
            headers.append((name, decoded))
            self._first.setdefault(lowered, decoded)
        self.headers = tuple(headers)

    def first(self, name: str) -> str | None:
        return self._first.get(name)

    def addresses(self, name: str) -> tuple[Address, ...]:
        out: list[Address] = []
        for key, text in self._addresses.get(name, ()):
            out.extend(parse_addresses(text, key, self.problems))
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


def parse_message_id(value: str | None) -> str | None:
    if not value:
        return None
    match = re.search(r"<([^<>]*)>", value)
    mid = (match.group(1) if match else value).strip()
    return mid or None
