"""The mail the peer-API tests send (tests/peers/mail/*.eml, CRLF line ends): plain UTF-8
quoted-printable, HTML with an attachment and an inline image, To/Cc/Reply-To with an
envelope-only Bcc, and an RFC 2047 subject; with the envelope each is sent with."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).parent / "mail"
# The inline image and the attachment of rich.eml, decoded.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cfc0f01f0005fe02fea73581e40000000049454e44ae426082"
)
REPORT = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) + b"\n%%EOF\n"
PLAIN_TEXT = "Hallo Bob,\nGrüße aus der Küche: 5 € Rabatt mit Code 428913.\n"


@dataclass(frozen=True)
class Sent:
    file: str
    subject: str
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()  # envelope only: no header names them

    @property
    def rcpts(self) -> tuple[str, ...]:
        return self.to + self.cc + self.bcc


PLAIN = Sent("plain.eml", "Plain quoted-printable", "alice@shop.test", ("bob@example.com",))
RICH = Sent("rich.eml", "Rich HTML with files", "news@shop.test", ("carol@example.com",))
COPIES = Sent(
    "copies.eml",
    "Copies for the team",
    "boss@shop.test",
    ("dave@example.com", "erin@example.com"),
    ("frank@example.com",),
    ("grace@hidden.test",),
)
ENCODED = Sent(
    "encoded.eml", "Grüße aus Köln – Bestellung 7€", "kunde@laden.test", ("heidi@example.com",)
)
ALL = (PLAIN, RICH, COPIES, ENCODED)


def build(sent: Sent) -> bytes:
    """The message's bytes, as sent."""
    return (FOLDER / sent.file).read_bytes()


def send_all(host: str, port: int) -> None:
    with smtplib.SMTP(host, port) as smtp:
        for sent in ALL:
            smtp.sendmail(sent.sender, list(sent.rcpts), build(sent))
