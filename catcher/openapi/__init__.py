"""The OpenAPI 3.1 description of the JSON API, served at /api/openapi.json."""

from __future__ import annotations

from functools import cache
from typing import Any

from catcher import __version__
from catcher.openapi.schemas import COMPONENTS, DELETED, NEW_FAULT


def _param(
    name: str, description: str, schema: dict[str, Any], where: str = "query"
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "description": description,
        "schema": schema,
        "required": where == "path",
    }


_TEXT = {"type": "string", "maxLength": 1000}


def _platforms() -> dict[str, Any]:
    """``platform=``: a comma-separated list of groups and caniemail's platform names."""
    from catcher.checks import PLATFORM_GROUPS, platform_names

    word = "|".join(["all", *PLATFORM_GROUPS, *platform_names()])
    return {"type": "string", "maxLength": 200, "pattern": f"^(({word})(,({word}))*)?$"}


# 1 to 64 of A-Z a-z 0-9 . _ -, not only dots.
NAME_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "pattern": "^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$",
}
FILTERS = [
    _param("to", "recipient: envelope, To, Cc or Bcc (substring, any case)", _TEXT),
    _param("from", "sender: envelope or From (substring, any case)", _TEXT),
    _param("subject", "subject (substring, any case)", _TEXT),
    _param(
        "q",
        "search text (Mailpit's syntax): words and quoted phrases in subject, addresses, body "
        "text or attachment names; from: to: cc: bcc: reply-to: addressed: subject: "
        "message-id: tag: is:read is:unread is:tagged has:attachment has:inline before: after: "
        "larger: smaller:; - or ! negates a term; every term must hold (400 when one is "
        "unreadable)",
        _TEXT,
    ),
    _param(
        "tz", "IANA time zone for dates without an offset in q (UTC when unknown or absent)", _TEXT
    ),
    _param("since", "only messages with an id after this", {"type": "integer", "minimum": 0}),
    _param(
        "mailbox",
        "only this mailbox's messages (404 when it does not exist; wait and events wait for it)",
        NAME_SCHEMA,
    ),
]
MAILBOX_NAME = _param("name", "a mailbox name", NAME_SCHEMA, "path")
RULE_ID = _param("rule_id", "a fault rule's id", {"type": "integer", "minimum": 0}, "path")
_FAULT_REF = {"$ref": "#/components/schemas/Fault"}
_READ_BODY = {
    "type": "object",
    "required": ["read"],
    "additionalProperties": False,
    "properties": {"read": {"type": "boolean"}},
}
_NEW_MAILBOX = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": NAME_SCHEMA,
        "recipients": {
            "type": "array",
            "maxItems": 100,
            "items": {"type": "string", "minLength": 1, "maxLength": 320},
        },
        "smtp_user": {"type": "string", "minLength": 1, "maxLength": 256},
        "smtp_password": {
            "type": "string",
            "description": "the login's password (the login is the name when smtp_user "
            "is not given)",
        },
    },
}
IDENT = _param(
    "ident",
    "a message id, or `latest` for the newest (newest matching the filters)",
    {"type": "string", "pattern": "^([0-9]+|latest)$"},
    "path",
)
PART_ID = _param("part_id", "a part id such as 1 or 2.1", {"type": "string"}, "path")


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _json({"$ref": "#/components/schemas/Error"}, description)


