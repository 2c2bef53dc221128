"""Mail in and out over HTTP: ``POST /api/messages`` stores one raw message,
``GET /api/messages/export`` downloads messages as an mbox file (mboxrd)."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from catcher import wire
from catcher.api import BadRequest, answer_errors_in_json, request_filter, store, summary
from catcher.mbox import entry
from catcher.message import Delivery, Envelope, envelope_of
from catcher.parsing import parse
from catcher.state import app_state
from catcher.store import MessageStore

bp = Blueprint("transfer", __name__, url_prefix="/api")
answer_errors_in_json(bp)

RAW_TYPES = ("message/rfc822", "application/octet-stream", "text/plain")
MAX_ADDRESS = 320


@bp.post("/messages")
def add_message() -> ResponseReturnValue:
    """Store one message sent as the request body (``message/rfc822``), capped like SMTP
    mail and routed into mailboxes like it. The envelope is ``from=`` and ``to=``
    (repeatable) when given, else the From header and the To, Cc and Bcc addresses.
    201 with the message's summary."""
    settings = app_state().settings
    kind = (request.mimetype or "").lower()
    if kind not in RAW_TYPES:
        raise BadRequest(
            f"Content-Type: expected message/rfc822 (the raw message as the body), got {kind!r}"
        )
    request.max_content_length = settings.max_message_size
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise BadRequest("the body is empty: send the raw message (message/rfc822)")
    envelope = _envelope(raw, settings.max_recipients)
    delivery = Delivery(request.remote_addr or "", "http", False, None)
    message = store().add(raw, envelope, delivery)
    return wire.json_response(summary(message), 201)


def _envelope(raw: bytes, max_recipients: int) -> Envelope:
    sender = request.args.get("from")
    recipients = request.args.getlist("to")
    for address in [sender or "", *recipients]:
        if len(address) > MAX_ADDRESS or any(c in address for c in "\r\n<>"):
            raise BadRequest(f"address {address[:80]!r}: not one address")
    if sender is None or not recipients:
        implied = envelope_of(parse(raw))
        sender = implied.mail_from if sender is None else sender
        recipients = recipients or list(implied.rcpt_tos)
    if len(recipients) > max_recipients:
        raise BadRequest(f"to: at most {max_recipients} recipients, got {len(recipients)}")
    return Envelope(sender, tuple(dict.fromkeys(recipients)))


@bp.get("/messages/export")
def export() -> ResponseReturnValue:
    """Every message the list filters match, oldest first, as an mbox file (mboxrd, each
    message byte for byte); ``format=mbox`` is the only format."""
    chosen = request.args.get("format", "mbox")
    if chosen != "mbox":
        raise BadRequest(f"format: only mbox is available here, got {chosen[:40]!r}")
    the_store = store()
    ids = the_store.matching_ids(request_filter())
    response = Response(_entries(the_store, ids), mimetype="application/mbox")
    response.headers["Content-Disposition"] = 'attachment; filename="catcher.mbox"'
    return response


def _entries(the_store: MessageStore, ids: list[int]) -> Iterator[bytes]:
    """Entry by entry, as the response is sent (after the request's context is gone)."""
    for message_id in ids:
        message = the_store.get(message_id)
        if message is not None:  # deleted while the download ran
            yield entry(message.raw, message.envelope.mail_from, message.received_at)
