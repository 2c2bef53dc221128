"""The JSON API under /api: messages, their parts, waits, live events and stats.

The wire format (a ``Message`` as JSON) lives here, not on the model.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from flask import Blueprint, Response, current_app, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from catcher.message import Address, Message, Part, part_content
from catcher.store import Event, Filter, MessageStore

bp = Blueprint("api", __name__, url_prefix="/api")


class IdentConverter(BaseConverter):
    """A message id in a URL: a number, or ``latest`` for the newest message."""

    regex = r"(?:[0-9]{1,18}|latest)"


@bp.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["ident"] = IdentConverter


MAX_LIMIT = 1000
MAX_TEXT_PARAM = 1000
MAX_WAIT = 60.0
HEARTBEAT_SECONDS = 15.0
SNIPPET_LENGTH = 200

# Captured HTML is hostile: no script, no plugins, no forms, no navigation of the
# parent; the sandbox directive makes its origin opaque even when opened directly.
PREVIEW_POLICY = (
    "default-src 'none'; img-src * data: blob:; style-src * 'unsafe-inline'; font-src * data:; "
    "media-src * data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)
# The same with every remote resource blocked: only our own part URLs and data: URIs.
PREVIEW_POLICY_LOCAL = (
    "default-src 'none'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; media-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
)
PART_POLICY = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"

_CID = re.compile(r"""cid:([^"'\s)>]+)""", re.IGNORECASE)
_REMOTE = re.compile(
    r"""(?:\b(?:src|background|poster|href)\s*=\s*["']?|url\(\s*["']?|@import\s+["'])"""
    r"""((?:https?:)?//[^"'\s)>]+)""",
    re.IGNORECASE,
)
_LINK_TAG = re.compile(r"<a\b[^>]*>", re.IGNORECASE)
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)


class BadRequest(Exception):
    """A request parameter or body catcher cannot use; answered with 400."""


# -- errors ---------------------------------------------------------------------------


def error(status: int, message: str) -> Response:
    response = Response(json.dumps({"error": message}), status=status, mimetype="application/json")
    return response


@bp.errorhandler(BadRequest)
def bad_request(exc: BadRequest) -> Response:
    return error(400, str(exc))


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response:
    """Any HTTP error as JSON, keeping headers such as ``Allow`` on a 405."""
    response = error(exc.code or 500, exc.description or exc.name)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


# -- reading parameters -----------------------------------------------------------------


def store() -> MessageStore:
    found: MessageStore = current_app.extensions["catcher.store"]
    return found


def _int_param(name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    text = request.args.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name}: expected a whole number, got {text[:40]!r}") from None
    if value < low or (high is not None and value > high):
        limits = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise BadRequest(f"{name}: must be {limits}, got {value}")
    return value


def _text_param(name: str) -> str | None:
    text = request.args.get(name)
    if text is None or not text.strip():
        return None
    if len(text) > MAX_TEXT_PARAM:
        raise BadRequest(f"{name}: at most {MAX_TEXT_PARAM} characters")
    return text.strip()


def request_filter() -> Filter:
    """The list filters from the query string: to, from, subject, q, since."""
    return Filter(
        to=_text_param("to"),
        sender=_text_param("from"),
        subject=_text_param("subject"),
        text=_text_param("q"),
        since=_int_param("since", None, 0),
    )


def find(ident: str) -> Message:
    """The message an id names; ``latest`` is the newest (newest matching, with filters)."""
    flt = request_filter()  # validated whatever the id, so a bad filter is always a 400
    if ident == "latest":
        message = store().latest(flt)
        if message is None:
            raise _NotFound("no message matches" if not flt.is_empty else "there are no messages")
        return message
    found = store().get(int(ident))
    if found is None:
        raise _NotFound(f"no message with id {ident}")
    return found


class _NotFound(HTTPException):
    code = 404


# -- the wire format ----------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def address(addr: Address) -> dict[str, str]:
    return {"name": addr.name, "address": addr.address}


def summary(message: Message) -> dict[str, Any]:
    """What a list shows: never a whole body."""
    brief = message.summary
    return {
        "id": message.id,
        "received_at": iso(message.received_at),
        "envelope": envelope(message),
        "from": address(brief.sender[0]) if brief.sender else None,
        "to": [address(a) for a in brief.to],
        "cc": [address(a) for a in brief.cc],
        "subject": brief.subject,
        "size": message.size,
        "attachments": brief.attachments,
        "snippet": brief.snippet[:SNIPPET_LENGTH],
        "read": store().is_read(message.id),
        "defect_count": brief.defects,
    }


