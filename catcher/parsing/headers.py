"""Top-level header values decoded to text, and typed views of the common ones."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import utils

from catcher.parsing.addresses import Address, parse_addresses
from catcher.parsing.charsets import bytes_to_text, decode_words

_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def header_text(value: str, name: str, problems: list[str], hint: str | None = None) -> str:
    """One header value as text: unfolded, 8-bit bytes and encoded-words decoded."""
    text, used = bytes_to_text(_LINE_BREAKS.sub("", value), hint)
    if used:
        problems.append(f"header {name!r} is not UTF-8; decoded as {used}")
    text = decode_words(text, problems, name)
    if "\x00" in text:
        problems.append(f"NUL byte in header {name!r}")
        text = text.replace("\x00", "")
    return text.strip()


RawItems = list[tuple[str, str]]
"""Header names and values as the parser read them (8-bit bytes surrogate-escaped)."""


def decode_headers(
    items: RawItems, hint: str | None
) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """Every header decoded to text, in order, and the problems found on the way."""
    problems: list[str] = []
    out = []
    for name, value in items:
        name = bytes_to_text(name)[0].strip()
        out.append((name, header_text(value, name, problems, hint)))
    return tuple(out), problems


class HeaderFields:
    """Typed views of the top-level headers."""

    def __init__(
        self, headers: tuple[tuple[str, str], ...], items: RawItems, hint: str | None
    ) -> None:
        self.headers = headers
        self.items = items
        self.hint = hint
        self.problems: list[str] = []

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
