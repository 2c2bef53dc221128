"""``GET /api/messages/{id}/check``: will this email work? (``catcher.checks``)."""

from __future__ import annotations

import json

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from catcher.api import BadRequest, answer_errors_in_json, find, store
from catcher.checks import check, narrow, platforms_of
from catcher.message import Message
from catcher.state import app_state

bp = Blueprint("checks", __name__, url_prefix="/api")
answer_errors_in_json(bp)


@bp.get("/messages/<ident:ident>/check")
def check_message(ident: str) -> ResponseReturnValue:
    """Client compatibility (caniemail's data; ``platform=desktop,mobile,web`` or
    platform names to narrow it), lint findings errors first, and every link, with
    nothing fetched. Made on first request, then kept."""
    try:
        platforms = platforms_of(request.args.get("platform", "")[:200].split(","))
    except ValueError as exc:
        raise BadRequest(f"platform: {exc}") from None
    return Response(report_json(find(ident), platforms), mimetype="application/json")


def report_json(message: Message, platforms: frozenset[str] | None = None) -> bytes:
    """A message's check report as JSON, from the reports already made when it is there."""
    reports = app_state().reports
    body = reports.get(message.id, platforms)
    if body is not None:
        return body
    if platforms is None:
        report = {"id": message.id, **check(message.raw, store().parsed(message))}
    else:
        # The report for every client, narrowed: the message is read once, whatever filter.
        report = json.loads(report_json(message))
        report["compatibility"] = narrow(report["compatibility"]["features"], platforms)
    body = json.dumps(report).encode()
    reports.put(message.id, platforms, body)
    return body