def envelope(message: Message) -> dict[str, Any]:
    return {"mail_from": message.envelope.mail_from, "rcpt_to": list(message.envelope.rcpt_tos)}


def detail(message: Message) -> dict[str, Any]:
    """The whole model."""
    parsed = message.parsed
    delivery = message.delivery
    return {
        **summary(message),
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
        "headers": [{"name": n, "value": v} for n, v in parsed.headers],
        "text": parsed.text,
        "html": parsed.html,
        "remote_resources": remote_resources(parsed.html),
        "parts": [part_json(message, p) for p in parsed.parts],
        "defects": list(parsed.defects),
        "urls": {
            "raw": url_for("api.raw", ident=message.id),
            "html": url_for("api.html", ident=message.id) if parsed.html is not None else None,
            "text": url_for("api.text", ident=message.id) if parsed.text is not None else None,
            "source": url_for("api.raw", ident=message.id, download=1),
        },
    }


def part_json(message: Message, part: Part) -> dict[str, Any]:
    return {
        "part_id": part.part_id,
        "content_type": part.content_type,
        "charset": part.charset,
        "filename": part.filename,
        "size": part.size,
        "content_id": part.content_id,
        "disposition": part.disposition,
        "is_attachment": part.is_attachment,
        "url": url_for("api.part", ident=message.id, part_id=part.part_id),
    }


def remote_resources(html: str | None) -> list[str]:
    """Remote URLs the HTML would load by itself (images, styles, fonts): tracking pixels."""
    if not html:
        return []
    found: dict[str, None] = {}
    for match in _REMOTE.finditer(html):
        start = html.rfind("<", 0, match.start())
        tag = html[start : match.start()].lower() if start >= 0 else ""
        if match.group(0).lower().startswith("href") and not tag.startswith("<link"):
            continue  # a link the reader may click, not something loaded on open
        found.setdefault(match.group(1))
    return list(found)


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


# -- routes ----------------------------------------------------------------------------------


@bp.get("/health")
def health() -> ResponseReturnValue:
    """200 when the SMTP and HTTP servers are both up."""
    status = dict(current_app.extensions["catcher.status"]())
    up = bool(status.get("smtp")) and bool(status.get("http"))
    return json_response(
        {
            "status": "ok" if up else "down",
            "smtp": bool(status.get("smtp")),
            "http": bool(status.get("http")),
        },
        200 if up else 503,
    )


@bp.get("/stats")
def stats() -> ResponseReturnValue:
    """Counts, bytes, caps, evictions, SMTP totals, uptime and version."""
    numbers = store().stats()
    status: Mapping[str, Any] = current_app.extensions["catcher.status"]()
    return json_response(
        {
            "messages": numbers.count,
            "unread": numbers.unread,
            "bytes": numbers.bytes,
            "max_messages": numbers.max_messages,
            "max_bytes": numbers.max_bytes,
            "received": numbers.received,
            "evicted": numbers.evicted,
            "deleted": numbers.deleted,
            "smtp_accepted": status.get("smtp_accepted", 0),
            "smtp_rejected": status.get("smtp_rejected", 0),
            "smtp_connections": status.get("smtp_connections", 0),
            "smtp_address": status.get("smtp_address"),
            "event_loop": status.get("event_loop", ""),
            "uptime": status.get("uptime", 0.0),
            "version": status.get("version", ""),
        }
    )


@bp.get("/messages")
def list_messages() -> ResponseReturnValue:
    """Summaries, newest first, one page; filters to, from, subject, q and since."""
    flt = request_filter()
    limit = _int_param("limit", 50, 1, MAX_LIMIT)
    offset = _int_param("offset", 0, 0)
    assert limit is not None and offset is not None
    page = store().query(flt, limit=limit, offset=offset)
    return json_response(
        {
            "total": page.total,
            "matched": page.matched,
            "unread": store().stats().unread,
            "limit": limit,
            "offset": offset,
            "messages": [summary(m) for m in page.messages],
        }
    )


@bp.delete("/messages")
def delete_messages() -> ResponseReturnValue:
    """Delete all messages, or those matching the list filters when any are given."""
    deleted = store().delete_matching(request_filter())
    return json_response({"deleted": len(deleted), "ids": list(deleted)})


