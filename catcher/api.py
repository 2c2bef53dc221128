"""The JSON API under /api: messages, their parts, waits, live events and stats."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator
from functools import partial
from typing import Any

from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from catcher import preview, query, wire
from catcher.feed import Event
from catcher.mailboxes import valid_name
from catcher.message import Message
from catcher.parked import Changes, Reply, parked_response
from catcher.parsing import Part, part_content
from catcher.state import app_state
from catcher.store import Filter, MessageStore

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_LIMIT = 1000
MAX_TEXT_PARAM = 1000
MAX_WAIT = 60.0
HEARTBEAT_SECONDS = 15.0
MAX_PART_ID = 64


class IdentConverter(BaseConverter):
    """A message id in a URL: any one path segment, so that ``find`` can say which id it
    has no message for (a number, or ``latest`` for the newest message, ever matches)."""

    regex = r"[^/]+"


@bp.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["ident"] = IdentConverter


class BadRequest(Exception):
    """A request parameter or body catcher cannot use; answered with 400."""


class NotFound(HTTPException):
    code = 404


def answer_errors_in_json(blueprint: Blueprint) -> None:
    """A bad parameter as a 400, and any HTTP error, in JSON (keeping headers such as
    ``Allow`` on a 405), for every route of ``blueprint``."""

    @blueprint.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> Response:
        return wire.error(400, str(exc))

    @blueprint.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return wire.http_error(exc)


answer_errors_in_json(bp)


# -- reading parameters -----------------------------------------------------------------


def store() -> MessageStore:
    return app_state().store


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


def count_param(name: str, default: int, high: int | None = None) -> int:
    """A whole number, 0 or more (at most ``high``), from the query string; a 400 otherwise."""
    value = _int_param(name, default, 0, high)
    assert value is not None
    return value


def message_number(ident: str) -> int | None:
    """The id a path names, or None when it is not a whole number."""
    return int(ident) if ident.isascii() and ident.isdigit() and len(ident) <= 18 else None


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


def _text_param(name: str) -> str | None:
    text = request.args.get(name)
    if text is None or not text.strip():
        return None
    if len(text) > MAX_TEXT_PARAM:
        raise BadRequest(f"{name}: at most {MAX_TEXT_PARAM} characters")
    return text.strip()


def _flag(name: str) -> bool:
    """A yes/no query parameter: present and not empty, 0 or false."""
    return request.args.get(name) not in (None, "", "0", "false")


def json_body() -> object:
    """The request's JSON body; a 400 when it is missing, malformed or nested too deeply."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        raise BadRequest("JSON body nested too deeply") from None


def mailbox_param(*, must_exist: bool = True) -> str | None:
    """``mailbox=NAME``: a valid name (400), of a mailbox that exists (404) unless the
    caller waits for it to appear."""
    name = request.args.get("mailbox")
    if name is None:
        return None
    if name == "":
        raise BadRequest("mailbox: empty (leave it out for All mail)")
    if not valid_name(name):
        raise BadRequest(f"mailbox: {name[:80]!r} is not 1-64 of A-Z a-z 0-9 . _ -")
    if must_exist and not store().has_mailbox(name):
        raise NotFound(f"no mailbox {name!r}")
    return name


def request_filter(*, waiting: bool = False) -> Filter:
    """The list filters from the query string: to, from, subject, q (search syntax, see
    ``catcher.query``; dates in ``tz``), since, mailbox."""
    flt = Filter(
        to=_text_param("to"),
        sender=_text_param("from"),
        subject=_text_param("subject"),
        since=_int_param("since", None, 0),
        mailbox=mailbox_param(must_exist=not waiting),
    )
    q = _text_param("q")
    if q is None:
        return flt
    try:
        return query.narrow(flt, query.parse(q, query.timezone(request.args.get("tz"))))
    except query.SearchError as exc:
        raise BadRequest(str(exc)) from None


