"""The stored record of one message, and the small values derived from it for lists and search."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from catcher.parsing import Address, Parsed, addresses_text, html_text

__all__ = ["Delivery", "Envelope", "Message", "SearchText", "Summary"]


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
