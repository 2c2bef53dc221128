"""Will this email work? Client compatibility (caniemail's data), lint and links, offline.

``check(raw, parsed)`` reads the message's HTML once (``document``), looks up each
feature it uses in caniemail's support tables (``caniemail``), runs the lint rules
(``lint``) and lists every URL with what is wrong with it (``links``). Nothing is
fetched: the data ships with catcher and URLs are judged by their text.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from catcher.checks.caniemail import (
    PLATFORM_GROUPS,
    compatibility,
    narrow,
    platform_names,
    platforms_of,
    used_features,
)
from catcher.checks.document import read_document
from catcher.checks.lint import RULES, SEVERITIES, lint, list_links
from catcher.parsing import Parsed

__all__ = [
    "MAX_HTML",
    "PLATFORM_GROUPS",
    "RULES",
    "SEVERITIES",
    "Reports",
    "check",
    "narrow",
    "platform_names",
    "platforms_of",
]

# HTML past this many characters is not read (the report says so): ten times what Gmail
# shows before it clips, and a bound on the time a check of hostile HTML takes.
MAX_HTML = 1024 * 1024


def check(raw: bytes, parsed: Parsed, platforms: frozenset[str] | None = None) -> dict[str, Any]:
    """The report for one message: compatibility, lint findings (errors first), links."""
    html = parsed.html
    doc = None
    html_bytes = 0
    if html is not None:
        html_bytes = len(html.encode("utf-8", "surrogatepass"))
        doc = read_document(html[:MAX_HTML])
    listed = list_links(doc) if doc is not None else []
    findings = lint(parsed, len(raw), doc, html_bytes, listed)
    counts = dict.fromkeys(SEVERITIES, 0)
    for finding in findings:
        counts[finding["severity"]] += 1
    content_types = {
        p.content_id.strip("<> ").lower(): p.content_type for p in parsed.parts if p.content_id
    }
    return {
        "html": {
            "present": html is not None,
            "bytes": html_bytes,
            "lines": html.count("\n") + 1 if html is not None else 0,
            "read": min(len(html), MAX_HTML) if html is not None else 0,
            "truncated": html is not None and len(html) > MAX_HTML,
            "nodes": doc.nodes if doc is not None else 0,
        },
        "size": len(raw),
        "compatibility": compatibility(used_features(doc, content_types) if doc else {}, platforms),
        "findings": findings,
        "counts": counts,
        "links": listed,
        "fetched": False,
    }


class Reports:
    """Reports already made, as the JSON bytes served, least recently used first; bounded
    in entries and bytes. A report depends only on the message's bytes (which never
    change) and the platforms asked for, so an entry is never stale."""

    def __init__(self, max_bytes: int = 16 * 1024 * 1024, entries: int = 256) -> None:
        self.max_bytes = max_bytes
        self.max_entries = entries
        self.bytes = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, frozenset[str] | None], bytes] = OrderedDict()

    def get(self, message_id: int, platforms: frozenset[str] | None) -> bytes | None:
        with self._lock:
            found = self._entries.get((message_id, platforms))
            if found is not None:
                self._entries.move_to_end((message_id, platforms))
            return found

    def put(self, message_id: int, platforms: frozenset[str] | None, report: bytes) -> None:
        if len(report) > self.max_bytes:
            return
        with self._lock:
            key = (message_id, platforms)
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= len(old)
            self._entries[key] = report
            self.bytes += len(report)
            while self.bytes > self.max_bytes or len(self._entries) > self.max_entries:
                _, dropped = self._entries.popitem(last=False)
                self.bytes -= len(dropped)