def _body(media: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


_NOT_FOUND = _err("no such message (or part, or mailbox)")
_BAD = _err("a parameter is not valid")
_REF = {"$ref": "#/components/schemas/Detail"}


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once; never change what it returns); a test checks it
    lists exactly the app's routes."""
    with_id = [IDENT, *FILTERS]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "catcher",
            "version": __version__,
            "description": "The JSON API of a local-development mail catcher. Errors are "
            '`{"error": "..."}`. Cross-origin requests are refused unless allowed.',
        },
        "paths": {
            "/api/health": {
                "get": {
                    "summary": "200 when SMTP and HTTP are up",
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"status": {"type": "string"}}}
                        ),
                        "503": _json({"type": "object"}, "a server is down"),
                    },
                }
            },
            "/api/stats": {
                "get": {
                    "summary": "counts, bytes, caps, evictions, SMTP totals; one mailbox's counts",
                    "parameters": [FILTERS[-1]],
                    "responses": {
                        "200": _json(
                            {
                                "oneOf": [
                                    {
                                        "type": "object",
                                        "required": ["messages", "bytes", "evicted", "version"],
                                    },
                                    {"$ref": "#/components/schemas/Mailbox"},
                                ]
                            }
                        ),
                        "400": _BAD,
                        "404": _NOT_FOUND,
                    },
                }
            },
            "/api/mailboxes": {
                "get": {
                    "summary": "every mailbox, with its counts and routing",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["all", "mailboxes"],
                                "properties": {
                                    "all": {
                                        "type": "object",
                                        "required": ["messages", "unread"],
                                        "properties": {
                                            "messages": {"type": "integer"},
                                            "unread": {"type": "integer"},
                                        },
                                    },
                                    "mailboxes": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Mailbox"},
                                    },
                                },
                            }
                        )
                    },
                },
                "post": {
                    "summary": "make a mailbox",
                    "requestBody": _json_body(_NEW_MAILBOX),
                    "responses": {
                        "201": _json({"$ref": "#/components/schemas/Mailbox"}, "made"),
                        "400": _BAD,
                        "409": _err("it exists, or its smtp_user routes elsewhere"),
                    },
                },
            },
            "/api/faults": {
                "get": {
                    "summary": "the fault rules in force, in order, with how often each fired",
                    "parameters": [FILTERS[-1]],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["faults", "fired"],
                                "properties": {
                                    "faults": {"type": "array", "items": _FAULT_REF},
                                    "fired": {"type": "integer"},
                                },
                            }
                        ),
                        "400": _BAD,
                    },
                },
                "post": {
                    "summary": "add a fault rule, tried after the others",
                    "parameters": [FILTERS[-1]],
                    "requestBody": _json_body(NEW_FAULT),
                    "responses": {"201": _json(_FAULT_REF, "added"), "400": _BAD},
                },
                "delete": {
                    "summary": "remove every rule (with mailbox=, that mailbox's)",
                    "parameters": [FILTERS[-1]],
                    "responses": {"200": _json(DELETED), "400": _BAD},
                },
            },
            "/api/faults/{rule_id}": {
                "get": {
                    "summary": "one rule",
                    "parameters": [RULE_ID, FILTERS[-1]],
                    "responses": {"200": _json(_FAULT_REF), "400": _BAD, "404": _NOT_FOUND},
                },
                "delete": {
                    "summary": "remove one rule",
                    "parameters": [RULE_ID, FILTERS[-1]],
                    "responses": {"200": _json(DELETED), "400": _BAD, "404": _NOT_FOUND},
                },
            },
            "/api/sessions": {
                "get": {
                    "summary": "the last SMTP conversations, newest first",
                    "parameters": [
                        _param(
                            "limit",
                            "how many",
                            {"type": "integer", "minimum": 0, "maximum": 200, "default": 50},
                        )
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["sessions"],
                                "properties": {
                                    "sessions": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Session"},
                                    }
                                },
                            }
                        ),
                        "400": _BAD,
                    },
                }
            },
            "/api/mailboxes/{name}": {
                "get": {
                    "summary": "one mailbox",
                    "parameters": [MAILBOX_NAME],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Mailbox"}),
                        "404": _NOT_FOUND,
                    },
                },
                "delete": {
                    "summary": "delete a mailbox and the messages only it held",
                    "parameters": [MAILBOX_NAME],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["deleted", "messages", "ids"],
                                "properties": {
                                    "deleted": {"type": "string"},
                                    "messages": {"type": "integer"},
                                    "ids": {"type": "array", "items": {"type": "integer"}},
                                },
                            }
                        ),
                        "404": _NOT_FOUND,
                    },
                },
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "this document",
                    "responses": {
                        "200": _json({"type": "object"}),
                    },
                }
            },
            "/api/messages": {
                "get": {
                    "summary": "summaries, newest first",
                    "parameters": [
                        *FILTERS,
                        _param(
                            "limit",
                            "page size",
                            {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                        ),
                        _param(
                            "offset",
                            "messages to skip",
                            {"type": "integer", "minimum": 0, "default": 0},
                        ),
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["total", "matched", "limit", "offset", "messages"],
                                "properties": {
                                    "total": {"type": "integer", "description": "all stored"},
                                    "matched": {
                                        "type": "integer",
                                        "description": "matching the filters",
                                    },
                                    "unread": {"type": "integer", "description": "stored, unread"},
                                    "limit": {"type": "integer"},
                                    "offset": {"type": "integer"},
                                    "messages": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Summary"},
                                    },
                                },
                            }
                        ),
                        "400": _BAD,
                        "404": _NOT_FOUND,
                    },
                },
                "delete": {
                    "summary": "delete all, or those matching the filters",
                    "parameters": FILTERS,
                    "responses": {"200": _json(DELETED), "400": _BAD, "404": _NOT_FOUND},
                },
                "patch": {
                    "summary": "mark every message the filters match read or unread",
                    "parameters": FILTERS,
                    "requestBody": _json_body(_READ_BODY),
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["matched", "changed", "read"],
                                "properties": {
                                    "matched": {"type": "integer"},
                                    "changed": {"type": "integer"},
                                    "read": {"type": "boolean"},
                                },
                            }
                        ),
                        "400": _BAD,
                        "404": _NOT_FOUND,
                    },
                },
                "post": {
                    "summary": "store one raw message (routed into mailboxes like SMTP mail); the "
                    "envelope from `from` and `to`, else from its headers",
                    "parameters": [
                        _param("from", "MAIL FROM (default: the From header's address)", _TEXT),
                        _param(
                            "to",
                            "RCPT TO, repeatable (default: the To, Cc and Bcc addresses)",
                            {"type": "array", "items": _TEXT},
                        ),
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"message/rfc822": {"schema": {"type": "string"}}},
                    },
                    "responses": {
                        "201": _json({"$ref": "#/components/schemas/Summary"}, "stored"),
                        "400": _BAD,
                        "413": _err("larger than the message size cap"),
                    },
                },
            },
            "/api/messages/export": {
                "get": {
                    "summary": "the matching messages, oldest first, as an mbox file (mboxrd)",
                    "parameters": [
                        *FILTERS,
                        _param(
                            "format", "mbox, the only format", {"type": "string", "enum": ["mbox"]}
                        ),
                    ],
                    "responses": {
                        "200": _body("application/mbox", "an mbox file"),
                        "400": _BAD,
                        "404": _NOT_FOUND,
                    },
                }
            },
            "/api/messages/wait": {
                "get": {
                    "summary": "the first matching message after `since`, waiting for it to arrive",
                    "parameters": [
                        *FILTERS,
                        _param(
                            "timeout",
                            "seconds to wait",
                            {"type": "number", "minimum": 0, "maximum": 60, "default": 10},
                        ),
                    ],
                    "responses": {
                        "200": _json(_REF),
                        "400": _BAD,
                        "408": _err("nothing arrived in time"),
                    },
                }
            },
            "/api/messages/{ident}": {
                "get": {
                    "summary": "the whole message",
                    "parameters": with_id,
                    "responses": {"200": _json(_REF), "400": _BAD, "404": _NOT_FOUND},
                },
                "patch": {
                    "summary": "mark read or unread",
                    "parameters": with_id,
                    "requestBody": _json_body(_READ_BODY),
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Summary"}),
                        "400": _BAD,
                        "404": _NOT_FOUND,
                    },
                },
                "delete": {
                    "summary": "delete one message",
                    "parameters": with_id,
                    "responses": {"200": _json(DELETED), "400": _BAD, "404": _NOT_FOUND},
                },
            },
            "/api/messages/{ident}/raw": {
                "get": {
                    "summary": "the exact bytes received",
                    "parameters": [
                        *with_id,
                        _param(
                            "download",
                            "1 to save as <id>.eml",
                            {"type": "string", "enum": ["0", "1"]},
                        ),
                        _param(
                            "inline",
                            "1 to serve it as text/plain, so a browser shows it",
                            {"type": "string", "enum": ["0", "1"]},
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "the message (as text/plain with inline=1)",
                            "content": {
                                "message/rfc822": {"schema": {"type": "string"}},
                                "text/plain": {"schema": {"type": "string"}},
                            },
                        },
                        "400": _BAD,
                        "404": _NOT_FOUND,
                    },
                }
            },
            "/api/messages/{ident}/html": {
                "get": {
                    "summary": "the HTML body, cid: images resolved, served so no script runs",
                    "parameters": [
                        *with_id,
                        _param(
                            "block_remote",
                            "1 to block remote images, styles and fonts",
                            {"type": "string", "enum": ["0", "1"]},
                        ),
                        _param(
                            "scheme",
                            "show it as mail clients do in a colour scheme: light or dark "
                            "(the email's own prefers-color-scheme rules for that scheme "
                            "apply, the others never, whatever the viewer's setting; an "
                            "email that declares dark support gets a dark canvas), or "
                            "invert (an approximation of the forced inversion of the Gmail "
                            "and Outlook apps, images turned back); left out, the HTML is "
                            "served as it is",
                            {"type": "string", "enum": ["light", "dark", "invert"]},
                        ),
                    ],
                    "responses": {
                        "200": _body("text/html", "the HTML body"),
                        "400": _BAD,
                        "404": _NOT_FOUND,
                    },
                }
            },
            "/api/messages/{ident}/check": {
                "get": {
                    "summary": "will this email work: client compatibility (caniemail's data), "
                    "lint findings and links, all offline",
                    "parameters": [
                        *with_id,
                        _param(
                            "platform",
                            "narrow compatibility to platforms: desktop, mobile, web, or "
                            "caniemail's platform names (comma-separated; all by default)",
                            _platforms(),
                        ),
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Check"}),
                        "400": _BAD,
                        "404": _NOT_FOUND,
                    },
                }
            },
            "/api/messages/{ident}/text": {
                "get": {
                    "summary": "the text body",
                    "parameters": with_id,
                    "responses": {
                        "200": _body("text/plain", "the text body"),
                        "400": _BAD,
                        "404": _NOT_FOUND,
                    },
                }
            },
            "/api/messages/{ident}/headers": {
                "get": {
                    "summary": "headers in order, repeats kept",
                    "parameters": with_id,
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Headers"}),
                        "400": _BAD,
                        "404": _NOT_FOUND,
                    },
                }
            },
            "/api/messages/{ident}/parts/{part_id}": {
                "get": {
                    "summary": "one part, decoded",
                    "parameters": [
                        *with_id,
                        PART_ID,
                        _param("download", "1 to save it", {"type": "string", "enum": ["0", "1"]}),
                    ],
                    "responses": {
                        "200": {"description": "the part's bytes, with its content type"},
                        "400": _BAD,
                        "404": _NOT_FOUND,
                    },
                }
            },
            "/api/events": {
                "get": {
                    "summary": "server-sent events: message, delete, clear, read, mailbox, "
                    "heartbeat, reset",
                    "parameters": [
                        FILTERS[-1],
                        _param(
                            "last_event_id",
                            "resume after this event (or the Last-Event-ID header)",
                            {"type": "integer", "minimum": 0},
                        ),
                        _param(
                            "heartbeat",
                            "seconds between heartbeat events when nothing happens",
                            {"type": "number", "minimum": 1, "maximum": 300, "default": 15},
                        ),
                    ],
                    "responses": {
                        "200": _body("text/event-stream", "the event stream"),
                        "400": _BAD,
                    },
                }
            },
        },
        "components": {"schemas": COMPONENTS},
    }
