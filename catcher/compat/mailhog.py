"""MailHog's API (v2 lists and search, v1 messages) over catcher's store.

A message comes in MailHog's shape: ``From``/``To`` are the SMTP envelope, ``Content``
holds the header fields as sent (lists of raw values) and the raw body, ``MIME.Parts``
the parts of a multipart (each one a ``Content``, nested multiparts with their own
``MIME``), ``Raw`` what the SMTP client sent. MailHog's ids are strings: catcher's own
ids, as strings. Search kinds: ``from`` and ``to`` match the envelope and the headers,
``containing`` every word anywhere in the message's text. Jim (the chaos monkey) is a
view onto catcher's fault rules (off, and 404, until turned on); ``release`` is refused.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from catcher.api import (
    BadRequest,
    NotFound,
    answer_errors_in_json,
    count_param,
    find,
    part_response,
    raw_response,
    store,
)
from catcher.faults import FaultError
from catcher.filters import Filter
from catcher.message import Message
from catcher.parsing import Entity, parse_tree
from catcher.state import app_state
from catcher.wire import json_response

__all__ = ["bp", "list_bp"]

bp = Blueprint("mailhog", __name__)
answer_errors_in_json(bp)
# Routes Mailpit's API has too (Mailpit's shape wins when both are on).
list_bp = Blueprint("mailhog_v1_list", __name__)
answer_errors_in_json(list_bp)

MAX_LIMIT = 250
JIM = "jim"
# MailHog's Jim, as it starts.
JIM_DEFAULTS: dict[str, float] = {
    "DisconnectChance": 0.005,
    "AcceptChance": 0.99,
    "LinkSpeedAffect": 0.1,
    "LinkSpeedMin": 1024,
    "LinkSpeedMax": 10240,
    "RejectSenderChance": 0.05,
    "RejectRecipientChance": 0.05,
    "RejectAuthChance": 0.05,
}
JIM_CHANCES = (
    "DisconnectChance", "AcceptChance", "LinkSpeedAffect", "RejectSenderChance",
    "RejectRecipientChance", "RejectAuthChance",
)  # fmt: skip
V1_LIST = 1000
_LINE_BREAK = re.compile(r"\r?\n")
_BODY_START = re.compile(rb"\r?\n\r?\n")


def _find(ident: str) -> Message:
    return find(ident, Filter())


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _path(address: str) -> dict[str, Any]:
    """An envelope address as MailHog splits it: source route, mailbox, domain."""
    relays = None
    if ":" in address:
        route, address = address.split(":", 1)
        relays = route.split(",")
    mailbox, _, domain = address.partition("@")
    return {"Relays": relays, "Mailbox": mailbox, "Domain": domain, "Params": ""}


def _headers(entity: Entity) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in entity.items:
        text = _text(value.encode("utf-8", "surrogateescape"))
        fields.setdefault(name, []).append(_LINE_BREAK.sub("", text))
    return fields


def _content(entity: Entity, body: bytes) -> dict[str, Any]:
    return {
        "Headers": _headers(entity),
        "Body": _text(body),
        "Size": len(body),
        "MIME": _mime(entity),
    }


def _mime(entity: Entity) -> dict[str, Any] | None:
    if entity.children is None:
        return None
    return {"Parts": [_content(child, child.raw_body()) for child in entity.children]}


def _shape(message: Message) -> dict[str, Any]:
    raw = message.raw
    tree = parse_tree(raw)
    found = _BODY_START.search(raw)
    body = raw[found.end() :] if found else b""
    content = _content(tree, body)
    content["Size"] = message.size
    headers = content["Headers"]
    if not any(name.lower() == "message-id" for name in headers):
        headers["Message-ID"] = [f"{message.id}@catcher"]
    stamp = message.received_at.strftime("%a, %d %b %Y %H:%M:%S +0000")
    received = (
        f"from {message.delivery.helo} by catcher (catcher)\r\n          id {message.id}; {stamp}"
    )
    headers.setdefault("Received", []).append(received)
    headers.setdefault("Return-Path", []).append(f"<{message.envelope.mail_from}>")
    envelope = message.envelope
    return {
        "ID": str(message.id),
        "From": _path(envelope.mail_from),
        "To": [_path(r) for r in envelope.rcpt_tos],
        "Content": content,
        "Created": message.received_at.isoformat().replace("+00:00", "Z"),
        "MIME": content["MIME"],
        "Raw": {
            "From": envelope.mail_from,
            "To": list(envelope.rcpt_tos),
            "Data": _text(raw),
            "Helo": message.delivery.helo,
        },
    }


def _page(flt: Filter) -> Response:
    start = count_param("start", 0)
    limit = min(count_param("limit", 50), MAX_LIMIT)
    page = store().query(flt, limit=limit, offset=start)
    return json_response(
        {
            "total": page.matched,
            "count": len(page.messages),
            "start": start,
            "items": [_shape(m) for m in page.messages],
        }
    )


# -- v2 -----------------------------------------------------------------------------------


@bp.get("/api/v2/messages")
def messages() -> ResponseReturnValue:
    """Messages, newest first: ``start``, ``limit`` (at most 250)."""
    return _page(Filter())


@bp.get("/api/v2/search")
def search() -> ResponseReturnValue:
    """Messages where ``query`` is in the sender (``kind=from``), a recipient (``to``) or
    anywhere (``containing``)."""
    kind = request.args.get("kind", "")
    text = (request.args.get("query") or "").strip()
    if not text:
        raise BadRequest("query: required")
    if kind == "from":
        flt = Filter(sender=text)
    elif kind == "to":
        flt = Filter(to=text)
    elif kind == "containing":
        flt = Filter(text=text)
    else:
        raise BadRequest(f"kind: expected from, to or containing, got {kind[:40]!r}")
    return _page(flt)


@bp.get("/api/v2/jim")
def jim() -> ResponseReturnValue:
    """Jim's settings while it is on; 404 while it is off, as MailHog answers."""
    settings = app_state().faults.view(JIM)
    if settings is None:
        raise NotFound("Jim is not enabled")
    return json_response(settings)


