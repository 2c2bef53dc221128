"""Captured mail as tests see it: the ``Email`` value and the ``Mailbox`` that waits and asserts."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from catcher.message import Address, Parsed, parse, part_content
from catcher.store import Filter

if TYPE_CHECKING:
    from catcher.message import Message
    from catcher.server import Catcher
    from catcher.store import MessageStore

__all__ = ["Attachment", "Email", "Headers", "MailAssertionError", "MailTimeout", "Mailbox"]

# A failure message lists the mailbox; past this many messages only the newest are shown.
LISTED = 20
DEFAULT_CODE = r"\b\d{4,8}\b"
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


class MailAssertionError(AssertionError):
    """An expectation about sent mail did not hold; the message says what was there instead."""


class MailTimeout(MailAssertionError):
    """No matching message arrived in time."""


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

    Both build it from the exact bytes received, parsed by ``catcher.message.parse``, so
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
    def from_message(cls, message: Message) -> Email:
        """The email for a message in a local store."""
        envelope = message.envelope
        return cls(
            message.id,
            message.raw,
            message.received_at,
            envelope.mail_from,
            envelope.rcpt_tos,
            message.parsed,
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
        found = []
        for part in self.parsed.parts:
            if not part.is_attachment:
                continue
            content = part_content(self.raw, part.part_id)
            found.append(
                Attachment(
                    filename=part.filename,
                    content_type=part.content_type,
                    content=content[1] if content is not None else b"",
                    part_id=part.part_id,
                    content_id=part.content_id,
                )
            )
        return tuple(found)

    # -- links and codes

    @cached_property
    def _html_reading(self) -> _HTMLReader:
        reader = _HTMLReader()
        try:
            reader.feed(self.html)
            reader.close()
        except Exception:  # HTMLParser has asserted on hostile markup; keep what was read
            pass
        return reader

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
        for body in (self.text, self._html_reading.visible_text):
            match = re.search(pattern, body)
            if match is not None:
                return match.group(1) if match.re.groups else match.group(0)
        sample = " ".join((self.text or self._html_reading.visible_text).split())
        if len(sample) > 300:
            sample = sample[:300] + "..."
        raise MailAssertionError(
            f"no match for {_pattern_text(pattern)} in {describe(self)}\nits text: {sample!r}"
        )

    def __repr__(self) -> str:
        return f"<Email {describe(self)}>"


def _lines(body: str | None) -> str:
    # Mail travels with CRLF line ends; tests compare with Python strings, which use LF.
    return body.replace("\r\n", "\n") if body else ""


def _addresses(addrs: tuple[Address, ...]) -> tuple[str, ...]:
    return tuple(a.address for a in addrs if a.address)


def _pattern_text(pattern: str | re.Pattern[str]) -> str:
    return f"/{pattern.pattern if isinstance(pattern, re.Pattern) else pattern}/"


class _HTMLReader(HTMLParser):
    """Link targets and visible text of an HTML body (attribute entities come unescaped)."""

    _HIDDEN = frozenset({"script", "style", "title", "head", "template"})
    # Block elements break lines; inline ones (b, span) join text as a browser shows it,
    # so a code styled digit by digit still reads as one word.
    _BLOCKS = frozenset(
        {"address", "article", "blockquote", "br", "div", "dl", "dt", "dd", "footer", "form"}
        | {"h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre"}
        | {"section", "table", "tbody", "thead", "tfoot", "tr", "ul", "body", "html"}
    )
    _CELLS = frozenset({"td", "th"})
    # Targets that are not somewhere to go: same-page anchors, embedded parts, script.
    _NOT_LINKS = ("#", "cid:", "data:", "javascript:", "vbscript:")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.chunks: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "area"):
            href = next((v for k, v in attrs if k == "href" and v), None)
            if href is not None:
                # Browsers drop surrounding blanks and any tab or line break inside.
                href = re.sub(r"[\t\r\n]", "", href.strip())
                if href and not href.lower().startswith(self._NOT_LINKS):
                    self.links.append(href)
        if tag in self._HIDDEN:
            self.hidden += 1
        self._gap(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "area"):
            self.handle_starttag(tag, attrs)
        else:
            self._gap(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self.hidden:
            self.hidden -= 1
        self._gap(tag)

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.chunks.append(data)

    def _gap(self, tag: str) -> None:
        if tag in self._BLOCKS:
            self.chunks.append("\n")
        elif tag in self._CELLS:
            self.chunks.append(" ")

    @property
    def visible_text(self) -> str:
        return "".join(self.chunks)


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


def describe(email: Email) -> str:
    """One line naming a message: ``#3 from a@example.com to b@example.com 'Subject'``."""
    recipients = email.recipients or email.to
    shown = ", ".join(recipients[:3]) + (
        f" (+{len(recipients) - 3})" if len(recipients) > 3 else ""
    )
    sender = email.sender or email.mail_from or "?"
    return f"#{email.id} from {sender} to {shown or '?'} {email.subject!r}"


