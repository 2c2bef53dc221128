"""What senders forget: size, accessibility, structure, headers, unsubscribe, parts, links.

Each rule gives a finding with a severity (``error``: some readers get a broken email;
``warning``: likely to hurt; ``info``: worth knowing), a short explanation, and a link
to the rule's source where one exists. Nothing is fetched: links are judged by their text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from catcher.checks import links
from catcher.checks.document import LINES_KEPT, Document
from catcher.parsing import Parsed, html_text

__all__ = ["RULES", "SEVERITIES", "Finding", "Rule", "contrast", "lint", "list_links"]

SEVERITIES = ("error", "warning", "info")
GMAIL_CLIP = 102 * 1024
MESSAGE_WARN = 10 * 1024 * 1024
MESSAGE_ERROR = 25 * 1024 * 1024
LINKS_KEPT = 1000

WCAG = "https://www.w3.org/WAI/WCAG22/Understanding/"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: str
    severity: str
    title: str
    explanation: str
    source: str | None = None


RULES = {
    rule.id: rule
    for rule in [
        Rule(
            "gmail-clipping",
            "size",
            "error",
            "HTML over 102 KB",
            'Gmail cuts HTML bodies over 102 KB and hides the rest behind a "View entire '
            'message" link, '
            "with whatever the end holds (often the unsubscribe link).",
        ),
        Rule(
            "message-too-large",
            "size",
            "error",
            "Message over 25 MB",
            "Gmail refuses messages over 25 MB and Outlook.com over 20 MB, counted after "
            "base64, which adds a third to every attachment.",
        ),
        Rule(
            "message-size",
            "size",
            "warning",
            "Large message",
            "Over 10 MB: slow to download on a phone, and close to what providers refuse "
            "(25 MB at Gmail, 20 MB at Outlook.com, counted after base64).",
        ),
        Rule(
            "image-dimensions",
            "size",
            "warning",
            "Images without width and height",
            "Without width and height the layout jumps as images load, and Outlook on Windows "
            "shows "
            "images at their natural size.",
        ),
        Rule(
            "img-alt",
            "accessibility",
            "error",
            "Images without alt",
            "Screen readers read the file name, and clients that block images show nothing. "
            'Use alt="" for images that only decorate.',
            WCAG + "non-text-content.html",
        ),
        Rule(
            "html-lang",
            "accessibility",
            "warning",
            "No lang on <html>",
            "Screen readers pick their voice and pronunciation from the document's language.",
            WCAG + "language-of-page.html",
        ),
        Rule(
            "title",
            "accessibility",
            "warning",
            "No <title>",
            "Screen readers and some clients (and the browser view) announce the title.",
            WCAG + "page-titled.html",
        ),
        Rule(
            "table-role",
            "accessibility",
            "warning",
            'Layout tables without role="presentation"',
            "Screen readers announce rows and columns of a table used for layout unless it has "
            'role="presentation".',
            WCAG + "info-and-relationships.html",
        ),
        Rule(
            "contrast",
            "accessibility",
            "warning",
            "Low text contrast",
            "WCAG AA asks for a contrast of 4.5:1 for text (3:1 for large text); computed "
            "from the inline "
            "colours in force.",
            WCAG + "contrast-minimum.html",
        ),
        Rule(
            "link-text",
            "accessibility",
            "warning",
            "Links without text",
            "A link with no text, no image alt and no aria-label is announced as its URL, or "
            "not at all.",
            WCAG + "link-purpose-in-context.html",
        ),
        Rule(
            "text-alternative",
            "structure",
            "warning",
            "No plain-text part",
            "Clients that show text only (and some spam filters) expect a text/plain "
            "alternative to the HTML.",
        ),
        Rule(
            "text-differs",
            "structure",
            "warning",
            "The text part differs from the HTML",
            "The plain-text alternative should say what the HTML says, links included.",
        ),
        Rule(
            "header-from",
            "structure",
            "error",
            "No From",
            "Every message needs a From header.",
            "https://www.rfc-editor.org/rfc/rfc5322#section-3.6",
        ),
        Rule(
            "header-date",
            "structure",
            "warning",
            "No Date",
            "Every message needs a Date header; relays may add one, with their own clock.",
            "https://www.rfc-editor.org/rfc/rfc5322#section-3.6",
        ),
        Rule(
            "header-message-id",
            "structure",
            "warning",
            "No Message-ID",
            "Threading and deduplication rely on Message-ID.",
            "https://www.rfc-editor.org/rfc/rfc5322#section-3.6.4",
        ),
        Rule(
            "list-unsubscribe-missing",
            "structure",
            "warning",
            "Bulk-looking mail without List-Unsubscribe",
            "Gmail and Yahoo require List-Unsubscribe (with one-click) on bulk mail.",
            "https://www.rfc-editor.org/rfc/rfc8058",
        ),
        Rule(
            "list-unsubscribe-malformed",
            "structure",
            "error",
            "Malformed List-Unsubscribe",
            "List-Unsubscribe is a comma-separated list of <URI>s (mailto: or https:); "
            "one-click needs "
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click and an https URI.",
            "https://www.rfc-editor.org/rfc/rfc8058",
        ),
        Rule(
            "insecure-resource",
            "links",
            "warning",
            "Resources over http:",
            "Images and styles over plain http: are blocked or flagged as insecure by some "
            "clients.",
        ),
        Rule(
            "cid-missing",
            "structure",
            "error",
            "cid: reference with no part",
            "The HTML refers to an embedded image that the message does not contain.",
            "https://www.rfc-editor.org/rfc/rfc2392",
        ),
        Rule(
            "cid-unused",
            "structure",
            "warning",
            "Inline part never referenced",
            "An inline part with a Content-ID that the HTML never refers to shows as an "
            "attachment, or not at all.",
        ),
        Rule(
            "template-placeholder",
            "structure",
            "error",
            "Unfilled template placeholders",
            "Template syntax reached the reader: a variable was never filled in.",
        ),
        Rule(
            "link-malformed",
            "links",
            "error",
            "Malformed URLs",
            "Readers cannot open these.",
            "https://www.rfc-editor.org/rfc/rfc3986",
        ),
        Rule(
            "link-relative",
            "links",
            "error",
            "Relative URLs",
            "A mail reader has no page to resolve a relative URL against: it goes nowhere.",
        ),
        Rule(
            "link-local",
            "links",
            "warning",
            "URLs to local or private hosts",
            "localhost, private addresses and local names work on the sender's machine only.",
        ),
        Rule(
            "link-file",
            "links",
            "error",
            "file: URLs",
            "They point at a file on the reader's own machine.",
        ),
        Rule(
            "link-javascript",
            "links",
            "error",
            "javascript: URLs",
            "Mail readers never run script; the link does nothing.",
        ),
        Rule(
            "mailto-invalid",
            "links",
            "error",
            "Invalid mailto: links",
            "The address in the link cannot be written to.",
            "https://www.rfc-editor.org/rfc/rfc6068",
        ),
        Rule(
            "dark-mode",
            "dark-mode",
            "info",
            "No dark-mode styles",
            "With no prefers-color-scheme styles or color-scheme declaration, apps such as "
            "Gmail and Outlook "
            "invert the email's colours themselves in dark mode (see the preview's Inverted mode).",
        ),
    ]
}


@dataclass(slots=True)
class Finding:
    rule: str
    message: str
    lines: list[int]
    count: int = 1

    def json(self) -> dict[str, Any]:
        rule = RULES[self.rule]
        return {
            "rule": rule.id,
            "severity": rule.severity,
            "category": rule.category,
            "title": rule.title,
            "message": self.message,
            "explanation": rule.explanation,
            "source": rule.source,
            "line": self.lines[0] if self.lines else None,
            "lines": self.lines[:LINES_KEPT],
            "count": self.count,
        }


class _Findings:
    def __init__(self) -> None:
        self.by_rule: dict[str, Finding] = {}

    def add(self, rule: str, message: str, line: int | None = None, *, count: int = 1) -> None:
        found = self.by_rule.get(rule)
        if found is None:
            self.by_rule[rule] = Finding(rule, message, [line] if line else [], count)
            return
        found.count += count
        if line and not found.lines:
            found.message = message  # the message describes the first line shown
        if line and len(found.lines) < LINES_KEPT and line not in found.lines:
            found.lines.append(line)


def lint(
    parsed: Parsed,
    size: int,
    doc: Document | None,
    html_bytes: int,
    listed: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The findings for a message, errors first, then by line; ``listed`` is
    ``list_links(doc)`` when the caller has it already."""
    found = _Findings()
    headers = {name.lower(): value for name, value in reversed(parsed.headers)}
    if size > MESSAGE_ERROR:
        found.add("message-too-large", f"The message is {size:,} bytes: over 25 MB.")
    elif size > MESSAGE_WARN:
        found.add("message-size", f"The message is {size:,} bytes.")
    if "from" not in headers:
        found.add("header-from", "The message has no From header.")
    if "date" not in headers:
        found.add("header-date", "The message has no Date header.")
    if "message-id" not in headers:
        found.add("header-message-id", "The message has no Message-ID header.")
    _unsubscribe(found, headers, parsed)
    for where, value in (("subject", parsed.subject), ("text part", parsed.text or "")):
        match = links.PLACEHOLDER.search(value)
        if match:
            found.add("template-placeholder", f"The {where} holds {match.group()[:60]!r}.")
    if doc is not None:
        _html(found, parsed, doc, html_bytes, list_links(doc) if listed is None else listed)
    findings = [f.json() for f in found.by_rule.values()]
    return sorted(
        findings, key=lambda f: (SEVERITIES.index(f["severity"]), f["line"] or 0, f["rule"])
    )


