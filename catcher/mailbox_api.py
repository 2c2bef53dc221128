"""The mailboxes API under /api/mailboxes: list, make, look at and delete mailboxes."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from catcher import wire
from catcher.api import BadRequest, NotFound, answer_errors_in_json, json_body, store
from catcher.mailboxes import MailboxError, MailboxStats, valid_name

bp = Blueprint("mailboxes", __name__, url_prefix="/api/mailboxes")

FIELDS = {"name", "recipients", "smtp_user", "smtp_password"}


class Conflict(HTTPException):
    code = 409


answer_errors_in_json(bp)


@bp.get("")
def list_mailboxes() -> ResponseReturnValue:
    """Every mailbox with its counts and routing, in the order they were made, and All
    mail's counts."""
    the_store = store()
    numbers = the_store.stats()
    return wire.json_response(
        {
            "all": {"messages": numbers.count, "unread": numbers.unread},
            "mailboxes": [
                wire.mailbox(m, plus_tags=the_store.plus_tags) for m in the_store.mailboxes()
            ],
        }
    )


@bp.post("")
def create_mailbox() -> ResponseReturnValue:
    """Make a mailbox: ``{"name": ..., "recipients": [globs], "smtp_user", "smtp_password"}``."""
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest('expected a JSON object such as {"name": "w1"}')
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; fields are {', '.join(sorted(FIELDS))}")
    name = body.get("name")
    if not isinstance(name, str):
        raise BadRequest("name: expected 1-64 of A-Z a-z 0-9 . _ -")
    recipients = body.get("recipients", [])
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise BadRequest('recipients: expected a list of address patterns such as ["*@w1.test"]')
    credentials = []
    for field in ("smtp_user", "smtp_password"):
        value = body.get(field)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{field}: expected a string")
        credentials.append(value)
    if credentials[1] is not None and credentials[0] is None:
        credentials[0] = name  # a password alone: the login is the mailbox's name
    try:  # the store checks the name, the patterns and the login, and says which failed
        box = store().create_mailbox(name, tuple(recipients), credentials[0], credentials[1])
    except MailboxError as error:
        if error.conflict:
            raise Conflict(str(error)) from None
        raise BadRequest(str(error)) from None
    # As made (it may be gone already, deleted by another client).
    payload = wire.mailbox(MailboxStats(box, 0, 0, 0, 0), plus_tags=store().plus_tags)
    payload["smtp_password"] = credentials[1]  # told once, to whoever made it
    return wire.json_response(payload, 201)


@bp.get("/<name>")
def get_mailbox(name: str) -> ResponseReturnValue:
    """One mailbox: its counts and routing."""
    found = store().mailbox(name) if valid_name(name) else None
    if found is None:
        raise NotFound(f"no mailbox {name[:80]!r}")
    return wire.json_response(wire.mailbox(found, plus_tags=store().plus_tags))


@bp.delete("/<name>")
def delete_mailbox(name: str) -> ResponseReturnValue:
    """Delete a mailbox and the messages only it held (others stay in their mailboxes)."""
    deleted = store().delete_mailbox(name) if valid_name(name) else None
    if deleted is None:
        raise NotFound(f"no mailbox {name[:80]!r}")
    return wire.json_response({"deleted": name, "messages": len(deleted), "ids": list(deleted)})