@bp.get("/messages/wait")
def wait() -> ResponseReturnValue:
    """The first message matching the filters (after ``since``), waiting up to ``timeout`` s."""
    flt = request_filter()
    timeout = _float_param("timeout", 10.0, 0.0, MAX_WAIT)
    stopping: threading.Event = current_app.extensions["catcher.stopping"]
    deadline = time.monotonic() + timeout
    while True:
        # Wait in slices so a shutting-down server is not held open by a waiting client.
        remaining = deadline - time.monotonic()
        found = store().wait_for(flt, timeout=max(0.0, min(remaining, 1.0)))
        if found is not None:
            return json_response(detail(found))
        if remaining <= 1.0 or stopping.is_set():
            break
    return error(408, f"no matching message arrived within {timeout:g} s")


def _flag(name: str) -> bool:
    """A yes/no query parameter: present and not empty, 0 or false."""
    return request.args.get(name) not in (None, "", "0", "false")


def _float_param(name: str, default: float, low: float, high: float) -> float:
    text = request.args.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"{name}: expected a number of seconds, got {text[:40]!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}: must be from {low:g} to {high:g}, got {text[:40]}")
    return value


@bp.get("/messages/<ident:ident>")
def get_message(ident: str) -> ResponseReturnValue:
    """The whole message: envelope, SMTP facts, headers, bodies, parts and defects."""
    return json_response(detail(find(ident)))


@bp.patch("/messages/<ident:ident>")
def update_message(ident: str) -> ResponseReturnValue:
    """Mark a message read or unread: ``{"read": true}``."""
    message = find(ident)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest('expected a JSON object such as {"read": true}')
    unknown = sorted(set(body) - {"read"})
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; only 'read' can be changed")
    if not isinstance(body.get("read"), bool):
        raise BadRequest("read: expected true or false")
    store().set_read(message.id, body["read"])
    return json_response(summary(message))


@bp.delete("/messages/<ident:ident>")
def delete_message(ident: str) -> ResponseReturnValue:
    """Delete one message."""
    message = find(ident)
    if not store().delete(message.id):
        raise _NotFound(f"no message with id {message.id}")
    return json_response({"deleted": 1, "ids": [message.id]})


