"""Search text as people type it, Mailpit's syntax: words, ``"quoted phrases"`` and
``field:value`` terms, any of them negated with a leading ``-`` or ``!``.

``from:`` ``to:`` ``cc:`` ``bcc:`` ``reply-to:`` ``addressed:`` ``subject:`` ``message-id:``
``tag:`` (a mailbox) match as case-folded substrings; ``is:read`` ``is:unread``
``has:attachment``; ``before:`` ``after:`` (inclusive) take a date (ISO 8601 or RFC 5322, in ``tz``
when it has no offset); ``larger:`` ``smaller:`` (exclusive) a size (``10kb``, ``1.5M``). Every
term must hold. Anything else, ``https://...`` included, is a word to find.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from catcher.filters import Filter, Term

__all__ = ["SearchError", "moment", "narrow", "parse", "timezone"]

# The prefixes that name a field, and the field each names.
_FIELDS = {
    "from": "from",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
    "reply-to": "reply-to",
    "addressed": "addressed",
    "subject": "subject",
    "message-id": "message-id",
    "tag": "mailbox",
    "mailbox": "mailbox",
}
_FLAGS = {
    ("is", "read"): Term("read"),
    ("is", "unread"): Term("read", negate=True),
    ("has", "attachment"): Term("attachment"),
    ("has", "attachments"): Term("attachment"),
    ("has", "inline"): Term("inline"),
    ("has", "inlines"): Term("inline"),
    ("is", "tagged"): Term("tagged"),
}
# A token: an optional negation, an optional prefix, then a quoted or a bare value.
_TOKEN = re.compile(r'([-!]?)(?:([A-Za-z][A-Za-z-]*):)?(?:"([^"]*)"?|(\S*))')
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]?)b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
MAX_TERMS = 64


class SearchError(ValueError):
    """A search that cannot be read: its message says which part and why."""


def timezone(name: str | None) -> tzinfo:
    """An IANA zone name (``Europe/Berlin``) as a tzinfo; UTC when none is given, or an
    unknown one (as Mailpit reads it)."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def parse(text: str, tz: tzinfo = UTC) -> list[Term]:
    """The terms of a search, in order; plain words and phrases are ``text`` terms. Text
    that holds no term (``-``, ``""``) is a word to find itself, never "everything"."""
    terms: list[Term] = []
    for match in _TOKEN.finditer(text):
        negation, prefix, quoted, bare = match.groups()
        value = quoted if quoted is not None else bare
        if not match.group(0) or (not value and prefix is None):
            continue
        negate = bool(negation)
        term = _term(prefix.lower() if prefix else None, value, negate, tz)
        if term is None:  # not a field we know: the token itself is a word to find
            word = match.group(0)[1:] if negate else match.group(0)
            term = Term("text", word.replace('"', ""), negate)
        if term.field == "text" and not str(term.value).strip():
            continue
        terms.append(term)
        if len(terms) > MAX_TERMS:
            raise SearchError(f"query: at most {MAX_TERMS} terms")
    if not terms and text.strip():
        terms.append(Term("text", text.strip()))
    return terms


def narrow(flt: Filter, terms: list[Term]) -> Filter:
    """``flt`` with the terms added: plain words join its free text and a field it does not
    set yet takes the first term for it (so the index answers them); the rest stay terms
    (a phrase does both: its words narrow the search, then the phrase is tested)."""
    text = [flt.text] if flt.text else []
    fields = {"from": flt.sender, "to": flt.to, "subject": flt.subject}
    rest: list[Term] = []
    for term in terms:
        if not term.negate and term.field == "text":
            text.append(str(term.value))
            if term.phrase is not None:
                rest.append(term)
        elif not term.negate and term.field in fields and fields[term.field] is None:
            fields[term.field] = str(term.value)
        else:
            rest.append(term)
    return replace(
        flt,
        text=" ".join(text) or None,
        sender=fields["from"],
        to=fields["to"],
        subject=fields["subject"],
        terms=flt.terms + tuple(rest),
    )


def _term(prefix: str | None, value: str, negate: bool, tz: tzinfo) -> Term | None:
    if prefix is None:
        return Term("text", value, negate)
    if prefix in _FIELDS:
        return Term(_FIELDS[prefix], value, negate) if value else None
    flag = _FLAGS.get((prefix, value.lower()))
    if flag is not None:
        return replace(flag, negate=flag.negate != negate)
    if prefix in ("before", "after"):
        return Term(prefix, moment(prefix, value, tz), negate)
    if prefix in ("larger", "smaller"):
        return Term(prefix, _size(prefix, value), negate)
    return None


def moment(prefix: str, value: str, tz: tzinfo = UTC) -> datetime:
    """A date or a time (ISO 8601 or RFC 5322); a date alone is its midnight in ``tz``.
    ``prefix`` names it in the error."""
    when: datetime | None = None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
    if when is None:
        raise SearchError(f"{prefix}: expected a date like 2026-12-01, got {value[:40]!r}")
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


def _size(prefix: str, value: str) -> int:
    match = _SIZE.fullmatch(value.strip()) if len(value) <= 40 else None
    if match is None:
        raise SearchError(f"{prefix}: expected a size like 10kb or 2M, got {value[:40]!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