def _html(
    found: _Findings,
    parsed: Parsed,
    doc: Document,
    html_bytes: int,
    listed: list[dict[str, Any]],
) -> None:
    if html_bytes > GMAIL_CLIP:
        found.add(
            "gmail-clipping",
            f"The HTML is {html_bytes:,} bytes, {html_bytes - GMAIL_CLIP:,} over Gmail's 102 KB.",
        )
    for image in doc.images:
        if image.kind != "img":
            continue
        if image.alt is None:
            found.add("img-alt", f"<img src={image.url[:80]!r}> has no alt.", image.line)
        if not image.width or not image.height:  # attributes, or width and height in CSS
            found.add(
                "image-dimensions",
                f"<img src={image.url[:80]!r}> has no width or height attribute.",
                image.line,
            )
    if not (doc.html_lang or "").strip():
        found.add("html-lang", "The <html> element has no lang attribute.")
    if not (doc.title or "").strip():
        found.add("title", "The HTML has no <title>, or an empty one.")
    for line in doc.layout_tables:
        found.add("table-role", 'A table without <th> has no role="presentation".', line)
    for colour in doc.colours:
        ratio = contrast(colour.foreground, colour.background)
        wanted = 3.0 if colour.large else 4.5
        if ratio < wanted:
            found.add(
                "contrast",
                f"Text {colour.sample!r} has a contrast of {ratio:.2f}:1 (AA wants {wanted}:1).",
                colour.line,
            )
    for link in doc.links:
        if not link.url.strip().startswith("#") and not (link.text.strip() or link.label.strip()):
            found.add("link-text", f"The link to {link.url[:80]!r} has no text.", link.line)
    visible = html_text(doc.html, 200_000)
    text = parsed.text
    if text is None:
        found.add("text-alternative", "The message has HTML and no text/plain alternative.")
    else:
        _compare_text(found, text, doc, visible)
    match = links.PLACEHOLDER.search(visible)
    if match:
        found.add("template-placeholder", f"The HTML shows {match.group()[:60]!r}.")
    _cids(found, parsed, doc)
    for item in listed:
        for problem in item["problems"]:
            found.add(problem["rule"], f"{item['url'][:120]!r} {problem['message']}.", item["line"])
    if not doc.dark_styles:
        found.add(
            "dark-mode",
            "The HTML has no prefers-color-scheme media query or color-scheme declaration.",
        )


