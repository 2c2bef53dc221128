"""A message built from Mailpit's send request (``POST /api/v1/send``): real MIME, with
the envelope it is to be delivered with. Bcc recipients go in the envelope only.

Every field is checked before anything is built: an address must be one address, a
header one line, an attachment real base64 of a leaf type. Nothing a request holds can
add a header line of its own or change the envelope beyond the recipients it names.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from email.errors import MessageError
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

from catcher.message import Envelope

__all__ = ["FIELDS", "SendError", "compose"]

# The request's fields, by their lower-case names (Mailpit reads them in any case).
FIELDS = {
    name.lower(): name
    for name in (
        "From", "To", "Cc", "Bcc", "ReplyTo", "Subject", "Text", "HTML", "Attachments",
        "Headers", "Tags",
    )
}  # fmt: skip
# One address as a send request names it: no spaces, brackets, quotes, separators or
# line breaks (a name goes in "Name").
_EMAIL = re.compile(r"[^\s<>()\[\],;:\"\\@]{1,64}(?:@[^\s<>()\[\],;:\"\\@]{1,253})?")
_HEADER_NAME = re.compile(r"[!-9;-~]{1,76}")
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_CONTENT_TYPE = re.compile(rf"({_TOKEN})/({_TOKEN})")
# Headers the request's own fields set, and those that describe the MIME structure.
_OWN_HEADERS = frozenset(
    {
        "from", "to", "cc", "bcc", "reply-to", "subject", "mime-version", "content-type",
        "content-transfer-encoding", "content-disposition",
    }
)  # fmt: skip


class SendError(ValueError):
    """A send request that cannot be built: its message names the field and the problem."""


def compose(body: dict[str, Any], max_recipients: int) -> tuple[bytes, Envelope]:
    """The message a send request describes, as bytes, and its envelope."""
    try:
        return _compose(body, max_recipients)
    except SendError:
        raise
    except (MessageError, ValueError, TypeError) as exc:  # what the email package refuses
        raise SendError(f"the message cannot be built: {exc}") from None


def _compose(body: dict[str, Any], max_recipients: int) -> tuple[bytes, Envelope]:
    if body.get("From") is None:
        raise SendError("From: required")
    sender = _person(body["From"], "From")
    to, cc, reply_to = _people(body, "To"), _people(body, "Cc"), _people(body, "ReplyTo")
    bcc_given = body.get("Bcc") or []
    if not isinstance(bcc_given, list) or not all(isinstance(b, str) for b in bcc_given):
        raise SendError("Bcc: expected a list of email addresses")
    bcc = [_email(b, "Bcc") for b in bcc_given]
    if not to and not cc and not bcc:
        raise SendError("To, Cc or Bcc: at least one recipient is required")
    if len(to) + len(cc) + len(bcc) > max_recipients:
        raise SendError(f"To, Cc and Bcc: at most {max_recipients} recipients (--max-recipients)")
    extra = _extra_headers(body.get("Headers"))
    text, html = _text(body, "Text"), _text(body, "HTML")
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr(sender)
    for field, people in (("To", to), ("Cc", cc), ("Reply-To", reply_to)):
        if people:
            msg[field] = ", ".join(formataddr(p) for p in people)
    msg["Subject"] = _text(body, "Subject")
    given = {name.lower() for name, _ in extra}
    if "date" not in given:
        msg["Date"] = format_datetime(datetime.now(UTC))
    if "message-id" not in given:
        msg["Message-ID"] = make_msgid(domain="catcher")
    if text or not html:
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
    else:
        msg.set_content(html, subtype="html")
    attachments = body.get("Attachments") or []
    if not isinstance(attachments, list):
        raise SendError("Attachments: expected a list")
    for n, item in enumerate(attachments):
        _attach(msg, item, n)
    # The extra headers go in as given (the email package would rewrite a Date or a
    # Message-ID it cannot read), encoded when they are not ASCII.
    lines = b"".join(f"{name}: {_encoded(value)}\r\n".encode("ascii") for name, value in extra)
    recipients = tuple(p[1] for p in to + cc) + tuple(bcc)
    return lines + msg.as_bytes(), Envelope(sender[1], recipients)


def _person(value: object, field: str) -> tuple[str, str]:
    if not isinstance(value, dict) or not isinstance(value.get("Email"), str):
        raise SendError(f'{field}: expected {{"Email": "...", "Name": "..."}}')
    name = value.get("Name") or ""
    if not isinstance(name, str) or "\r" in name or "\n" in name:
        raise SendError(f"{field}: Name must be one line of text")
    return name, _email(value["Email"], field)


def _email(text: str, field: str) -> str:
    email = text.strip()
    if not _EMAIL.fullmatch(email):
        raise SendError(f"{field}: {email[:80]!r} is not an email address")
    return email


def _people(body: dict[str, Any], field: str) -> list[tuple[str, str]]:
    value = body.get(field) or []
    if not isinstance(value, list):
        raise SendError(f"{field}: expected a list")
    return [_person(v, field) for v in value]


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SendError(f"{field}: expected text")
    return value


def _extra_headers(given: object) -> list[tuple[str, str]]:
    if given is None:
        return []
    if not isinstance(given, dict):
        raise SendError('Headers: expected {"Name": "value"}')
    headers = []
    for name, value in given.items():
        if not _HEADER_NAME.fullmatch(name) or not isinstance(value, str):
            raise SendError(f"Headers: {str(name)[:40]!r} is not a header name with a text value")
        if name.lower() in _OWN_HEADERS:
            raise SendError(f"Headers: {name} is set by the request's own fields, not here")
        if any(c in value for c in "\r\n\x00\u2028\u2029\x85\x0b\x0c"):
            raise SendError(f"Headers: {name} holds a line break")
        headers.append((name, value))
    return headers


def _encoded(value: str) -> str:
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(linesep="\r\n")


def _attach(msg: EmailMessage, item: object, n: int) -> None:
    where = f"Attachments[{n}]"
    if not isinstance(item, dict) or not isinstance(item.get("Content"), str):
        raise SendError(f'{where}: expected {{"Content": base64, "Filename": "..."}}')
    content = item["Content"]
    if content.startswith("data:") and "," in content:  # a data: URL, as Mailpit takes it
        content = content.split(",", 1)[1]
    try:
        data = base64.b64decode("".join(content.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SendError(f"{where}: Content is not base64") from None
    filename = item.get("Filename") or ""
    ctype = item.get("ContentType") or "application/octet-stream"
    cid = item.get("ContentID") or ""
    if not all(isinstance(v, str) for v in (filename, ctype, cid)):
        raise SendError(f"{where}: Filename, ContentType and ContentID must be text")
    if any(c in filename for c in "\r\n\x00"):
        raise SendError(f"{where}: Filename holds a line break")
    found = _CONTENT_TYPE.fullmatch(ctype)
    if found is None or found.group(1).lower() in ("multipart", "message"):
        raise SendError(f"{where}: {ctype[:60]!r} is not the content type of a file")
    maintype, subtype = found.groups()
    options: dict[str, Any] = {"filename": filename or None}
    if cid:
        if not re.fullmatch(r"[!-;=?-~]{1,250}", cid):  # printable, no < > or spaces
            raise SendError(f"{where}: {cid[:60]!r} is not a content id")
        related = msg.get_body(("html",))
        if related is not None:
            related.add_related(data, maintype, subtype, cid=f"<{cid}>", **options)
            return
        options["cid"] = f"<{cid}>"
    msg.add_attachment(data, maintype, subtype, **options)
