"""Mailpit's API v1 (and its ``/view`` pages) over catcher's store.

Mailpit's ids are opaque strings: catcher's own ids, as strings. ``latest`` names the
newest message (with ``?query=``, the newest match). Search is catcher's, which reads
Mailpit's syntax (``catcher.query``). Tags are catcher's mailboxes: a message's tags are
the mailboxes it is in (``default`` left out), ``tag:NAME`` searches one, and they are
set by routing, not through this API. ``release`` is refused: catcher never relays.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from catcher import __version__, query
from catcher.api import (
    BadRequest,
    NotFound,
    answer_errors_in_json,
    count_param,
    find,
    html_response,
    message_number,
    part_response,
    raw_response,
    store,
)
from catcher.check_api import report_json
from catcher.compat import mailpit_checks, sending
from catcher.faults import FaultError
from catcher.filters import Filter, Term, hidden_recipients
from catcher.message import Delivery, Message, Summary
from catcher.parsing import Address, Parsed, html_text, part_contents, raw_headers
from catcher.state import app_state
from catcher.wire import json_response

__all__ = ["bp"]

bp = Blueprint("mailpit", __name__)
answer_errors_in_json(bp)

DEFAULT_MAILBOX = "default"
SNIPPET_LENGTH = 200
_UNFOLD = re.compile(r"\r?\n[ \t]*")
_NO_ADDRESS = {"Name": "", "Address": ""}
CHAOS = "chaos"
CHAOS_STAGES = {"Sender": "mail", "Recipient": "rcpt", "Authentication": "auth"}
# An address a send request may name: no spaces, brackets, commas or line breaks.
_EMAIL = re.compile(r"[^\s<>,;\"]{1,254}@[^\s<>,;\"@]{1,254}|[^\s<>,;\"@]{1,64}")


# -- reading requests ---------------------------------------------------------------------


def _search(text: str | None) -> Filter:
    """A Filter for Mailpit's ``query`` text (and ``tz``, ``before``)."""
    try:
        tz = query.timezone(request.args.get("tz"))
        flt = query.narrow(Filter(), query.parse(text or "", tz))
        before = request.args.get("before")
        if before:  # a page's end: received strictly before this moment
            earlier = Term("after", query.moment("before", before, tz), negate=True)
            flt = replace(flt, terms=(*flt.terms, earlier))
    except query.SearchError as exc:
        raise BadRequest(str(exc)) from None
    return flt


def _required_query() -> str:
    text = (request.args.get("query") or "").strip()
    if not text:
        raise BadRequest("Error: no search query")
    return text


def _find(ident: str) -> Message:
    """The message an id names; ``latest`` the newest (matching ``query``, when given)."""
    return find(ident, _search(request.args.get("query")))


def _ids(values: object) -> list[int]:
    """Message ids from a request: strings or numbers; ids that name no message are
    left out, as Mailpit leaves them."""
    if not isinstance(values, list):
        raise BadRequest("IDs: expected a list of message ids")
    found = []
    for value in values:
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise BadRequest(f"IDs: {str(value)[:40]!r} is not a message id")
        number = message_number(str(value))
        if number is not None:
            found.append(number)
    return found


def _body() -> dict[str, Any]:
    """The request's fields, by Mailpit's names whatever their case: a JSON object in the
    body whatever its Content-Type (as Mailpit reads it), or a form of ``ids`` and
    ``read`` (as its Python client sends). An empty body is no fields; anything else
    unreadable is a 400."""
    data = request.get_data(cache=True)
    if not data.strip():
        return {}
    form = request.mimetype == "application/x-www-form-urlencoded"
    if form and not data.lstrip().startswith(b"{"):
        fields: dict[str, Any] = {}
        for key in request.form:
            values = request.form.getlist(key)
            if key.lower() in ("ids", "id"):
                fields["IDs"] = values
            elif key.lower() == "read":
                fields["Read"] = values[-1].lower() in ("1", "true", "yes", "on")
            else:
                fields[key] = values[-1]
        return fields
    try:
        found = json.loads(data)
    except RecursionError:
        raise BadRequest("JSON body nested too deeply") from None
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(found, dict):
        raise BadRequest("the body must be a JSON object")
    names = {"ids": "IDs", "read": "Read", "search": "Search", **sending.FIELDS}
    return {names.get(key.lower()) or key: value for key, value in found.items()}


