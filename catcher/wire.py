"""What goes on the wire: messages as JSON (pure functions of their inputs) and JSON responses."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Response
from werkzeug.exceptions import HTTPException

from catcher.mailboxes import MailboxStats
from catcher.message import LISTED_ADDRESSES, Message, Summary
from catcher.parsing import Address, Parsed, Part
from catcher.preview import remote_resources

__all__ = [
    "address",
    "detail",
    "error",
    "headers",
    "http_error",
    "iso",
    "json_response",
    "part",
    "summary",
]

SNIPPET_LENGTH = 200


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def error(status: int, message: str) -> Response:
    """An error as the API answers every error: ``{"error": "what was wrong"}``."""
    return json_response({"error": message}, status)


def http_error(exc: HTTPException) -> Response:
    """An HTTP error as JSON, keeping headers such as ``Allow`` on a 405."""
    response = error(exc.code or 500, exc.description or exc.name)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def address(addr: Address) -> dict[str, str]:
    return {"name": addr.name, "address": addr.address}


def summary(
    message: Message, brief: Summary, *, read: bool, mailboxes: tuple[str, ...] = ()
) -> dict[str, Any]:
    """What a list shows: never a whole body."""
    return {
        "id": message.id,
        "received_at": iso(message.received_at),
        "envelope": {
            "mail_from": message.envelope.mail_from,
            "rcpt_to": list(message.envelope.rcpt_tos[:LISTED_ADDRESSES]),
            "rcpt_count": len(message.envelope.rcpt_tos),
        },
        "from": address(brief.sender[0]) if brief.sender else None,
        "to": [address(a) for a in brief.to],
        "to_count": brief.to_count,
        "cc": [address(a) for a in brief.cc],
        "cc_count": brief.cc_count,
        "subject": brief.subject,
        "size": message.size,
        "attachments": brief.attachments,
        "snippet": brief.snippet[:SNIPPET_LENGTH],
        "read": read,
        "defect_count": brief.defects,
        "mailboxes": list(mailboxes),
    }


def detail(
    message: Message,
    brief: Summary,
    parsed: Parsed,
    *,
    read: bool,
    mailboxes: tuple[str, ...] = (),
    base: str = "/api",
) -> dict[str, Any]:
    """The whole model; URLs start with ``base``, where the API is served."""
    delivery = message.delivery
    here = f"{base}/messages/{message.id}"
    envelope = message.envelope
    return {
        **summary(message, brief, read=read, mailboxes=mailboxes),
        # The summary's lists are cut short; the message has them whole.
        "envelope": {
            "mail_from": envelope.mail_from,
            "rcpt_to": list(envelope.rcpt_tos),
            "rcpt_count": len(envelope.rcpt_tos),
        },
        "to": [address(a) for a in parsed.to],
        "cc": [address(a) for a in parsed.cc],
        "subject": parsed.subject,
        "smtp": {
            "client_address": delivery.client_address,
            "helo": delivery.helo,
            "tls": delivery.tls,
            "auth_user": delivery.auth_user,
        },
        "from_all": [address(a) for a in parsed.sender],
        "bcc": [address(a) for a in parsed.bcc],
        "reply_to": [address(a) for a in parsed.reply_to],
        "date": iso(parsed.date),
        "date_raw": parsed.date_raw,
        "message_id": parsed.message_id,
        "headers": headers(parsed),
        "text": parsed.text,
        "html": parsed.html,
        "remote_resources": remote_resources(parsed.html),
        "parts": [part(message.id, p, base=base) for p in parsed.parts],
        "defects": list(parsed.defects),
        "urls": {
            "raw": f"{here}/raw",
            "html": f"{here}/html" if parsed.html is not None else None,
            "text": f"{here}/text" if parsed.text is not None else None,
            "source": f"{here}/raw?download=1",
        },
    }


def headers(parsed: Parsed) -> list[dict[str, str]]:
    """Every header in order, repeats kept."""
    return [{"name": n, "value": v} for n, v in parsed.headers]


def part(message_id: int, found: Part, *, base: str = "/api") -> dict[str, Any]:
    return {
        "part_id": found.part_id,
        "content_type": found.content_type,
        "charset": found.charset,
        "filename": found.filename,
        "size": found.size,
        "content_id": found.content_id,
        "disposition": found.disposition,
        "is_attachment": found.is_attachment,
        "url": f"{base}/messages/{message_id}/parts/{found.part_id}",
    }


def mailbox(found: MailboxStats, *, plus_tags: bool = True) -> dict[str, Any]:
    """A mailbox: its counts and how mail is routed to it (never its password)."""
    box = found.box
    return {
        "name": box.name,
        "messages": found.count,
        "unread": found.unread,
        "bytes": found.bytes,
        "evicted": found.evicted,
        "created": iso(box.created),
        "routing": {
            "origin": box.origin,
            "recipients": list(box.recipients),
            "smtp_user": box.smtp_user,
            "plus_tag": f"+{box.name}@" if plus_tags else None,
        },
    }
