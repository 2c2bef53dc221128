"""The shapes of what the JSON API answers (``wire.py``'s output) as JSON Schema: the
OpenAPI document's components."""

from __future__ import annotations

from typing import Any

__all__ = ["COMPONENTS", "DELETED"]

ADDRESS = {
    "type": "object",
    "required": ["name", "address"],
    "properties": {"name": {"type": "string"}, "address": {"type": "string"}},
}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "what was wrong"}},
}
SUMMARY = {
    "type": "object",
    "required": [
        "id",
        "received_at",
        "envelope",
        "from",
        "to",
        "to_count",
        "cc",
        "cc_count",
        "subject",
        "size",
        "attachments",
        "snippet",
        "read",
        "defect_count",
        "mailboxes",
    ],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "received_at": {"type": "string", "format": "date-time"},
        "envelope": {
            "type": "object",
            "required": ["mail_from", "rcpt_to", "rcpt_count"],
            "properties": {
                "mail_from": {"type": "string"},
                "rcpt_to": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "in lists, the first 50; in a message, all",
                },
                "rcpt_count": {"type": "integer"},
            },
        },
        "from": {"oneOf": [{"$ref": "#/components/schemas/Address"}, {"type": "null"}]},
        "to": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/Address"},
            "description": "in lists, the first 50; in a message, all",
        },
        "to_count": {"type": "integer", "description": "how many addresses To names"},
        "cc": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/Address"},
            "description": "in lists, the first 50; in a message, all",
        },
        "cc_count": {"type": "integer"},
        "subject": {"type": "string"},
        "size": {"type": "integer", "description": "bytes received"},
        "attachments": {"type": "integer"},
        "snippet": {"type": "string", "maxLength": 200},
        "read": {"type": "boolean"},
        "defect_count": {"type": "integer", "description": "how many parsing problems were found"},
        "mailboxes": {"type": "array", "items": {"type": "string"}},
    },
}
PART = {
    "type": "object",
    "required": [
        "part_id",
        "content_type",
        "charset",
        "filename",
        "size",
        "content_id",
        "disposition",
        "is_attachment",
        "url",
    ],
    "properties": {
        "part_id": {"type": "string", "examples": ["1", "2.1"]},
        "content_type": {"type": "string"},
        "charset": {"type": ["string", "null"]},
        "filename": {"type": ["string", "null"]},
        "size": {"type": "integer", "description": "decoded bytes"},
        "content_id": {"type": ["string", "null"]},
        "disposition": {"type": "string", "enum": ["inline", "attachment", ""]},
        "is_attachment": {"type": "boolean"},
        "url": {"type": "string"},
    },
}
NULLABLE_STRING = {"type": ["string", "null"]}
DETAIL = {
    "allOf": [
        {"$ref": "#/components/schemas/Summary"},
        {
            "type": "object",
            "required": [
                "smtp",
                "from_all",
                "bcc",
                "reply_to",
                "date",
                "date_raw",
                "message_id",
                "headers",
                "text",
                "html",
                "remote_resources",
                "parts",
                "urls",
            ],
            "properties": {
                "smtp": {
                    "type": "object",
                    "required": ["client_address", "helo", "tls", "auth_user"],
                    "properties": {
                        "client_address": {"type": "string"},
                        "helo": {"type": "string"},
                        "tls": {"type": "boolean"},
                        "auth_user": NULLABLE_STRING,
                    },
                },
                "from_all": {"type": "array", "items": {"$ref": "#/components/schemas/Address"}},
                "bcc": {"type": "array", "items": {"$ref": "#/components/schemas/Address"}},
                "reply_to": {"type": "array", "items": {"$ref": "#/components/schemas/Address"}},
                "date": {"type": ["string", "null"], "format": "date-time"},
                "date_raw": NULLABLE_STRING,
                "message_id": NULLABLE_STRING,
                "headers": {"$ref": "#/components/schemas/Headers"},
                "text": NULLABLE_STRING,
                "html": NULLABLE_STRING,
                "remote_resources": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "remote URLs the HTML loads when shown (images, styles)",
                },
                "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Part"}},
                "defects": {"type": "array", "items": {"type": "string"}},
                "urls": {
                    "type": "object",
                    "properties": {
                        "raw": {"type": "string"},
                        "source": {"type": "string"},
                        "html": NULLABLE_STRING,
                        "text": NULLABLE_STRING,
                    },
                },
            },
        },
    ]
}
HEADERS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "value"],
        "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
    },
}
DELETED = {
    "type": "object",
    "required": ["deleted", "ids"],
    "properties": {
        "deleted": {"type": "integer"},
        "ids": {"type": "array", "items": {"type": "integer"}},
    },
}