@bp.route("/api/v2/jim", methods=["POST", "PUT"])
def set_jim() -> ResponseReturnValue:
    """Turn Jim on (POST, 201) or change it (PUT; 404 while off), with its settings (any
    left out keep MailHog's defaults). Jim's chances become fault rules, source ``jim``,
    each with its probability: a refused connection, a disconnect at HELO, MAIL, RCPT or
    DATA, a refused sender, recipient or login. Link speed is not slowed."""
    faults = app_state().faults
    if request.method == "PUT" and faults.view(JIM) is None:
        raise NotFound("Jim is not enabled")
    given: object = None
    if request.get_data().strip():
        try:
            given = json.loads(request.get_data())
        except (ValueError, RecursionError):
            raise BadRequest("expected Jim's settings as a JSON object") from None
    settings = dict(JIM_DEFAULTS)
    if isinstance(given, dict):
        for key, value in given.items():
            if key not in JIM_DEFAULTS:
                raise BadRequest(f"{key}: not one of Jim's settings")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BadRequest(f"{key}: expected a number")
            if not math.isfinite(value) or value < 0:
                raise BadRequest(f"{key}: expected a number of 0 or more")
            settings[key] = value
    elif given is not None:
        raise BadRequest("expected Jim's settings as a JSON object")
    for key in JIM_CHANCES:
        if not 0 <= settings[key] <= 1:
            raise BadRequest(f"{key}: expected a chance from 0 to 1")
    try:
        faults.replace(JIM, _jim_rules(settings), settings)
    except FaultError as exc:
        raise BadRequest(str(exc)) from None
    return json_response(settings, 201 if request.method == "POST" else 200)


@bp.delete("/api/v2/jim")
def stop_jim() -> ResponseReturnValue:
    """Turn Jim off: its rules go."""
    app_state().faults.replace(JIM, [], None)
    return Response(b"", status=200)


def _jim_rules(settings: dict[str, float]) -> list[dict[str, Any]]:
    disconnect = settings["DisconnectChance"]
    wanted: list[tuple[str, float, dict[str, str]]] = [
        ("connect", 1 - settings["AcceptChance"], {"reply": "421 4.3.2 Jim refused you"}),
        ("helo", disconnect, {"action": "disconnect"}),
        ("mail", disconnect, {"action": "disconnect"}),
        ("rcpt", disconnect, {"action": "disconnect"}),
        ("data", disconnect, {"action": "drop"}),
        ("mail", settings["RejectSenderChance"], {"reply": "550 5.7.1 Jim rejected the sender"}),
        ("rcpt", settings["RejectRecipientChance"], {"reply": "550 5.7.1 Jim rejected you"}),
        ("auth", settings["RejectAuthChance"], {"reply": "535 5.7.8 Jim rejected the login"}),
    ]
    return [
        {"stage": stage, "probability": chance, **rule}
        for stage, chance, rule in wanted
        if chance > 0
    ]


@bp.get("/api/v2/outgoing-smtp")
def outgoing_smtp() -> ResponseReturnValue:
    """No outgoing servers: catcher never relays."""
    return json_response({})


# -- v1 -----------------------------------------------------------------------------------


@list_bp.get("/api/v1/messages")
def list_v1() -> ResponseReturnValue:
    """The newest 1000 messages, as a JSON array."""
    page = store().query(Filter(), limit=V1_LIST)
    return json_response([_shape(m) for m in page.messages])


@list_bp.delete("/api/v1/messages")
def delete_all() -> ResponseReturnValue:
    """Delete every message (an empty answer)."""
    store().clear()
    return Response(b"", status=200)


@bp.get("/api/v1/messages/<ident>")
def get_message(ident: str) -> ResponseReturnValue:
    """One message in MailHog's shape."""
    return json_response(_shape(_find(ident)))


@bp.delete("/api/v1/messages/<ident>")
def delete_message(ident: str) -> ResponseReturnValue:
    """Delete one message (an empty answer)."""
    message = _find(ident)
    store().delete(message.id)
    return Response(b"", status=200)


@bp.get("/api/v1/messages/<ident>/download")
def download(ident: str) -> ResponseReturnValue:
    """The message as received, to save as ``<id>.eml``."""
    return raw_response(_find(ident), download=True)


@bp.get("/api/v1/messages/<ident>/mime/part/<int:index>/download")
def download_part(ident: str, index: int) -> ResponseReturnValue:
    """Part ``index`` of ``MIME.Parts`` (from 0), decoded, as an attachment."""
    message = _find(ident)
    response = part_response(message, str(index + 1), "attachment")
    if response is None:
        raise NotFound(f"message {message.id} has no part {index}")
    return response


@bp.post("/api/v1/messages/<ident>/release")
def release(ident: str) -> ResponseReturnValue:
    """Refused: catcher never relays mail."""
    _find(ident)
    raise BadRequest("catcher never relays mail: release is not available")
