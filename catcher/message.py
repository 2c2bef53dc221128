"""The stored record of one message, and the small values derived from it for lists and search."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import datetime

from catcher.parsing import Address, Parsed, addresses_text, html_text, parse
from catcher.search import fold, signature

__all__ = ["Delivery", "Envelope", "Message", "SearchText", "Summary", "envelope_of", "index"]

# Subjects past this length are cut in lists (the message itself has the whole one).
SUBJECT_LENGTH = 1000
# Free-text search reads this many characters of a message's text (a hostile message
# cannot make its index large; addresses are searched whole, and counted against the cap).
SEARCH_TEXT_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the SMTP client said in MAIL FROM and RCPT TO (Bcc recipients show only here)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]


# An address SMTP takes in MAIL FROM and RCPT TO: something, an @, a domain.
_ENVELOPE_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]{1,64}@[^@\s<>()\[\],;:\"]{1,253}")


def envelope_of(parsed: Parsed) -> Envelope:
    """The envelope a message's own headers imply, for mail that arrives without one
    (an import, ``POST /api/messages``): its From, and its To, Cc and Bcc; addresses
    SMTP could not carry are left out. Read with catcher's linear address parser."""
    senders = [a.address for a in parsed.sender if _ENVELOPE_ADDRESS.fullmatch(a.address)]
    named = [*parsed.to, *parsed.cc, *parsed.bcc]
    recipients = [a.address for a in named if _ENVELOPE_ADDRESS.fullmatch(a.address)]
    return Envelope(senders[0] if senders else "", tuple(dict.fromkeys(recipients)))


@dataclass(frozen=True, slots=True)
class Delivery:
    """Facts about the SMTP session that delivered a message."""

    client_address: str
    helo: str
    tls: bool
    auth_user: str | None


@dataclass(frozen=True, slots=True, eq=False)
class Message:
    """One captured message: the exact bytes received plus the SMTP facts.

    Nothing is parsed on arrival, so the SMTP intake path stays as short as a bare
    sink's; the store derives a ``Summary`` and ``SearchText`` later and parses the
    whole message only when someone opens it.
    """

    id: int
    raw: bytes
    received_at: datetime
    envelope: Envelope
    delivery: Delivery

    @property
    def size(self) -> int:
        return len(self.raw)


# A list shows this many addresses of a field, and how many there are in all; the whole
# list is in the message itself (a header may name tens of thousands).
LISTED_ADDRESSES = 50
# A Message-ID is kept for lists and searches up to this length.
MESSAGE_ID_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class Summary:
    """What a list shows of a message: small and bounded, so it is kept once built."""

    sender: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    snippet: str
    attachments: int
    defects: int
    to_count: int
    cc_count: int
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    message_id: str
    inline: int

    @property
    def held_bytes(self) -> int:
        """About how much memory this holds (an address is two strings and a tuple)."""
        addresses = len(self.sender) + len(self.to) + len(self.cc) + len(self.bcc)
        addresses += len(self.reply_to)
        text = sys.getsizeof(self.subject) + sys.getsizeof(self.snippet)
        text += sys.getsizeof(self.message_id) if self.message_id else 0
        return 200 + text + addresses * 200

    @classmethod
    def of(cls, parsed: Parsed) -> Summary:
        return cls(
            sender=parsed.sender[:1],
            to=parsed.to[:LISTED_ADDRESSES],
            cc=parsed.cc[:LISTED_ADDRESSES],
            subject=parsed.subject[:SUBJECT_LENGTH],
            snippet=parsed.snippet,
            attachments=sum(1 for p in parsed.parts if p.is_attachment),
            defects=len(parsed.defects),
            to_count=len(parsed.to),
            cc_count=len(parsed.cc),
            bcc=parsed.bcc[:LISTED_ADDRESSES],
            reply_to=parsed.reply_to[:LISTED_ADDRESSES],
            message_id=(parsed.message_id or "")[:MESSAGE_ID_LENGTH],
            inline=sum(1 for p in parsed.parts if p.content_id and not p.is_attachment),
        )


@dataclass(frozen=True, slots=True)
class SearchText:
    """Case-folded text of a message for the store's filters, built once: ``everything``
    is each distinct word of the subject, addresses, attachment names and body text
    once, in the order they first appear, with the trigram ``signature`` that lets
    free-text search skip most messages."""

    sender: str
    recipients: str
    subject: str
    everything: str
    signature: int

    @classmethod
    def of(cls, envelope: Envelope, parsed: Parsed) -> SearchText:
        limit = SEARCH_TEXT_LIMIT
        sender = " ".join((envelope.mail_from, addresses_text(parsed.sender[:1])))
        recipients = " ".join(
            (
                " ".join(envelope.rcpt_tos),
                addresses_text(parsed.to),
                addresses_text(parsed.cc),
                addresses_text(parsed.bcc),
            )
        )
        subject = fold(parsed.subject[:limit])
        names = " ".join(p.filename for p in parsed.parts[:1000] if p.filename)[:limit]
        body = parsed.text[:limit] if parsed.text is not None else ""
        if not body.strip():  # (as the snippet: an empty text part leaves it to the HTML)
            body = html_text(parsed.html or "", limit)  # (reads a bounded prefix of markup)
        sender, recipients = fold(sender), fold(recipients)
        text = "\n".join((subject, sender, recipients, fold(names), fold(body)))
        # A query word holds no whitespace, so it is inside the text exactly when it is
        # inside one of its words: each distinct word once is all a search needs, in
        # less memory and less time to scan than the text.
        words = dict.fromkeys(text.split())
        return cls(sender, recipients, subject, " ".join(words), signature(words))

    @property
    def held_bytes(self) -> int:
        """About how much memory this holds."""
        texts = (self.sender, self.recipients, self.subject, self.everything, self.signature)
        return sum(map(sys.getsizeof, texts))


def index(raw: bytes, envelope: Envelope) -> tuple[Summary, SearchText]:
    """What lists and searches keep of a message, from its raw bytes."""
    parsed = parse(raw)
    return Summary.of(parsed), SearchText.of(envelope, parsed)