MAILBOX = {
    "type": "object",
    "required": ["name", "messages", "unread", "bytes", "evicted", "created", "routing"],
    "properties": {
        "name": {"type": "string"},
        "messages": {"type": "integer"},
        "unread": {"type": "integer"},
        "bytes": {"type": "integer"},
        "evicted": {"type": "integer", "description": "messages the caps pushed out of it"},
        "created": {"type": "string", "format": "date-time"},
        "routing": {
            "type": "object",
            "required": ["origin", "recipients", "smtp_user", "plus_tag"],
            "properties": {
                "origin": {"enum": ["api", "login", "tag", "default"]},
                "recipients": {"type": "array", "items": {"type": "string"}},
                "smtp_user": {"type": ["string", "null"]},
                "plus_tag": {"type": ["string", "null"], "description": "null with --no-plus-tags"},
            },
        },
        "smtp_password": {"type": ["string", "null"], "description": "only when made"},
    },
}


FAULT_RULE_FIELDS: dict[str, Any] = {
    "stage": {"enum": ["connect", "helo", "auth", "mail", "rcpt", "data"]},
    "match": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            key: {"type": "string", "minLength": 1, "maxLength": 320}
            for key in ("to", "from", "login", "client", "mailbox")
        },
        "description": "globs, any case; every one given must match",
    },
    "action": {"enum": ["reply", "disconnect", "delay", "drop"], "default": "reply"},
    "reply": {
        "type": ["string", "null"],
        "pattern": "^[45][0-9][0-9]( [^\\r\\n]{0,500})?$",
        "description": "code and text; a 421 closes the connection after it",
    },
    "delay": {"type": "number", "minimum": 0, "maximum": 600},
    "times": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000},
    "every": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000},
    "rate": {"type": ["string", "null"], "description": "a count per time, such as 10/min"},
    "probability": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "seed": {"type": ["integer", "null"]},
}
NEW_FAULT = {
    "type": "object",
    "required": ["stage"],
    "additionalProperties": False,
    "properties": FAULT_RULE_FIELDS,
    "description": "drop only at stage data; delay needs action delay; one of every, rate "
    "and probability at most; seed only with probability",
}
FAULT = {
    "type": "object",
    "required": ["id", "stage", "match", "action", "fired"],
    "properties": {
        "id": {"type": "integer"},
        "fired": {"type": "integer"},
        "source": {"type": ["string", "null"], "description": "the peer API view that made it"},
        **FAULT_RULE_FIELDS,
    },
}
SESSION = {
    "type": "object",
    "required": ["id", "client", "started", "transcript", "faults", "messages"],
    "properties": {
        "id": {"type": "integer"},
        "client": {"type": "string"},
        "started": {"type": "string"},
        "ended": {"type": ["string", "null"]},
        "login": {"type": ["string", "null"]},
        "transcript": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["from", "line"],
                "properties": {"from": {"enum": ["client", "server"]}, "line": {"type": "string"}},
            },
        },
        "lines_dropped": {"type": "integer"},
        "faults": {"type": "array", "items": {"type": "integer"}},
        "messages": {"type": "array", "items": {"type": "integer"}},
    },
}


_COUNTS = {"type": "integer", "minimum": 0}
_SCORE = {"type": ["number", "null"], "minimum": 0, "maximum": 100}
_LINES = {"type": "array", "items": {"type": "integer", "minimum": 1}}
FINDING = {
    "type": "object",
    "description": "a lint finding: which rule, how bad, what and where",
    "required": ["rule", "severity", "category", "title", "message", "explanation", "source"]
    + ["line", "lines", "count"],
    "properties": {
        "rule": {"type": "string"},
        "severity": {"enum": ["error", "warning", "info"]},
        "category": {"type": "string"},
        "title": {"type": "string"},
        "message": {"type": "string"},
        "explanation": {"type": "string"},
        "source": {"type": ["string", "null"], "description": "where the rule comes from"},
        "line": {"type": ["integer", "null"], "description": "first line in the HTML body"},
        "lines": _LINES,
        "count": _COUNTS,
    },
}
CLIENT_RESULT = {
    "type": "object",
    "required": ["family", "platform", "client", "version", "support", "notes"],
    "properties": {
        "family": {"type": "string"},
        "platform": {"type": "string"},
        "client": {"type": "string"},
        "version": {"type": "string", "description": "the latest version caniemail tested"},
        "support": {"enum": ["yes", "partial", "no", "unknown"]},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}
FEATURE = {
    "type": "object",
    "description": "an HTML or CSS feature the email uses, and each client's support",
    "required": ["slug", "title", "category", "url", "count", "lines", "support", "clients"]
    + ["results"],
    "properties": {
        "slug": {"type": "string"},
        "title": {"type": "string"},
        "category": {"type": "string"},
        "description": {"type": "string"},
        "url": {"type": "string"},
        "count": _COUNTS,
        "lines": _LINES,
        "support": {"enum": ["supported", "partial", "mixed", "unsupported", "unknown"]},
        "clients": {
            "type": "object",
            "required": ["yes", "partial", "no", "unknown"],
            "additionalProperties": _COUNTS,
        },
        "notes": {"type": ["string", "null"]},
        "results": {"type": "array", "items": CLIENT_RESULT},
    },
}
_TALLY = {"supported": _COUNTS, "partial": _COUNTS, "unsupported": _COUNTS, "score": _SCORE}
FAMILY = {
    "type": "object",
    "required": ["family", "name", "score", "clients", "supported", "partial", "unsupported"],
    "properties": {
        "family": {"type": "string"},
        "name": {"type": "string"},
        **_TALLY,
        "clients": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["platform", "name", "version", "score"],
                "properties": {
                    "platform": {"type": "string"},
                    "name": {"type": "string"},
                    "version": {"type": "string"},
                    **_TALLY,
                },
            },
        },
    },
}
CHECK = {
    "type": "object",
    "description": "will this email work: client compatibility, lint findings and links",
    "required": ["id", "html", "size", "compatibility", "findings", "counts", "links", "fetched"],
    "properties": {
        "id": {"type": "integer"},
        "html": {
            "type": "object",
            "required": ["present", "bytes", "lines", "read", "truncated", "nodes"],
            "properties": {
                "present": {"type": "boolean"},
                "bytes": _COUNTS,
                "lines": _COUNTS,
                "read": {"type": "integer", "description": "characters of HTML read"},
                "truncated": {"type": "boolean"},
                "nodes": _COUNTS,
            },
        },
        "size": _COUNTS,
        "compatibility": {
            "type": "object",
            "required": ["score", "platforms", "families", "features", "data"],
            "properties": {
                "score": _SCORE,
                "platforms": {
                    "oneOf": [
                        {"const": "all"},
                        {"type": "array", "items": {"type": "string"}},
                    ]
                },
                "families": {"type": "array", "items": FAMILY},
                "features": {"type": "array", "items": FEATURE},
                "data": {"type": "object", "description": "caniemail: version, date, licence"},
            },
        },
        "findings": {"type": "array", "items": {"$ref": "#/components/schemas/Finding"}},
        "counts": {
            "type": "object",
            "required": ["error", "warning", "info"],
            "additionalProperties": _COUNTS,
        },
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["url", "kind", "text", "line", "problems"],
                "properties": {
                    "url": {"type": "string"},
                    "kind": {"enum": ["link", "image", "background", "stylesheet"]},
                    "text": {"type": "string"},
                    "line": {"type": "integer"},
                    "problems": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["rule", "message"],
                            "properties": {
                                "rule": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
        "fetched": {"const": False, "description": "always false: nothing is fetched"},
    },
}


COMPONENTS = {
    "Check": CHECK,
    "Finding": FINDING,
    "Fault": FAULT,
    "Session": SESSION,
    "Address": ADDRESS,
    "Error": ERROR,
    "Mailbox": MAILBOX,
    "Summary": SUMMARY,
    "Detail": DETAIL,
    "Part": PART,
    "Headers": HEADERS,
}