def _given_ids(body: dict[str, Any]) -> list[int] | None:
    """The ids a request names; None when it names none (the request is about all)."""
    if "IDs" not in body or body["IDs"] is None or body["IDs"] == []:
        return None
    return _ids(body["IDs"])


# -- shapes -------------------------------------------------------------------------------


def _created(moment: datetime, fallback: datetime | None = None) -> str:
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):  # a Date header past year 9999 once in UTC
        utc = (fallback or datetime.now(UTC)).astimezone(UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _address(found: Address) -> dict[str, str]:
    return {"Name": found.name, "Address": found.address}


def _addresses(found: Iterable[Address]) -> list[dict[str, str]]:
    return [_address(a) for a in found]


def _bcc(
    message: Message, to: tuple[Address, ...], cc: tuple[Address, ...], bcc: tuple[Address, ...]
) -> tuple[Address, ...]:
    """Bcc as Mailpit shows it: the header's, then every envelope recipient that no
    header names (what a Bcc was)."""
    return bcc + tuple(Address("", r) for r in hidden_recipients(message, to, cc, bcc))


def _tags(mailboxes: Iterable[str]) -> list[str]:
    return [name for name in mailboxes if name != DEFAULT_MAILBOX]


def _snippet(summary: Summary) -> str:
    text = summary.snippet
    return text if len(text) <= SNIPPET_LENGTH else text[:SNIPPET_LENGTH] + "..."


def _summary(message: Message) -> dict[str, Any]:
    the_store = store()
    brief = the_store.summary(message)
    bcc = _bcc(message, brief.to, brief.cc, brief.bcc)
    return {
        "ID": str(message.id),
        "MessageID": brief.message_id,
        "Read": the_store.is_read(message.id),
        "From": _address(brief.sender[0]) if brief.sender else dict(_NO_ADDRESS),
        "To": _addresses(brief.to),
        "Cc": _addresses(brief.cc),
        "Bcc": _addresses(bcc),
        "ReplyTo": _addresses(brief.reply_to),
        "Subject": brief.subject,
        "Created": _created(message.received_at),
        "Username": message.delivery.auth_user or "",
        "Tags": _tags(the_store.mailboxes_of(message.id)),
        "Size": message.size,
        "Attachments": brief.attachments,
        "Snippet": _snippet(brief),
    }


def _listing(flt: Filter) -> dict[str, Any]:
    the_store = store()
    start = count_param("start", 0)
    limit = count_param("limit", 50) or sys.maxsize  # 0: all of them
    matched = the_store.matching_ids(flt)  # (oldest first)
    end = max(0, len(matched) - start)
    found = map(the_store.get, reversed(matched[max(0, end - limit) : end]))
    page = [m for m in found if m is not None]
    stats = the_store.stats()
    read = stats.count - stats.unread if flt.is_empty else the_store.read_count(matched)
    return {
        "total": stats.count,
        "unread": stats.unread,
        "count": len(page),
        "messages_count": len(matched),
        "messages_unread": len(matched) - read,
        "start": start,
        "tags": _tags(box.box.name for box in the_store.mailboxes()),
        "messages": [_summary(m) for m in page],
    }


def _canonical(name: str) -> str:
    """A header name as Go's net/textproto writes it: Message-Id, Mime-Version."""
    return "-".join(word[:1].upper() + word[1:].lower() for word in name.split("-"))


def _header_map(message: Message) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in raw_headers(message.raw):
        fields.setdefault(_canonical(name), []).append(_UNFOLD.sub(" ", value).strip())
    if "Delivered-To" not in fields and message.envelope.rcpt_tos:
        # (Mailpit's Python client needs one; the first recipient, as a delivery agent
        # would write it for that copy.)
        fields["Delivered-To"] = [message.envelope.rcpt_tos[0]]
    return dict(sorted(fields.items()))


def _list_unsubscribe(headers: dict[str, list[str]]) -> dict[str, Any]:
    header = (headers.get("List-Unsubscribe") or [""])[0]
    links = re.findall(r"<([^<>]*)>", header)
    errors = "" if not header or links else "No valid links found"
    post = (headers.get("List-Unsubscribe-Post") or [""])[0]
    return {"Header": header, "Links": links, "Errors": errors, "HeaderPost": post}


def _detail(message: Message) -> dict[str, Any]:
    the_store = store()
    parsed = the_store.parsed(message)
    headers = _header_map(message)
    files: list[dict[str, Any]] = []
    inline: list[dict[str, Any]] = []
    for part, content in part_contents(message.raw):
        if not part.is_attachment and not part.content_id:
            continue
        entry = {
            "PartID": part.part_id,
            "FileName": part.filename or part.content_id or "",
            "ContentType": part.content_type,
            "ContentID": part.content_id or "",
            "Size": len(content),
            "Checksums": {
                "MD5": hashlib.md5(content, usedforsecurity=False).hexdigest(),
                "SHA1": hashlib.sha1(content, usedforsecurity=False).hexdigest(),
                "SHA256": hashlib.sha256(content).hexdigest(),
            },
        }
        (files if part.is_attachment else inline).append(entry)
    return_path = (headers.get("Return-Path") or [""])[0].strip().strip("<>")
    sender = parsed.sender[0] if parsed.sender else None
    return {
        "ID": str(message.id),
        "MessageID": parsed.message_id or "",
        "Read": the_store.is_read(message.id),
        "From": _address(sender) if sender else dict(_NO_ADDRESS),
        "To": _addresses(parsed.to),
        "Cc": _addresses(parsed.cc),
        "Bcc": _addresses(_bcc(message, parsed.to, parsed.cc, parsed.bcc)),
        "ReplyTo": _addresses(parsed.reply_to),
        "ReturnPath": return_path or (sender.address if sender else ""),
        "Subject": parsed.subject,
        "ListUnsubscribe": _list_unsubscribe(headers),
        "Date": _created(parsed.date or message.received_at, message.received_at).replace(
            ".000Z", "Z"
        ),
        "Tags": _tags(the_store.mailboxes_of(message.id)),
        "Username": message.delivery.auth_user or "",
        "Text": _text(parsed),
        "HTML": parsed.html or "",
        "Size": message.size,
        "Inline": inline,
        "Attachments": files,
    }


def _text(parsed: Parsed) -> str:
    if parsed.text is not None:
        return parsed.text
    return html_text(parsed.html) if parsed.html else ""


def _mark_read(message: Message) -> None:
    """Opening a message marks it read, as in Mailpit (a HEAD opens nothing)."""
    if request.method == "GET":
        store().set_read(message.id, True)


def _ok() -> Response:
    return Response("ok", mimetype="text/plain")


# -- messages -----------------------------------------------------------------------------


@bp.get("/api/v1/messages")
def list_messages() -> ResponseReturnValue:
    """Messages, newest first: ``start``, ``limit`` (0: all), ``before`` a date."""
    return json_response(_listing(_search(None)))


@bp.put("/api/v1/messages")
def set_read() -> ResponseReturnValue:
    """Mark messages read or unread: ``{"IDs": [...], "Read": true}``, or ``{"Search":
    "...", "Read": true}``; neither: all of them."""
    body = _body()
    read = body.get("Read", False)
    if not isinstance(read, bool):
        raise BadRequest("Read: expected true or false")
    ids = _given_ids(body)
    search = body.get("Search") or ""
    if not isinstance(search, str):
        raise BadRequest("Search: expected search text")
    if ids is not None and search:
        raise BadRequest("You may specify either IDs or a search query, not both")
    the_store = store()
    if ids is None:
        ids = the_store.matching_ids(_search(search))
    the_store.set_read_many(ids, read)
    return _ok()


@bp.delete("/api/v1/messages")
def delete_messages() -> ResponseReturnValue:
    """Delete ``{"IDs": [...]}``, or every message when no ids are given.

    The answer is an empty 200: MailHog's clients share this route and read any body as
    JSON; Mailpit's accept any 200."""
    ids = _given_ids(_body())
    if ids is None:
        store().clear()
    else:
        store().delete_many(ids)
    return Response(b"", status=200, mimetype="text/plain")


@bp.get("/api/v1/search")
def search() -> ResponseReturnValue:
    """Messages matching ``query`` (Mailpit's search syntax), newest first."""
    return json_response(_listing(_search(_required_query())))


@bp.delete("/api/v1/search")
def delete_search() -> ResponseReturnValue:
    """Delete every message matching ``query``."""
    store().delete_matching(_search(_required_query()))
    return _ok()


@bp.get("/api/v1/message/<ident>")
def get_message(ident: str) -> ResponseReturnValue:
    """One message, whole; marks it read, as Mailpit does."""
    message = _find(ident)
    shaped = _detail(message)
    _mark_read(message)
    return json_response(shaped)


@bp.get("/api/v1/message/<ident>/headers")
def headers(ident: str) -> ResponseReturnValue:
    """Header fields as sent (encoded-words kept), by name: ``{"Subject": ["..."]}``."""
    return json_response(_header_map(_find(ident)))


@bp.get("/api/v1/message/<ident>/raw")
def raw(ident: str) -> ResponseReturnValue:
    """The exact bytes received; ``dl=1`` saves ``<ID>.eml``."""
    return raw_response(_find(ident), text=True, download=request.args.get("dl") == "1")


@bp.get("/api/v1/message/<ident>/part/<part_id>")
def part(ident: str, part_id: str) -> ResponseReturnValue:
    """One part, decoded."""
    message = _find(ident)
    response = part_response(message, part_id, "inline")
    if response is None:
        raise NotFound(f"message {message.id} has no part {part_id[:40]!r}")
    return response


@bp.get("/api/v1/message/<ident>/part/<part_id>/thumb")
def thumbnail(ident: str, part_id: str) -> ResponseReturnValue:
    """The image itself (catcher does not scale images)."""
    return part(ident, part_id)


@bp.get("/api/v1/message/<ident>/html-check")
def html_check(ident: str) -> ResponseReturnValue:
    """Client support of the HTML (caniemail's data) in Mailpit's shape and arithmetic
    (``compat.mailpit_checks``); 400 without an HTML body."""
    report = json.loads(report_json(_find(ident)))
    if not report["html"]["present"]:
        raise BadRequest("message does not contain HTML")
    return json_response(mailpit_checks.html_check(report))


@bp.get("/api/v1/message/<ident>/link-check")
def link_check(ident: str) -> ResponseReturnValue:
    """The links Mailpit checks, judged by their text, never fetched
    (``compat.mailpit_checks``); ``follow`` is accepted and ignored."""
    message = _find(ident)
    report = json.loads(report_json(message))
    return json_response(mailpit_checks.link_check(report, store().parsed(message).text or ""))


@bp.post("/api/v1/message/<ident>/release")
def release(ident: str) -> ResponseReturnValue:
    """Refused: catcher never relays mail."""
    _find(ident)
    raise BadRequest("catcher never relays mail: release is not available")


@bp.get("/view/<ident>.html")
def view_html(ident: str) -> ResponseReturnValue:
    """The HTML body as a page no script runs in; marks the message read."""
    message = _find(ident)
    response = html_response(message)
    if response is None:
        raise NotFound("This message does not contain a HTML part")
    _mark_read(message)
    return response


@bp.get("/view/<ident>.txt")
def view_text(ident: str) -> ResponseReturnValue:
    """The text body (made from the HTML when there is no text part); marks it read."""
    message = _find(ident)
    text = _text(store().parsed(message))
    _mark_read(message)
    return Response(text, mimetype="text/plain")


# -- sending ------------------------------------------------------------------------------


@bp.post("/api/v1/send")
def send() -> ResponseReturnValue:
    """Build a message from JSON and store it as if it came over SMTP: ``{"ID": "..."}``."""
    settings = app_state().settings
    request.max_content_length = settings.max_request_body
    try:
        raw, envelope = sending.compose(_body(), settings.max_recipients)
    except (BadRequest, sending.SendError) as exc:
        return json_response({"Error": str(exc)}, 400)
    the_store = store()
    limit = settings.max_message_size
    if len(raw) > limit:
        return json_response({"Error": f"message is {len(raw)} bytes, over the {limit} limit"}, 400)
    delivery = Delivery(request.remote_addr or "", "api", False, None)
    message = the_store.add(raw, envelope, delivery)
    return json_response({"ID": str(message.id)})


# -- the server ---------------------------------------------------------------------------


@bp.get("/api/v1/info")
def info() -> ResponseReturnValue:
    """About this server, in Mailpit's shape."""
    the_store = store()
    stats = the_store.stats()
    status = app_state().status()
    return json_response(
        {
            "Version": f"catcher {__version__}",
            "LatestVersion": "",
            "Database": "",
            "DatabaseSize": 0,
            "Messages": stats.count,
            "Unread": stats.unread,
            "Tags": {
                box.box.name: box.count
                for box in the_store.mailboxes()
                if box.box.name != DEFAULT_MAILBOX
            },
            "RuntimeStats": {
                "Uptime": int(status.uptime),
                "Memory": stats.held_bytes,
                "MessagesDeleted": stats.deleted,
                "SMTPAccepted": status.smtp_accepted,
                "SMTPAcceptedSize": stats.bytes,
                "SMTPRejected": status.smtp_rejected,
                "SMTPIgnored": 0,
            },
        }
    )


@bp.get("/api/v1/webui")
def webui() -> ResponseReturnValue:
    """The web UI's settings, in Mailpit's shape: no relay, no SpamAssassin; chaos is
    catcher's fault rules."""
    return json_response(
        {
            "Label": "catcher",
            "MessageRelay": {
                "Enabled": False,
                "SMTPServer": "",
                "ReturnPath": "",
                "AllowedRecipients": "",
                "BlockedRecipients": "",
                "OverrideFrom": "",
                "PreserveMessageIDs": False,
            },
            "SpamAssassin": False,
            "ChaosEnabled": True,
            "DuplicatesIgnored": False,
            "HideDeleteAllButton": False,
        }
    )


@bp.get("/api/v1/tags")
def tags() -> ResponseReturnValue:
    """Every tag: catcher's mailboxes, ``default`` left out."""
    return json_response(_tags(box.box.name for box in store().mailboxes()))


@bp.route("/api/v1/tags", methods=["PUT"])
@bp.route("/api/v1/tags/<tag>", methods=["PUT", "DELETE"])
def change_tags(tag: str | None = None) -> ResponseReturnValue:
    """Refused: tags are catcher's mailboxes, which routing fills."""
    raise BadRequest(
        "tags are catcher's mailboxes, filled by routing (SMTP login, recipient patterns, "
        "plus tags): create one with POST /api/mailboxes"
    )


@bp.get("/api/v1/chaos")
def chaos() -> ResponseReturnValue:
    """Mailpit's chaos triggers: a view onto catcher's fault rules (source ``chaos``)."""
    return json_response(app_state().faults.view(CHAOS) or _triggers({}))


@bp.put("/api/v1/chaos")
def set_chaos() -> ResponseReturnValue:
    """Set the triggers: ``{"Sender": {"ErrorCode": 451, "Probability": 20}, "Recipient":
    ..., "Authentication": ...}`` (a probability in percent; one left out is off). Each
    becomes a fault rule with that probability: MAIL, RCPT or AUTH answered with the code."""
    triggers = _triggers(_body())
    specs = []
    for name, stage in CHAOS_STAGES.items():
        code, percent = triggers[name]["ErrorCode"], triggers[name]["Probability"]
        if percent > 0:
            reply = f"{code} {code // 100}.3.0 Chaos {name.lower()} error"
            specs.append({"stage": stage, "reply": reply, "probability": percent / 100})
    try:
        app_state().faults.replace(CHAOS, specs, triggers)
    except FaultError as exc:
        raise BadRequest(str(exc)) from None
    return json_response(triggers)


def _triggers(given: dict[str, Any]) -> dict[str, dict[str, int]]:
    triggers = {}
    for name in CHAOS_STAGES:
        trigger = given.get(name) or {}
        if not isinstance(trigger, dict):
            raise BadRequest(f'{name}: expected {{"ErrorCode": 451, "Probability": 0}}')
        code = trigger.get("ErrorCode", 451)
        chance = trigger.get("Probability", 0)
        if isinstance(code, bool) or not isinstance(code, int) or not 400 <= code <= 599:
            raise BadRequest(f"{name}.ErrorCode: expected a code from 400 to 599")
        if isinstance(chance, bool) or not isinstance(chance, int) or not 0 <= chance <= 100:
            raise BadRequest(f"{name}.Probability: expected a percentage from 0 to 100")
        triggers[name] = {"ErrorCode": code, "Probability": chance}
    return triggers
