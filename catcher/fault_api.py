"""The fault rules and the SMTP session log under /api: ``/api/faults`` and ``/api/sessions``."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from catcher import wire
from catcher.api import (
    BadRequest,
    NotFound,
    answer_errors_in_json,
    count_param,
    json_body,
    mailbox_param,
)
from catcher.faults import FaultError
from catcher.state import app_state

bp = Blueprint("faults", __name__, url_prefix="/api")
answer_errors_in_json(bp)


@bp.get("/faults")
def list_faults() -> ResponseReturnValue:
    """The rules in force, in the order they are tried, each with how often it fired;
    with ``mailbox=``, those of that mailbox."""
    faults = app_state().faults
    mailbox = mailbox_param(must_exist=False)
    return wire.json_response({"faults": faults.rules(mailbox), "fired": faults.fired})


@bp.post("/faults")
def add_fault() -> ResponseReturnValue:
    """Add a rule, tried after the others: ``{"stage": "rcpt", "match": {"to":
    "ada@example.com"}, "reply": "451 4.3.0 Try again later", "times": 1}``; with
    ``mailbox=``, it matches that mailbox's mail only. 201 with the rule and its id."""
    mailbox = mailbox_param(must_exist=False)
    try:
        rule = app_state().faults.add(json_body(), mailbox=mailbox)
    except FaultError as exc:
        raise BadRequest(str(exc)) from None
    return wire.json_response(rule, 201)


@bp.delete("/faults")
def clear_faults() -> ResponseReturnValue:
    """Remove every rule (with ``mailbox=``, that mailbox's)."""
    removed = app_state().faults.clear(mailbox_param(must_exist=False))
    return wire.json_response({"deleted": len(removed), "ids": removed})


@bp.get("/faults/<int:rule_id>")
def get_fault(rule_id: int) -> ResponseReturnValue:
    """One rule, with how often it fired."""
    faults = app_state().faults
    found = faults.get(rule_id, mailbox_param(must_exist=False))
    if found is None:
        finished = faults.finished(rule_id)
        if finished is not None:  # how it ended, for those who ask how often it fired
            error = f"fault rule {rule_id} used up its times and is gone"
            return wire.json_response({"error": error, "finished": finished}, 404)
        raise NotFound(f"no fault rule {rule_id}")
    return wire.json_response(found)


@bp.delete("/faults/<int:rule_id>")
def delete_fault(rule_id: int) -> ResponseReturnValue:
    """Remove one rule."""
    if not app_state().faults.remove(rule_id, mailbox_param(must_exist=False)):
        raise NotFound(f"no fault rule {rule_id}")
    return wire.json_response({"deleted": 1, "ids": [rule_id]})


@bp.get("/sessions")
def sessions() -> ResponseReturnValue:
    """The last SMTP conversations, newest first: commands and replies (not the message
    data; AUTH credentials masked), the fault rules that fired, the ids stored;
    ``limit`` (default 50, at most 200)."""
    limit = count_param("limit", 50, 200)
    return wire.json_response({"sessions": app_state().sessions.sessions(limit)})