def _compare_text(found: _Findings, text: str, doc: Document, visible: str) -> None:
    html_words = set(re.findall(r"[^\W\d_]{3,}", visible.lower()))
    if not text.strip():
        if html_words:
            found.add("text-differs", "The text part is empty.")
        return
    text_words = set(re.findall(r"[^\W\d_]{3,}", text[:400_000].lower()))
    if len(html_words) >= 20:
        shared = len(html_words & text_words) / len(html_words)
        if shared < 0.3:
            found.add("text-differs", f"The text part has only {shared:.0%} of the HTML's words.")
    web = {
        link.url.strip()
        for link in doc.links
        if link.url.strip().lower().startswith(("http://", "https://"))
    }
    in_text: set[str] = set()
    for url in links.text_urls(text[:400_000]):
        in_text.update((url, unquote(url)))
    missing = [url for url in web if url not in in_text and unquote(url) not in in_text]
    if web and missing and len(missing) * 2 > len(web):
        found.add(
            "text-differs",
            f"The text part lacks {len(missing)} of the HTML's {len(web)} links, e.g. "
            f"{missing[0][:80]!r}.",
        )


def _cids(found: _Findings, parsed: Parsed, doc: Document) -> None:
    parts = {p.content_id.strip("<> ").lower(): p for p in parsed.parts if p.content_id}
    # Any cid: in the HTML counts as a reference (VML fills, srcset, CSS), not only images.
    referenced = {unquote(m.group(1)).strip("<> ").lower() for m in _CID.finditer(doc.html)}
    for image in doc.images:
        url = image.url.strip()
        if url.lower().startswith("cid:"):
            cid = unquote(url[4:]).strip("<> ").lower()
            if cid not in parts:
                found.add("cid-missing", f"{url[:80]!r} names no part of the message.", image.line)
    for cid, part in parts.items():
        if (
            cid not in referenced
            and not part.is_attachment
            and part.content_type.startswith("image/")
        ):
            found.add(
                "cid-unused", f"Part {part.part_id} (Content-ID <{cid[:60]}>) is never referenced."
            )


