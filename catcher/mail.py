"""Captured mail as tests see it: the ``Email`` value, the criteria that pick messages, and
the failure messages that say what was there instead.

Both the pytest ``mailbox`` (in this process) and ``catcher.Client`` (over HTTP) build
their results here, from the exact bytes received, so the two behave identically.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Protocol, TypedDict

from catcher.message import Message
from catcher.parsing import Address, Parsed, Reading, parse, part_contents, read_html
from catcher.store import Filter

__all__ = [
    "Attachment",
    "Criteria",
    "CriteriaArgs",
    "Email",
    "Headers",
    "MailAssertionError",
    "MailTimeout",
    "assert_no_lint",
    "describe",
    "listing",
]

# A failure message lists the mailbox; past this many messages only the newest are shown.
LISTED = 20
DEFAULT_CODE = r"\b\d{4,8}\b"


class MailAssertionError(AssertionError):
    """An expectation about sent mail did not hold; the message says what was there instead."""


class MailTimeout(MailAssertionError):
    """No matching message arrived in time."""


# --- which messages ------------------------------------------------------------------------


class CriteriaArgs(TypedDict, total=False):
    """The keyword arguments that pick messages, wherever messages are picked."""

    to: str | None
    sender: str | None
    subject: str | None
    text: str | None


@dataclass(frozen=True, slots=True)
class Criteria:
    """Which messages a test means: case-insensitive substrings of the recipients (envelope
    and headers), the sender and the subject; ``text`` needs each of its words somewhere
    in the message. They match exactly as the API's filters do."""

    to: str | None = None
    sender: str | None = None
    subject: str | None = None
    text: str | None = None

    @classmethod
    def of(cls, args: CriteriaArgs) -> Criteria:
        unknown = sorted(set(args) - set(CriteriaArgs.__annotations__))
        if unknown:
            known = ", ".join(CriteriaArgs.__annotations__)
            raise TypeError(f"unknown criterion {unknown[0]!r} (criteria are {known})")
        return cls(**args)

    def args(self) -> CriteriaArgs:
        """As keyword arguments again (only those given)."""
        given: CriteriaArgs = {}
        for name in ("to", "sender", "subject", "text"):
            value = getattr(self, name)
            if value:
                given[name] = value
        return given

    def filter(self, since: int | None = None) -> Filter:
        """The store filter for these criteria."""
        return Filter(self.to, self.sender, self.subject, self.text, since)

    def query(self) -> dict[str, str]:
        """The API's query parameters for these criteria."""
        given = {"to": self.to, "from": self.sender, "subject": self.subject, "q": self.text}
        return {name: value for name, value in given.items() if value}

    def __str__(self) -> str:
        """As the keyword arguments were written: ``to='a@b', subject='Welcome'``."""
        given = (
            ("to", self.to),
            ("sender", self.sender),
            ("subject", self.subject),
            ("text", self.text),
        )
        return ", ".join(f"{name}={value!r}" for name, value in given if value)


# --- one message ---------------------------------------------------------------------------


