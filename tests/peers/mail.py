"""The mail the peer-API tests send: plain UTF-8 quoted-printable, HTML with an attachment
and an inline image, To/Cc with an envelope-only Bcc, and an RFC 2047 subject."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from functools import cache

# A 1x1 PNG, and a small PDF-ish attachment with bytes that are not text.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cfc0f01f0005fe02fea73581e40000000049454e44ae426082"
)
REPORT = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) + b"\n%%EOF\n"
SUBJECT_2047 = "Grüße aus Köln – Bestellung 7€"


@dataclass(frozen=True)
class Sent:
    subject: str
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]  # envelope only: no header names them

    @property
    def rcpts(self) -> tuple[str, ...]:
        return self.to + self.cc + self.bcc


PLAIN = Sent("Plain quoted-printable", "alice@shop.test", ("bob@example.com",), (), ())
RICH = Sent("Rich HTML with files", "news@shop.test", ("carol@example.com",), (), ())
COPIES = Sent(
    "Copies for the team",
    "boss@shop.test",
    ("dave@example.com", "erin@example.com"),
    ("frank@example.com",),
    ("grace@hidden.test",),
)
ENCODED = Sent(SUBJECT_2047, "kunde@laden.test", ("heidi@example.com",), (), ())
ALL = (PLAIN, RICH, COPIES, ENCODED)

PLAIN_TEXT = "Hallo Bob,\nGrüße aus der Küche: 5 € Rabatt mit Code 428913.\n"
RICH_HTML = (
    '<html><body><h1>Sale</h1><p>See <a href="https://shop.test/sale?t=9">the sale</a>.'
    '<img src="cid:logo@shop.test" alt="logo"></p></body></html>'
)


@cache
def build(sent: Sent) -> bytes:
    """The message's bytes (the same ones each time: its boundaries are random)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Sender Name <{sent.sender}>"
    msg["To"] = ", ".join(sent.to)
    if sent.cc:
        msg["Cc"] = ", ".join(sent.cc)
    msg["Subject"] = sent.subject
    msg["Message-ID"] = f"<m{ALL.index(sent) + 1}@shop.test>"
    msg["Date"] = "Tue, 01 Dec 2026 13:24:33 +0000"
    if sent is RICH:
        msg.set_content("Sale: see https://shop.test/sale?t=9\n")
        msg.add_alternative(RICH_HTML, subtype="html")
        html = msg.get_body(("html",))
        assert html is not None
        html.add_related(PIXEL, "image", "png", cid="<logo@shop.test>", filename="logo.png")
        msg.add_attachment(REPORT, "application", "pdf", filename="report.pdf")
    elif sent is PLAIN:
        msg.set_content(PLAIN_TEXT, cte="quoted-printable")
    else:
        msg.set_content(f"Body of {sent.subject}\n")
    return msg.as_bytes()


def send_all(host: str, port: int) -> None:
    with smtplib.SMTP(host, port) as smtp:
        for sent in ALL:
            smtp.sendmail(sent.sender, list(sent.rcpts), build(sent))