def find(ident: str, flt: Filter | None = None) -> Message:
    """The message an id names; ``latest`` is the newest (newest matching, with filters:
    the request's list filters unless ``flt`` is given)."""
    if flt is None:
        flt = request_filter()  # validated whatever the id, so a bad filter is always a 400
    if ident == "latest":
        message = store().latest(flt)
        if message is None:
            raise NotFound("no message matches" if not flt.is_empty else "there are no messages")
        return message
    number = message_number(ident)
    found = store().get(number) if number is not None else None
    if found is None:
        raise NotFound(f"no message with id {ident if number is not None else repr(ident[:40])}")
    if flt.mailbox is not None and flt.mailbox not in store().mailboxes_of(found.id):
        raise NotFound(f"no message with id {ident} in mailbox {flt.mailbox!r}")
    return found


def summary(message: Message) -> dict[str, Any]:
    the_store = store()
    return wire.summary(
        message,
        the_store.summary(message),
        read=the_store.is_read(message.id),
        mailboxes=the_store.mailboxes_of(message.id),
    )


def api_base() -> str:
    """Where this API is served, as the request reached it: ``/api``, or ``/mail/api``."""
    return f"{request.script_root}/api"


def detail(message: Message, base: str) -> dict[str, Any]:
    """The whole model; its URLs start with ``base`` (see ``api_base``)."""
    the_store = store()
    return wire.detail(
        message,
        the_store.summary(message),
        the_store.parsed(message),
        read=the_store.is_read(message.id),
        mailboxes=the_store.mailboxes_of(message.id),
        base=base,
    )


# -- routes ----------------------------------------------------------------------------------


@bp.get("/health")
def health() -> ResponseReturnValue:
    """200 when the SMTP and HTTP servers are both up."""
    status = app_state().status()
    up = status.smtp_up and status.http_up
    return wire.json_response(
        {"status": "ok" if up else "down", "smtp": status.smtp_up, "http": status.http_up},
        200 if up else 503,
    )


@bp.get("/stats")
def stats() -> ResponseReturnValue:
    """Counts, bytes, caps, evictions, SMTP totals, uptime and version; one mailbox's
    counts with ``mailbox=NAME``."""
    name = mailbox_param()
    if name is not None:
        found = store().mailbox(name)
        if found is None:  # deleted since the parameter was checked
            raise NotFound(f"no mailbox {name!r}")
        return wire.json_response(wire.mailbox(found, plus_tags=store().plus_tags))
    numbers = store().stats()
    status = app_state().status()
    return wire.json_response(
        {
            "messages": numbers.count,
            "unread": numbers.unread,
            "mailboxes": store().mailbox_count,
            "bytes": numbers.bytes,
            "held_bytes": numbers.held_bytes,
            "max_messages": numbers.max_messages,
            "max_bytes": numbers.max_bytes,
            "received": numbers.received,
            "evicted": numbers.evicted,
            "deleted": numbers.deleted,
            "smtp_accepted": status.smtp_accepted,
            "smtp_rejected": status.smtp_rejected,
            "smtp_connections": status.smtp_connections,
            "smtp_sessions": status.smtp_sessions,
            "smtp_refused": status.smtp_refused,
            "faults": len(app_state().faults),
            "faults_fired": app_state().faults.fired,
            "http_connections": status.http_connections,
            "http_parked": status.http_parked,
            "smtp_address": status.smtp_address,
            "event_loop": status.event_loop,
            "uptime": status.uptime,
            "version": status.version,
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
    box = store().mailbox(flt.mailbox) if flt.mailbox is not None else None
    return wire.json_response(
        {
            "total": page.total,
            "matched": page.matched,
            "unread": store().stats().unread if flt.mailbox is None else box.unread if box else 0,
            "limit": limit,
            "offset": offset,
            "messages": [summary(m) for m in page.messages],
        }
    )


@bp.delete("/messages")
def delete_messages() -> ResponseReturnValue:
    """Delete all messages, or those matching the list filters when any are given (from
    one mailbox with ``mailbox=``: a message there and in another lives on there)."""
    deleted = store().delete_matching(request_filter())
    return wire.json_response({"deleted": len(deleted), "ids": list(deleted)})


@bp.patch("/messages")
def update_messages() -> ResponseReturnValue:
    """Mark every message the list filters match read or unread: ``{"read": true}``."""
    flt = request_filter()
    read = _read_flag(json_body())
    matched = store().matching_ids(flt)
    changed = store().set_read_many(matched, read)
    return wire.json_response({"matched": len(matched), "changed": len(changed), "read": read})


def _read_flag(body: object) -> bool:
    if not isinstance(body, dict):
        raise BadRequest('expected a JSON object such as {"read": true}')
    unknown = sorted(set(body) - {"read"})
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; only 'read' can be changed")
    read = body.get("read")
    if not isinstance(read, bool):
        raise BadRequest("read: expected true or false")
    return read


@bp.get("/messages/wait")
def wait() -> ResponseReturnValue:
    """The first message matching the filters (after ``since``), waiting up to ``timeout`` s.

    A ``mailbox`` that does not exist yet is waited for too: a login or plus tag makes it.
    """
    flt = request_filter(waiting=True)
    timeout = _float_param("timeout", 10.0, 0.0, MAX_WAIT)
    the_store = store()
    box = the_store.mailbox(flt.mailbox) if flt.mailbox is not None else None
    evicted_before = box.evicted if box is not None else 0
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    base = api_base()

    def render(message: Message) -> bytes:
        with app.app_context():
            return json.dumps(detail(message, base)).encode()

    async def produce(changes: Changes) -> AsyncGenerator[bytes | Reply, None]:
        seq = the_store.seq  # taken before the first look, so nothing slips between
        found = await changes.call(lambda: the_store.wait_for(flt, timeout=0))
        if found is None:
            found = await changes.match(flt, seq, timeout)
        if found is not None:
            yield Reply(200, await changes.call(lambda: render(found)))
        elif changes.closed:
            yield Reply(503, json.dumps({"error": "catcher is stopping"}).encode())
        else:
            text = f"no matching message arrived within {timeout:g} s"
            if flt.mailbox is not None:
                now = the_store.mailbox(flt.mailbox)
                evicted = (now.evicted if now is not None else 0) - evicted_before
                if evicted:
                    text += (
                        f"; {evicted} message{'s' if evicted != 1 else ''} of mailbox "
                        f"{flt.mailbox!r} were evicted meanwhile (see --mailbox-max-messages "
                        "and --max-messages)"
                    )
            yield Reply(408, json.dumps({"error": text}).encode())

    return parked_response(produce, the_store, "application/json")


@bp.get("/messages/<ident:ident>")
def get_message(ident: str) -> ResponseReturnValue:
    """The whole message: envelope, SMTP facts, headers, bodies, parts and defects."""
    return wire.json_response(detail(find(ident), api_base()))


@bp.patch("/messages/<ident:ident>")
def update_message(ident: str) -> ResponseReturnValue:
    """Mark a message read or unread: ``{"read": true}``."""
    message = find(ident)
    store().set_read(message.id, _read_flag(json_body()))
    return wire.json_response(summary(message))


@bp.delete("/messages/<ident:ident>")
def delete_message(ident: str) -> ResponseReturnValue:
    """Delete one message (from one mailbox only, with ``mailbox=``)."""
    message = find(ident)
    if not store().delete(message.id, mailbox_param()):
        raise NotFound(f"no message with id {message.id}")
    return wire.json_response({"deleted": 1, "ids": [message.id]})


@bp.get("/messages/<ident:ident>/raw")
def raw(ident: str) -> ResponseReturnValue:
    """The exact bytes received; ``?download=1`` saves ``<id>.eml``, ``?inline=1`` shows it."""
    message = find(ident)
    # Browsers offer message/rfc822 as a download; text/plain they show.
    as_text = _flag("inline") and not _flag("download")
    return raw_response(message, text=as_text, download=_flag("download"))


def raw_response(message: Message, *, text: bool = False, download: bool = False) -> Response:
    """The exact bytes received, as ``message/rfc822`` (or ``text/plain`` to show them),
    never as a page; with ``download``, to save as ``<id>.eml``."""
    response = Response(message.raw, mimetype="text/plain" if text else "message/rfc822")
    if download:
        response.headers["Content-Disposition"] = f'attachment; filename="{message.id}.eml"'
    response.headers["Content-Security-Policy"] = preview.PART_POLICY
    return response


@bp.get("/messages/<ident:ident>/html")
def html(ident: str) -> ResponseReturnValue:
    """The HTML body, ``cid:`` images pointed at their parts, served so no script runs;
    ``?scheme=light|dark|invert`` shows it as a mail client would in that scheme."""
    scheme = _scheme_param()
    message = find(ident)
    response = html_response(message, block_remote=_flag("block_remote"), scheme=scheme)
    if response is None:
        raise NotFound(f"message {message.id} has no HTML body")
    return response


def _scheme_param() -> str | None:
    """``scheme``: light, dark or invert (see ``preview.color_scheme``); None when absent."""
    text = request.args.get("scheme")
    if text is None:
        return None
    if text not in preview.SCHEMES:
        allowed = ", ".join(preview.SCHEMES)
        raise BadRequest(f"scheme: expected one of {allowed}, got {text[:40]!r}")
    return text


def html_response(
    message: Message, *, block_remote: bool = False, scheme: str | None = None
) -> Response | None:
    """A message's HTML body as a page no script runs in, ``cid:`` images pointed at
    their parts by token, as shown in a colour ``scheme`` when one is given; None when it
    has no HTML body."""
    parsed = store().parsed(message)
    if parsed.html is None:
        return None
    tokens = app_state().tokens
    base = api_base()

    def part_url(found: Part) -> str:
        token = tokens.token(message.id, found.part_id)
        return f"{base}/messages/{message.id}/parts/{found.part_id}?t={token}"

    body = preview.rewrite_cids(parsed.html, parsed.parts, part_url)
    if scheme is not None:
        body = preview.color_scheme(body, scheme)
    body = preview.open_links_in_new_tab(body)
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        preview.PREVIEW_POLICY_LOCAL if block_remote else preview.PREVIEW_POLICY
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/messages/<ident:ident>/text")
def text(ident: str) -> ResponseReturnValue:
    """The text body."""
    message = find(ident)
    parsed = store().parsed(message)
    if parsed.text is None:
        raise NotFound(f"message {message.id} has no text body")
    return Response(parsed.text, mimetype="text/plain")


@bp.get("/messages/<ident:ident>/headers")
def headers(ident: str) -> ResponseReturnValue:
    """All headers in order, repeats kept."""
    return wire.json_response(wire.headers(store().parsed(find(ident))))


@bp.get("/messages/<ident:ident>/parts/<part_id>")
def part(ident: str, part_id: str) -> ResponseReturnValue:
    """One part, decoded, with its content type; ``?download=1`` to save it."""
    message = find(ident)
    response = part_response(message, part_id, "attachment" if _flag("download") else "inline")
    if response is None:
        raise NotFound(f"message {message.id} has no part {part_id[:40]!r}")
    return response


def part_response(message: Message, part_id: str, disposition: str) -> Response | None:
    """One part of a message, decoded, served as its own type (never as a page that runs
    script); None when there is no such part."""
    found = part_content(message.raw, part_id) if len(part_id) < MAX_PART_ID else None
    if found is None:
        return None
    info, content = found
    response = Response(content, content_type=preview.content_type(info.content_type, info.charset))
    response.headers["Content-Disposition"] = preview.content_disposition(
        disposition, info.filename or f"part-{info.part_id}"
    )
    response.headers["Content-Security-Policy"] = preview.PART_POLICY
    return response


# -- live events ------------------------------------------------------------------------------


@bp.get("/events")
def events() -> ResponseReturnValue:
    """Server-sent events: new, delete, clear, read and mailbox; ``Last-Event-ID`` resumes.

    With ``mailbox=NAME`` only that mailbox's changes (it need not exist yet).
    """
    the_store = store()
    mailbox = mailbox_param(must_exist=False)
    heartbeat = _float_param("heartbeat", HEARTBEAT_SECONDS, 1.0, 300.0)
    last = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    if last is not None:
        if not last.isdigit() or len(last) > 18:
            raise BadRequest(f"Last-Event-ID: expected an event number, got {last[:40]!r}")
        start = int(last)
    else:
        start = the_store.seq
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def chunk(event: Event) -> bytes | None:
        with app.app_context():
            return _event(event, mailbox)

    async def produce(changes: Changes) -> AsyncGenerator[bytes | Reply, None]:
        seq = start
        yield _sse("hello", _hello(the_store, mailbox), seq, retry=2000)
        if seq > the_store.seq:
            yield _sse("reset", {"reason": "unknown event id"}, the_store.seq)
            seq = the_store.seq
        next_beat = changes.now() + heartbeat
        while not changes.closed:
            current = await changes.after(seq, max(0.0, next_beat - changes.now()))
            if changes.closed:
                return
            if current > seq:
                found, complete = the_store.events_after(seq, 0)
                if not complete:
                    # Events were dropped from history: the client must reload.
                    seq = found[-1].seq if found else the_store.seq
                    yield _sse("reset", {"reason": "events were missed"}, seq)
                    continue
                for event in found:
                    seq = event.seq
                    if not event.visible_in(mailbox):
                        if mailbox is None and event.mailboxes:
                            # All mail's view is the same, but some mailbox's count moved.
                            yield _mailbox_change(event)
                        continue
                    # Every open stream of one view sends the same bytes: build them once.
                    scope = mailbox if event.by_mailbox else None
                    key = ("sse", event.seq, scope)
                    data = await changes.call(partial(chunk, event), key=key)
                    if data is not None:
                        yield data
            elif changes.now() >= next_beat:
                next_beat = changes.now() + heartbeat
                yield _sse("heartbeat", {"seq": seq, "time": time.time()})

    response = parked_response(produce, the_store, "text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _hello(the_store: MessageStore, mailbox: str | None) -> dict[str, Any]:
    if mailbox is None:
        return {"seq": the_store.seq, "total": len(the_store), "unread": the_store.stats().unread}
    box = the_store.mailbox(mailbox)
    total, unread = (box.count, box.unread) if box is not None else (0, 0)
    return {"seq": the_store.seq, "total": total, "unread": unread, "mailbox": mailbox}


def _event(event: Event, mailbox: str | None) -> bytes | None:
    """The SSE chunk of an event for a view of one mailbox (All mail for None)."""
    ids = event.ids_in(mailbox)
    if event.kind == "new":
        message = store().get(event.ids[0])
        if message is None:
            return None  # deleted before this client saw it; a delete event follows
        return _sse("message", summary(message), event.seq)
    if event.kind == "read":
        if not ids:
            return None
        data = {"id": ids[0], "ids": list(ids), "read": store().is_read(ids[0])}
        return _sse("read", data, event.seq)
    if event.kind == "clear":
        return _sse("clear", {"count": len(event.ids)}, event.seq)
    if event.kind == "faults":
        return _sse("faults", {"rules": len(app_state().faults)}, event.seq)
    if event.kind == "mailbox":
        name = next(iter(event.mailboxes))
        return _sse("mailbox", {"name": name, "exists": store().has_mailbox(name)}, event.seq)
    return _sse("delete", {"ids": list(ids)}, event.seq) if ids else None


def _mailbox_change(event: Event) -> bytes:
    names = sorted(event.mailboxes)
    return _sse("mailbox", {"name": names[0], "names": names, "exists": True}, event.seq)


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

    if not request.script_root:
        return wire.json_response(document())
    # Served under a base path: the paths below are relative to it.
    return wire.json_response({**document(), "servers": [{"url": request.script_root}]})