class Headers(Mapping[str, str]):
    """The top-level headers in order; ``headers["subject"]`` ignores case and gives the first.

    ``get_all(name)`` gives every value of a repeated header; ``fields`` every pair as sent.
    """

    def __init__(self, fields: Iterable[tuple[str, str]]) -> None:
        self.fields: tuple[tuple[str, str], ...] = tuple(fields)
        self._names: dict[str, str] = {}
        for name, _ in self.fields:
            self._names.setdefault(name.lower(), name)

    def __getitem__(self, name: str) -> str:
        wanted = name.lower()
        for key, value in self.fields:
            if key.lower() == wanted:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names.values())

    def __len__(self) -> int:
        return len(self._names)

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.fields if key.lower() == wanted]

    def __repr__(self) -> str:
        return f"Headers({list(self.fields)!r})"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a message, decoded to its bytes."""

    filename: str | None
    content_type: str
    content: bytes = field(repr=False)
    part_id: str = field(repr=False)
    content_id: str | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True, eq=True)
class Email:
    """One captured message, the same whether it came from the ``mailbox`` fixture or a ``Client``.

    Both build it from the exact bytes received, parsed by ``catcher.parsing.parse``, so
    every property below behaves identically in either. Addresses are plain strings;
    ``parsed`` has the full model (display names, dates, defects, every MIME part).
    """

    id: int
    raw: bytes = field(repr=False)
    received_at: datetime = field(repr=False)
    mail_from: str = field(repr=False)  # the envelope sender (MAIL FROM)
    rcpt_to: tuple[str, ...] = field(repr=False)  # the envelope recipients (RCPT TO), Bcc included
    parsed: Parsed = field(repr=False)

    @classmethod
    def from_message(cls, message: Message, parsed: Parsed | None = None) -> Email:
        """The email for a message in a local store (``parsed`` when already in hand)."""
        envelope = message.envelope
        return cls(
            message.id,
            message.raw,
            message.received_at,
            envelope.mail_from,
            envelope.rcpt_tos,
            parsed or parse(message.raw),
        )

    @classmethod
    def from_raw(
        cls,
        raw: bytes,
        *,
        id: int = 0,
        received_at: datetime | None = None,
        mail_from: str = "",
        rcpt_to: Sequence[str] = (),
    ) -> Email:
        """The email for raw message bytes, e.g. fetched from a catcher's API or an .eml file."""
        when = received_at or datetime.now(UTC)
        return cls(id, raw, when, mail_from, tuple(rcpt_to), parse(raw))

    # -- who and what

    @property
    def sender(self) -> str:
        """The address in the From header ("" when there is none)."""
        return self.parsed.sender[0].address if self.parsed.sender else ""

    @property
    def to(self) -> tuple[str, ...]:
        return _addresses(self.parsed.to)

    @property
    def cc(self) -> tuple[str, ...]:
        return _addresses(self.parsed.cc)

    @property
    def bcc(self) -> tuple[str, ...]:
        """Addresses in a Bcc header, which senders usually strip; see ``recipients``."""
        return _addresses(self.parsed.bcc)

    @property
    def reply_to(self) -> tuple[str, ...]:
        return _addresses(self.parsed.reply_to)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Everyone the message was delivered to (RCPT TO), Bcc recipients included."""
        return self.rcpt_to

    @property
    def subject(self) -> str:
        return self.parsed.subject

    @cached_property
    def text(self) -> str:
        """The plain-text body, lines ending in ``\\n`` ("" when the message has none)."""
        return _lines(self.parsed.text)

    @cached_property
    def html(self) -> str:
        """The HTML body, lines ending in ``\\n`` ("" when the message has none)."""
        return _lines(self.parsed.html)

    @property
    def message_id(self) -> str | None:
        return self.parsed.message_id

    @property
    def size(self) -> int:
        return len(self.raw)

    @cached_property
    def headers(self) -> Headers:
        return Headers(self.parsed.headers)

    @cached_property
    def attachments(self) -> tuple[Attachment, ...]:
        """Files attached to the message (not the bodies, not images the HTML shows inline)."""
        return tuple(
            Attachment(
                filename=part.filename,
                content_type=part.content_type,
                content=content,
                part_id=part.part_id,
                content_id=part.content_id,
            )
            for part, content in part_contents(self.raw)
            if part.is_attachment
        )

    # -- links and codes

    @cached_property
    def _html_reading(self) -> Reading:
        return read_html(self.html)

    @cached_property
    def links(self) -> tuple[str, ...]:
        """Links in the HTML (in order), then URLs in the text; each once, entities unescaped."""
        found = dict.fromkeys(self._html_reading.links)
        found.update(dict.fromkeys(_text_urls(self.text)))
        return tuple(found)

    def link(
        self, containing: str | None = None, *, pattern: str | re.Pattern[str] | None = None
    ) -> str:
        """The first link containing ``containing`` (ignoring case) or matching ``pattern``.

        With neither, the first link. Fails with the message's links when none fits.
        """
        __tracebackhide__ = True
        for url in self.links:
            if containing is not None and containing.lower() not in url.lower():
                continue
            if pattern is not None and re.search(pattern, url) is None:
                continue
            return url
        wanted = []
        if containing is not None:
            wanted.append(f"containing {containing!r}")
        if pattern is not None:
            wanted.append(f"matching {_pattern_text(pattern)}")
        listed = "\n".join(f"  {url}" for url in self.links) or "  (none)"
        raise MailAssertionError(
            f"no link {' and '.join(wanted) or 'at all'} in {describe(self)}\nits links:\n{listed}"
        )

    def code(self, pattern: str | re.Pattern[str] = DEFAULT_CODE) -> str:
        """The first match of ``pattern`` in the text body (else the HTML's visible text).

        For one-time codes: by default a run of 4 to 8 digits. When the pattern has a
        group, the first group is returned, e.g. ``code(r"code: (\\w+)")``.
        """
        __tracebackhide__ = True
        visible = self._html_reading.text
        for body in (self.text, visible):
            match = re.search(pattern, body)
            if match is not None:
                return match.group(1) if match.re.groups else match.group(0)
        sample = " ".join((self.text or visible).split())
        if len(sample) > 300:
            sample = sample[:300] + "..."
        raise MailAssertionError(
            f"no match for {_pattern_text(pattern)} in {describe(self)}\nits text: {sample!r}"
        )

    # -- will it work

    def check(self, platforms: str | Iterable[str] | None = "all") -> dict[str, Any]:
        """The report ``GET /api/messages/{id}/check`` gives, made here from the same bytes:
        client compatibility (narrowed by ``platforms``: ``"desktop"``, ``"mobile"``,
        ``"web"`` or platform names), lint findings (errors first) and every link."""
        from catcher.checks import check, platforms_of

        if platforms is None:
            platforms = "all"
        words = platforms.split(",") if isinstance(platforms, str) else platforms
        return {"id": self.id, **check(self.raw, self.parsed, platforms_of(words))}

    def lint(
        self, severity: str = "warning", *, ignore: str | Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """The lint findings at ``severity`` or worse (``error``, ``warning``, ``info``),
        leaving out the rules named in ``ignore``."""
        from catcher.checks import SEVERITIES

        if severity not in SEVERITIES:
            raise ValueError(f"severity: expected one of {', '.join(SEVERITIES)}, got {severity!r}")
        worst = SEVERITIES.index(severity)
        skipped = {ignore} if isinstance(ignore, str) else set(ignore)
        return [
            finding
            for finding in self.check()["findings"]
            if SEVERITIES.index(finding["severity"]) <= worst and finding["rule"] not in skipped
        ]

    def __repr__(self) -> str:
        return f"<Email {describe(self)}>"


def assert_no_lint(
    email: Email, severity: str = "error", *, ignore: str | Iterable[str] = ()
) -> None:
    """Fail, listing each finding with its line, when ``email`` has lint findings at
    ``severity`` or worse (rules in ``ignore`` left out): a gate for templates in CI."""
    __tracebackhide__ = True
    found = email.lint(severity, ignore=ignore)
    if not found:
        return
    lines = []
    for finding in found:
        where = f" (line {finding['line']})" if finding["line"] else ""
        lines.append(f"  {finding['severity']} {finding['rule']}{where}: {finding['message']}")
    count = f"{len(found)} lint finding{'s' if len(found) != 1 else ''}"
    raise MailAssertionError(
        f"{count} at {severity} or worse in {describe(email)}:\n" + "\n".join(lines)
    )


def _lines(body: str | None) -> str:
    # Mail travels with CRLF line ends; tests compare with Python strings, which use LF.
    return body.replace("\r\n", "\n") if body else ""


def _addresses(addrs: tuple[Address, ...]) -> tuple[str, ...]:
    return tuple(a.address for a in addrs if a.address)


def _pattern_text(pattern: str | re.Pattern[str]) -> str:
    return f"/{pattern.pattern if isinstance(pattern, re.Pattern) else pattern}/"


_TEXT_URL = re.compile(r"""\bhttps?://[^\s<>"'`]+""", re.IGNORECASE)
_TRAILING = ".,;:!?*'\""
_CLOSERS = {")": "(", "]": "[", "}": "{"}


def _text_urls(text: str) -> Iterator[str]:
    for match in _TEXT_URL.finditer(text):
        url = match.group()
        # Punctuation after a URL ends the sentence, not the URL; a closing bracket
        # belongs to the URL only when the URL opened it (Wikipedia-style paths).
        while url:
            last = url[-1]
            if last in _TRAILING:
                url = url[:-1]
            elif last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last]):
                url = url[:-1]
            else:
                break
        if "://" in url and not url.endswith("://"):
            yield url