@bp.get("/messages/<ident:ident>/raw")
def raw(ident: str) -> ResponseReturnValue:
    """The exact bytes received; ``?download=1`` saves ``<id>.eml``, ``?inline=1`` shows it."""
    message = find(ident)
    response = Response(message.raw, mimetype="message/rfc822")
    if _flag("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{message.id}.eml"'
    elif _flag("inline"):
        # Browsers offer message/rfc822 as a download; text/plain they show.
        response.mimetype = "text/plain"
    response.headers["Content-Security-Policy"] = PART_POLICY
    return response


@bp.get("/messages/<ident:ident>/html")
def html(ident: str) -> ResponseReturnValue:
    """The HTML body, ``cid:`` images pointed at their parts, served so no script runs."""
    message = find(ident)
    body = message.parsed.html
    if body is None:
        raise _NotFound(f"message {message.id} has no HTML body")
    body = _rewrite_cids(message, body)
    # Links open in a new tab (the preview's sandbox allows popups, nothing else).
    base = '<base target="_blank">'
    head = _HEAD.search(body)
    body = body[: head.end()] + base + body[head.end() :] if head else base + body
    blocked = _flag("block_remote")
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        PREVIEW_POLICY_LOCAL if blocked else PREVIEW_POLICY
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def part_token(message_id: int, part_id: str) -> str:
    """A secret-keyed token that lets the preview load one part from its opaque origin.

    The preview's sandbox gives it no origin, so its image requests look cross-site and
    the guard would refuse them; a valid token proves the URL came from our own HTML,
    which no other site can read.
    """
    secret: bytes = current_app.extensions["catcher.secret"]
    digest = hmac.new(secret, f"{message_id}/{part_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def has_part_token() -> bool:
    """Whether this request is for a part and carries that part's token."""
    args = request.view_args or {}
    if request.endpoint != "api.part" or request.method != "GET":
        return False
    ident, part_id, token = args.get("ident"), args.get("part_id"), request.args.get("t", "")
    if not isinstance(ident, str) or not ident.isdigit() or not isinstance(part_id, str):
        return False
    return hmac.compare_digest(token, part_token(int(ident), part_id))


def _rewrite_cids(message: Message, body: str) -> str:
    by_cid = {p.content_id.lower(): p for p in message.parsed.parts if p.content_id}
    if not by_cid:
        return body

    def replace(match: re.Match[str]) -> str:
        part = by_cid.get(unquote(match.group(1)).strip("<>").lower())
        if part is None:
            return match.group(0)
        token = part_token(message.id, part.part_id)
        return url_for("api.part", ident=message.id, part_id=part.part_id, t=token)

    return _CID.sub(replace, body)


@bp.get("/messages/<ident:ident>/text")
def text(ident: str) -> ResponseReturnValue:
    """The text body."""
    message = find(ident)
    if message.parsed.text is None:
        raise _NotFound(f"message {message.id} has no text body")
    return Response(message.parsed.text, mimetype="text/plain")


@bp.get("/messages/<ident:ident>/headers")
def headers(ident: str) -> ResponseReturnValue:
    """All headers in order, repeats kept."""
    message = find(ident)
    return json_response([{"name": n, "value": v} for n, v in message.parsed.headers])


@bp.get("/messages/<ident:ident>/parts/<part_id>")
def part(ident: str, part_id: str) -> ResponseReturnValue:
    """One part, decoded, with its content type; ``?download=1`` to save it."""
    message = find(ident)
    found = part_content(message.raw, part_id) if len(part_id) < 64 else None
    if found is None:
        raise _NotFound(f"message {message.id} has no part {part_id[:40]!r}")
    info, content = found
    mimetype = (
        info.content_type if _SAFE_TYPE.match(info.content_type) else "application/octet-stream"
    )
    if info.charset and mimetype.startswith("text/"):
        mimetype += f"; charset={info.charset}"
    response = Response(content, content_type=mimetype)
    download = _flag("download")
    response.headers["Content-Disposition"] = content_disposition(
        "attachment" if download else "inline", info.filename or f"part-{info.part_id}"
    )
    response.headers["Content-Security-Policy"] = PART_POLICY
    return response


_SAFE_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def content_disposition(kind: str, filename: str) -> str:
    """A Content-Disposition header that no filename can break (RFC 6266, RFC 5987)."""
    cleaned = "".join(c for c in filename if c.isprintable()).strip() or "part"
    cleaned = cleaned.replace("/", "_").replace("\\", "_")
    fallback = cleaned.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


# -- live events ------------------------------------------------------------------------------


@bp.get("/events")
def events() -> ResponseReturnValue:
    """Server-sent events: new, delete, clear and read; ``Last-Event-ID`` resumes."""
    the_store = store()
    stopping: threading.Event = current_app.extensions["catcher.stopping"]
    heartbeat = _float_param("heartbeat", HEARTBEAT_SECONDS, 1.0, 300.0)
    last = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    if last is not None:
        if not last.isdigit() or len(last) > 18:
            raise BadRequest(f"Last-Event-ID: expected an event number, got {last[:40]!r}")
        start = int(last)
    else:
        start = the_store.seq
    # Summaries need the app context (url_for, store); build them inside the generator.
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def stream() -> Iterator[bytes]:
        seq = start
        with app.app_context():
            hello = {
                "seq": the_store.seq,
                "total": len(the_store),
                "unread": the_store.stats().unread,
            }
            yield _sse("hello", hello, seq, retry=2000)
            if seq > the_store.seq:
                yield _sse("reset", {"reason": "unknown event id"}, the_store.seq)
                seq = the_store.seq
            last_beat = time.monotonic()
            while not stopping.is_set():
                found, complete = the_store.events_after(seq, timeout=min(1.0, heartbeat))
                if not complete:
                    # Events were dropped from history: the client must reload.
                    seq = found[-1].seq if found else the_store.seq
                    yield _sse("reset", {"reason": "events were missed"}, seq)
                    continue
                for event in found:
                    seq = event.seq
                    chunk = _event(event)
                    if chunk is not None:
                        yield chunk
                if not found and time.monotonic() - last_beat >= heartbeat:
                    last_beat = time.monotonic()
                    yield _sse("heartbeat", {"seq": seq, "time": time.time()})

    response = Response(stream(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _event(event: Event) -> bytes | None:
    if event.kind == "new":
        message = store().get(event.ids[0])
        if message is None:
            return None  # deleted before this client saw it; a delete event follows
        return _sse("message", summary(message), event.seq)
    if event.kind == "read":
        message_id = event.ids[0]
        return _sse("read", {"id": message_id, "read": store().is_read(message_id)}, event.seq)
    if event.kind == "clear":
        return _sse("clear", {"count": len(event.ids)}, event.seq)
    return _sse("delete", {"ids": list(event.ids)}, event.seq)


def _sse(kind: str, data: Any, seq: int | None = None, retry: int | None = None) -> bytes:
    lines = []
    if retry is not None:
        lines.append(f"retry: {retry}")
    if seq is not None:
        lines.append(f"id: {seq}")
    lines.append(f"event: {kind}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3.1 description of this API."""
    from catcher.openapi import document

    return json_response(document())
