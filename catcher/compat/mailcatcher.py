"""MailCatcher's HTTP API over catcher's store.

``/messages`` lists every message oldest first; ``sender`` and ``recipients`` are the
SMTP envelope in angle brackets, ``size`` a string, as MailCatcher gives them. A part is
named by its Content-ID, or by ``part-<section>@catcher`` when it has none.
"""

from __future__ import annotations

import sys
from datetime import UTC
from typing import Any

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue

from catcher.api import (
    NotFound,
    answer_errors_in_json,
    html_response,
    part_response,
    raw_response,
    store,
)
from catcher.filters import Filter
from catcher.message import Message
from catcher.parsing import Part
from catcher.wire import json_response

__all__ = ["bp"]

bp = Blueprint("mailcatcher", __name__)
answer_errors_in_json(bp)

_GENERATED = "@catcher"


def _find(ident: int) -> Message:
    message = store().get(ident)
    if message is None:
        raise NotFound(f"no message with id {ident}")
    return message


def _summary(message: Message) -> dict[str, Any]:
    envelope = message.envelope
    return {
        "id": message.id,
        "sender": f"<{envelope.mail_from}>",
        "recipients": [f"<{r}>" for r in envelope.rcpt_tos],
        "subject": store().summary(message).subject,
        "size": str(message.size),
        "created_at": message.received_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
    }


def _cid(part: Part) -> str:
    return part.content_id or f"part-{part.part_id}{_GENERATED}"


@bp.get("/messages")
def messages() -> ResponseReturnValue:
    """Every message, oldest first."""
    page = store().query(Filter(), limit=sys.maxsize)
    return json_response([_summary(m) for m in reversed(page.messages)])


@bp.delete("/messages")
def delete_all() -> ResponseReturnValue:
    """Delete every message."""
    store().clear()
    return Response(status=204)


@bp.delete("/messages/<int:ident>")
def delete_message(ident: int) -> ResponseReturnValue:
    """Delete one message."""
    store().delete(_find(ident).id)
    return Response(status=204)


@bp.get("/messages/<int:ident>.json")
def message_json(ident: int) -> ResponseReturnValue:
    """The summary with the message's type, its formats and its attachments."""
    message = _find(ident)
    parsed = store().parsed(message)
    formats = ["source"]
    if parsed.html is not None:
        formats.append("html")
    if parsed.text is not None:
        formats.append("plain")
    content_type = next((v for k, v in parsed.headers if k.lower() == "content-type"), "")
    attachments = sorted(
        (
            {"cid": _cid(p), "type": p.content_type, "filename": p.filename or "", "size": p.size}
            for p in parsed.parts
            if p.is_attachment
        ),
        key=lambda a: str(a["filename"]),
    )
    return json_response(
        {
            **_summary(message),
            "type": content_type.split(";", 1)[0].strip().lower() or "text/plain",
            "formats": formats,
            "attachments": attachments,
        }
    )


@bp.get("/messages/<int:ident>.html")
def message_html(ident: int) -> ResponseReturnValue:
    """The HTML body, as a page no script runs in."""
    message = _find(ident)
    response = html_response(message)
    if response is None:
        raise NotFound(f"message {ident} has no HTML part")
    return response


@bp.get("/messages/<int:ident>.plain")
def message_plain(ident: int) -> ResponseReturnValue:
    """The text body."""
    parsed = store().parsed(_find(ident))
    if parsed.text is None:
        raise NotFound(f"message {ident} has no plain text part")
    return Response(parsed.text, mimetype="text/plain")


@bp.get("/messages/<int:ident>.source")
def message_source(ident: int) -> ResponseReturnValue:
    """The message as received, shown as text."""
    return raw_response(_find(ident), text=True)


@bp.get("/messages/<int:ident>.eml")
def message_eml(ident: int) -> ResponseReturnValue:
    """The message as received."""
    return raw_response(_find(ident))


@bp.get("/messages/<int:ident>/parts/<path:cid>")
def message_part(ident: int, cid: str) -> ResponseReturnValue:
    """A part by its Content-ID, decoded; an attachment is served to save."""
    message = _find(ident)
    for found in store().parsed(message).parts:
        if _cid(found) == cid:
            kind = "attachment" if found.is_attachment else "inline"
            response = part_response(message, found.part_id, kind)
            if response is not None:
                return response
    raise NotFound(f"message {ident} has no part {cid[:60]!r}")


@bp.delete("/")
def quit_server() -> ResponseReturnValue:
    """MailCatcher quits here; catcher is not stopped over HTTP."""
    return json_response({"error": "catcher is not stopped over HTTP"}, 403)