# --- failure messages ----------------------------------------------------------------------


class Describable(Protocol):
    """What a one-line description needs: an ``Email``, or a list entry from the API."""

    @property
    def id(self) -> int: ...
    @property
    def sender(self) -> str: ...
    @property
    def mail_from(self) -> str: ...
    @property
    def recipients(self) -> tuple[str, ...]: ...
    @property
    def to(self) -> tuple[str, ...]: ...
    @property
    def subject(self) -> str: ...


def describe(email: Describable) -> str:
    """One line naming a message: ``#3 from a@example.com to b@example.com 'Subject'``."""
    recipients = email.recipients or email.to
    shown = ", ".join(recipients[:3]) + (
        f" (+{len(recipients) - 3})" if len(recipients) > 3 else ""
    )
    sender = email.sender or email.mail_from or "?"
    return f"#{email.id} from {sender} to {shown or '?'} {email.subject!r}"


def listing(
    emails: Sequence[Describable], heading: str = "the mailbox", total: int | None = None
) -> str:
    """What a failure message shows of a mailbox: a count, then the newest messages (the
    last of ``emails``); ``total`` when more are stored than ``emails`` holds."""
    count = len(emails) if total is None else total
    if not count:
        return f"{heading} is empty"
    lines = [f"{heading} holds {plural(count)}:"]
    shown = emails[-LISTED:]
    if count > len(shown):
        lines.append(f"  ... {count - len(shown)} older not shown")
    lines.extend(f"  {describe(e)}" for e in shown)
    return "\n".join(lines)


def plural(n: int) -> str:
    return f"{n} message{'s' if n != 1 else ''}"