def listing(emails: Sequence[Email], heading: str = "the mailbox") -> str:
    """What a failure message shows of a mailbox: a count, then the newest messages."""
    if not emails:
        return f"{heading} is empty"
    count = f"{len(emails)} message{'s' if len(emails) != 1 else ''}"
    lines = [f"{heading} holds {count}:"]
    if len(emails) > LISTED:
        lines.append(f"  ... {len(emails) - LISTED} older not shown")
    lines.extend(f"  {describe(e)}" for e in emails[-LISTED:])
    return "\n".join(lines)


def criteria_text(flt: Filter) -> str:
    """The filter as its keyword arguments: ``to='a@b', subject='Welcome'``."""
    given = [
        (name, value)
        for name, value in (
            ("to", flt.to),
            ("sender", flt.sender),
            ("subject", flt.subject),
            ("text", flt.text),
        )
        if value
    ]
    return ", ".join(f"{name}={value!r}" for name, value in given)


def _count(n: int) -> str:
    return f"{n} message{'s' if n != 1 else ''}"


# --- the mailbox of one test ---------------------------------------------------------------


class Mailbox:
    """The mail a test's code has sent to a running catcher, with waits and assertions.

    Criteria (``to``, ``sender``, ``subject``, ``text``) match as the API's filters do:
    case-insensitive substrings of the recipients (envelope and headers), the sender,
    the subject; ``text`` needs each of its words somewhere in the message.
    """

    def __init__(self, catcher: Catcher) -> None:
        self.catcher = catcher
        self._emails: dict[int, Email] = {}
        self._waited: set[int] = set()

    @property
    def store(self) -> MessageStore:
        return self.catcher.store

    # -- where to send

    @property
    def smtp_host(self) -> str:
        host = self.catcher.smtp_host
        # A catcher listening on every address is reached on loopback.
        return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)

    @property
    def smtp_port(self) -> int:
        return self.catcher.smtp_port

    @property
    def smtp_url(self) -> str:
        host = f"[{self.smtp_host}]" if ":" in self.smtp_host else self.smtp_host
        return f"smtp://{host}:{self.smtp_port}"

    @property
    def url(self) -> str:
        """The web inbox (and the API under ``/api``)."""
        return self.catcher.url

    @property
    def django_settings(self) -> dict[str, object]:
        """Django settings that send through this catcher (set them with pytest-django's
        ``settings`` fixture, which otherwise leaves Django's in-memory backend in place)."""
        return {
            "EMAIL_BACKEND": SMTP_BACKEND,
            "EMAIL_HOST": self.smtp_host,
            "EMAIL_PORT": self.smtp_port,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
        }

    @property
    def flask_mail_config(self) -> dict[str, object]:
        """Flask-Mail (and Flask-Mailman) config that sends through this catcher, even when
        ``app.testing`` is on (Flask-Mail then suppresses sending unless told otherwise)."""
        return {
            "MAIL_SERVER": self.smtp_host,
            "MAIL_PORT": self.smtp_port,
            "MAIL_USE_TLS": False,
            "MAIL_USE_SSL": False,
            "MAIL_USERNAME": None,
            "MAIL_PASSWORD": None,
            "MAIL_SUPPRESS_SEND": False,
            "MAIL_BACKEND": "smtp",
        }

    # -- reading

    @property
    def messages(self) -> list[Email]:
        """Every message in the mailbox, in the order they arrived."""
        return self._query(Filter())

    def __len__(self) -> int:
        return len(self.store)

    def __iter__(self) -> Iterator[Email]:
        return iter(self.messages)

    def filter(
        self,
        *,
        to: str | None = None,
        sender: str | None = None,
        subject: str | None = None,
        text: str | None = None,
    ) -> list[Email]:
        """The messages that match, in the order they arrived."""
        return self._query(Filter(to=to, sender=sender, subject=subject, text=text))

    def clear(self) -> None:
        self.store.clear()
        self._waited.clear()

    # -- waiting and asserting

    def wait_for(
        self,
        *,
        to: str | None = None,
        sender: str | None = None,
        subject: str | None = None,
        text: str | None = None,
        timeout: float = 10.0,
    ) -> Email:
        """The oldest matching message no earlier ``wait_for`` returned, waiting for it to arrive.

        So consecutive waits walk through matching messages in arrival order. Fails with
        ``MailTimeout``, listing the mailbox, when none arrives within ``timeout`` seconds.
        """
        __tracebackhide__ = True
        flt = Filter(to=to, sender=sender, subject=subject, text=text)
        deadline = time.monotonic() + timeout
        cursor = 0
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            found = self.store.wait_for(replace(flt, since=cursor), timeout=remaining)
            if found is None:
                raise MailTimeout(self._timeout_text(flt, timeout))
            if found.id not in self._waited:
                self._waited.add(found.id)
                return self._email(found)
            cursor = found.id

    def assert_sent(
        self,
        *,
        to: str | None = None,
        sender: str | None = None,
        subject: str | None = None,
        text: str | None = None,
        count: int | None = None,
        timeout: float = 0.0,
    ) -> Email:
        """Assert a matching message was sent (exactly ``count`` of them, if given); the first.

        With a ``timeout``, mail sent in the background has that long to arrive.
        """
        __tracebackhide__ = True
        if count is not None and count < 1:
            raise ValueError(f"count: must be 1 or more, got {count}; use assert_not_sent()")
        flt = Filter(to=to, sender=sender, subject=subject, text=text)
        wanted = count or 1
        matches = self._settle(flt, lambda found: len(found) >= wanted, timeout)
        if not matches or (count is not None and len(matches) != count):
            what = criteria_text(flt)
            expected = f"{_count(count)}" if count is not None else "a message"
            got = f"{len(matches)} matched" if matches else "none was sent"
            lines = [f"expected {expected}{' ' + what if what else ''}, but {got}"]
            if matches:
                lines.append("the matches:")
                lines.extend(f"  {describe(e)}" for e in matches[-LISTED:])
            lines.append(listing(self.messages))
            raise MailAssertionError("\n".join(lines))
        return matches[0]

    def assert_not_sent(
        self,
        *,
        to: str | None = None,
        sender: str | None = None,
        subject: str | None = None,
        text: str | None = None,
    ) -> None:
        """Assert no matching message was sent (with no criteria: that the mailbox is empty)."""
        __tracebackhide__ = True
        flt = Filter(to=to, sender=sender, subject=subject, text=text)
        matches = self._query(flt)
        if matches:
            what = criteria_text(flt)
            raise MailAssertionError(
                f"expected no message{' ' + what if what else ''}, but {_count(len(matches))} "
                f"{'was' if len(matches) == 1 else 'were'} sent:\n"
                + "\n".join(f"  {describe(e)}" for e in matches[-LISTED:])
            )

    def describe(self) -> str:
        """The mailbox as failure messages show it."""
        return listing(self.messages)

    # -- internals

    def _email(self, message: Message) -> Email:
        email = self._emails.get(message.id)
        if email is None:
            email = self._emails[message.id] = Email.from_message(message)
        return email

    def _query(self, flt: Filter) -> list[Email]:
        page = self.store.query(flt, limit=sys.maxsize)
        return [self._email(m) for m in reversed(page.messages)]

    def _settle(
        self, flt: Filter, enough: Callable[[list[Email]], bool], timeout: float
    ) -> list[Email]:
        """The matches once ``enough`` says so or ``timeout`` passes, re-checking on arrivals."""
        deadline = time.monotonic() + timeout
        while True:
            # Read the newest id before matching, so an arrival in between wakes the wait.
            newest = self.store.latest()
            matches = self._query(flt)
            remaining = deadline - time.monotonic()
            if enough(matches) or remaining <= 0:
                return matches
            self.store.wait_for(Filter(since=newest.id if newest else 0), timeout=remaining)

    def _timeout_text(self, flt: Filter, timeout: float) -> str:
        what = criteria_text(flt)
        lines = [f"no message{' ' + what if what else ''} arrived within {timeout:g} s"]
        seen = [e for e in self._query(flt) if e.id in self._waited]
        if seen:
            lines.append(
                f"({_count(len(seen))} matched but {'was' if len(seen) == 1 else 'were'} "
                "already returned by an earlier wait_for)"
            )
        lines.append(listing(self.messages))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Mailbox {self.url} smtp={self.smtp_host}:{self.smtp_port} {_count(len(self))}>"