_URI_LIST = re.compile(r"\s*<([^<>]*)>\s*(?:,\s*|$)")
_COMMENT = re.compile(r"\([^()]{0,200}\)")
_CID = re.compile(r"""cid:([^"'\s)>,]{1,400})""", re.IGNORECASE)
MAX_UNSUBSCRIBE = 8 * 1024


def _unsubscribe(found: _Findings, headers: dict[str, str], parsed: Parsed) -> None:
    value = headers.get("list-unsubscribe")
    post = headers.get("list-unsubscribe-post")
    body = f"{parsed.text or ''} {parsed.html or ''}"[:500_000].lower()
    bulk = (
        "list-id" in headers
        or headers.get("precedence", "").strip().lower() in ("bulk", "list", "junk")
        or "unsubscribe" in body
    )
    if value is None:
        if bulk:
            found.add(
                "list-unsubscribe-missing",
                "The message looks like bulk mail (List-Id, Precedence or an "
                "unsubscribe link) and has no List-Unsubscribe header.",
            )
        if post is not None:
            found.add(
                "list-unsubscribe-malformed",
                "List-Unsubscribe-Post is there without List-Unsubscribe.",
            )
        return
    if len(value) > MAX_UNSUBSCRIBE:
        found.add(
            "list-unsubscribe-malformed",
            f"List-Unsubscribe is {len(value):,} characters long: no reader goes through that.",
        )
        return
    uris = []
    # Comments are allowed around the URIs (RFC 2369), and white space inside is ignored.
    rest = _COMMENT.sub(" ", value).strip()
    position = 0
    while position < len(rest):
        match = _URI_LIST.match(rest, position)
        if match is None:
            found.add(
                "list-unsubscribe-malformed",
                f"List-Unsubscribe is not a list of <URI>s: {value[:120]!r}.",
            )
            return
        uris.append(re.sub(r"\s+", "", match.group(1)))
        position = match.end()
    if not uris:
        found.add("list-unsubscribe-malformed", "List-Unsubscribe is empty.")
        return
    for uri in uris:
        scheme = uri.split(":", 1)[0].lower()
        if scheme not in ("mailto", "http", "https"):
            found.add(
                "list-unsubscribe-malformed",
                f"List-Unsubscribe holds {uri[:80]!r}: only mailto: and http(s): work.",
            )
        elif problems := links.problems(uri, "link"):
            found.add(
                "list-unsubscribe-malformed", f"List-Unsubscribe's {uri[:80]!r} {problems[0][1]}."
            )
    https = any(uri.lower().startswith("https:") for uri in uris)
    if post is not None:
        if post.strip() != "List-Unsubscribe=One-Click":
            found.add(
                "list-unsubscribe-malformed",
                "List-Unsubscribe-Post must be exactly 'List-Unsubscribe=One-Click', not "
                f"{post.strip()[:80]!r}.",
            )
        elif not https:
            found.add(
                "list-unsubscribe-malformed",
                "One-click unsubscribe (List-Unsubscribe-Post) needs an https: URI.",
            )
    elif bulk and https:
        found.add(
            "list-unsubscribe-missing",
            "Bulk-looking mail with an https: unsubscribe URI but no "
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click (one-click unsubscribe).",
        )


def list_links(doc: Document) -> list[dict[str, Any]]:
    """Every link, image and stylesheet URL with its text and line, and what is wrong with it."""
    listed: list[dict[str, Any]] = []
    for link in doc.links:
        listed.append(
            _listed(
                link.url, "link", " ".join(link.text.split())[:200] or link.label[:200], link.line
            )
        )
    for image in doc.images:
        listed.append(
            _listed(
                image.url,
                "image" if image.kind == "img" else "background",
                (image.alt or "")[:200],
                image.line,
            )
        )
    for href, line in doc.stylesheets:
        listed.append(_listed(href, "stylesheet", "", line))
    listed.sort(key=lambda item: item["line"])
    return listed[:LINKS_KEPT]


def _listed(url: str, kind: str, text: str, line: int) -> dict[str, Any]:
    problems = (
        []
        if kind != "link" and url.strip().lower().startswith("cid:")
        else links.problems(url, kind)
    )
    return {
        "url": url[:2048],
        "kind": kind,
        "text": text,
        "line": line,
        "problems": [{"rule": rule, "message": message} for rule, message in problems],
    }


def contrast(
    foreground: tuple[float, float, float], background: tuple[float, float, float]
) -> float:
    """WCAG's contrast ratio of two sRGB colours (channels 0 to 1)."""
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(colour: tuple[float, float, float]) -> float:
    red, green, blue = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in colour)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue
