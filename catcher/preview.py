"""Serving captured content safely: CSP policies, ``cid:`` rewriting, part tokens, file names.

Captured HTML is hostile. It is served with a policy that forbids script and sandboxes
the document (so its origin is opaque even when opened directly), and the inbox shows
it in an iframe without ``allow-scripts``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from functools import partial
from html import escape
from urllib.parse import quote, unquote

import tinycss2
from tinycss2.ast import (
    AtKeywordToken,
    CurlyBracketsBlock,
    IdentToken,
    LiteralToken,
    Node,
    ParenthesesBlock,
    SquareBracketsBlock,
    WhitespaceToken,
)

from catcher.checks.css import tokenized
from catcher.parsing import Part, Tag, tags

__all__ = [
    "PART_POLICY",
    "PREVIEW_POLICY",
    "PREVIEW_POLICY_LOCAL",
    "SCHEMES",
    "PartTokens",
    "color_scheme",
    "content_disposition",
    "content_type",
    "open_links_in_new_tab",
    "remote_resources",
    "rewrite_cids",
]

# No script, no plugins, no forms, no navigation of the parent.
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
# A tag's media attribute and its value, as written (searched within the tag only).
_MEDIA_VALUE = re.compile(r"""[\s/]media\s*=\s*("[^"]*"|'[^']*'|[^\s>"']+)""", re.IGNORECASE)
_HEAD = re.compile(r"<head\b[^>]{0,1000}>", re.IGNORECASE)
_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_CHARSET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$%&'+^_`{}~.-]{0,39}$")
# A tag's name, or a URL the document may load by itself: an attribute that loads what it
# names (href only on <link>), a srcset list, CSS url() and @import.
_RESOURCE = re.compile(
    r"""<(?P<tag>[a-z][a-z0-9:-]{0,40})"""
    r"""|\b(?P<attr>src|background|poster|data|lowsrc|dynsrc|href)\s*=\s*["']?\s*"""
    r"""(?P<url>(?:https?:)?//[^"'\s>]+)"""
    r"""|\bsrcset\s*=\s*["'](?P<srcset>[^"']{0,4000})"""
    r"""|(?:url\(\s*["']?|@import\s+["'])\s*(?P<css>(?:https?:)?//[^"'\s)>]+)""",
    re.IGNORECASE,
)


class PartTokens:
    """Secret-keyed tokens that let the preview load one part from its opaque origin.

    The preview's sandbox gives it no origin, so its image requests look cross-site and
    would be refused; a valid token proves the URL came from our own HTML, which no
    other site can read.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def token(self, message_id: int, part_id: str) -> str:
        digest = hmac.new(self._secret, f"{message_id}/{part_id}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def valid(self, message_id: int, part_id: str, token: str) -> bool:
        return hmac.compare_digest(token, self.token(message_id, part_id))


def rewrite_cids(body: str, parts: Iterable[Part], url: Callable[[Part], str]) -> str:
    """Point ``cid:`` references at the URLs of the parts they name."""
    by_cid = {p.content_id.lower(): p for p in parts if p.content_id}
    if not by_cid:
        return body

    def replace(match: re.Match[str]) -> str:
        part = by_cid.get(unquote(match.group(1)).strip("<>").lower())
        return match.group(0) if part is None else url(part)

    return _CID.sub(replace, body)


def open_links_in_new_tab(body: str) -> str:
    """Add ``<base target="_blank">``: the preview's sandbox allows popups, nothing else."""
    base = '<base target="_blank">'
    head = _HEAD.search(body)
    return body[: head.end()] + base + body[head.end() :] if head else base + body


def remote_resources(html: str | None) -> list[str]:
    """Remote URLs the HTML would load by itself (images, styles, fonts): tracking pixels.

    One pass of one regular expression, so any input costs time linear in its size; the
    list is for the reader (the CSP is what blocks), so a tag name is whatever ``<name``
    came last rather than a full parse.
    """
    if not html:
        return []
    found: dict[str, None] = {}
    tag = ""
    for match in _RESOURCE.finditer(html):
        kind = match.lastgroup
        if kind == "tag":
            tag = match.group("tag").lower()
        elif kind == "url" and (match.group("attr").lower() != "href" or tag == "link"):
            found.setdefault(match.group("url"))  # (an href elsewhere is a link to click)
        elif kind == "css":
            found.setdefault(match.group("css"))
        elif kind == "srcset":
            for candidate in match.group("srcset").split(","):
                url = (candidate.split() or [""])[0]
                if url.startswith("//") or url.lower().startswith(("http://", "https://")):
                    found.setdefault(url)
    return list(found)


def content_type(declared: str, charset: str | None) -> str:
    """The Content-Type to serve a part with: its own type when that is a plain token,
    with its charset only when that is one too; anything else is served as bytes."""
    if not _TYPE.match(declared):
        return "application/octet-stream"
    if charset and declared.startswith("text/") and _CHARSET.match(charset):
        return f"{declared}; charset={charset}"
    return declared


def content_disposition(kind: str, filename: str) -> str:
    """A Content-Disposition header that no filename can break (RFC 6266, RFC 5987)."""
    cleaned = "".join(c for c in filename if c.isprintable()).strip() or "part"
    cleaned = cleaned.replace("/", "_").replace("\\", "_")
    fallback = cleaned.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


# -- light, dark and inverted previews ------------------------------------------------------

SCHEMES = ("light", "dark", "invert")
# Media features that hold, and that never hold, on every screen: no screen is a grid
# (character-cell) device. Chromium agrees under either colour scheme and at any width,
# even 0 px, which (min-width: 0) would not promise everywhere.
ALWAYS = "(grid: 0)"
NEVER = "(grid: 1)"
# The forced inversion of the Gmail and Outlook apps, approximately: the whole page turned
# negative (hue kept), then images, videos and elements with a background image turned
# back, once (whatever sits inside one of those is already the right way round).
_PICTURES = 'img,video,[background],[style*="background-image" i],[style*="url(" i]'
INVERT_STYLE = (
    "html{background-color:#fff}"
    "html{filter:invert(1) hue-rotate(180deg)!important}"
    f"{_PICTURES}{{filter:invert(1) hue-rotate(180deg)!important}}"
    f":is({_PICTURES}) :is({_PICTURES}){{filter:none!important}}"
)
_MEDIA_AT_RULES = frozenset({"media", "import", "custom-media"})
_MEDIA_TAGS = frozenset({"style", "link", "source"})
_SCHEME_METAS = frozenset({"color-scheme", "supported-color-schemes"})
_ROOT_SELECTOR_WORDS = frozenset({"root", "html", "body"})
# The source text of a CSS identifier, escapes included, from where it starts.
_IDENT_SOURCE = re.compile(r"(?:[\w-]|\\(?:[0-9a-fA-F]{1,6}[ \t\n]?|[^\n0-9a-fA-F]))+")
_CSS_NEWLINE = re.compile("\n")


def color_scheme(html: str, mode: str) -> str:
    """The HTML as a mail client shows it in ``mode``: ``light`` or ``dark`` (the email's
    own ``prefers-color-scheme`` rules for that scheme, and no others, whatever the
    viewer's setting), or ``invert`` (light, then inverted as apps without dark styles of
    the email's own do).

    Each ``prefers-color-scheme`` feature in a media query (``@media`` and ``@import`` in
    ``<style>``, at any depth; ``media=`` of ``<style>``, ``<link>`` and ``<source>``) is
    replaced by one that always or never holds. An email that declares the scheme (meta
    ``color-scheme`` or ``supported-color-schemes``, CSS ``color-scheme`` on ``:root``,
    ``html`` or ``body``) gets its default canvas and text in that scheme too. One pass of
    the HTML tokenizer and of the CSS tokenizer over each style sheet: linear in the input.
    """
    if mode not in SCHEMES:
        raise ValueError(f"mode: expected one of {', '.join(SCHEMES)}, got {mode!r}")
    shown = "dark" if mode == "dark" else "light"
    edits: list[tuple[int, int, str]] = []
    declared: set[str] = set()
    insert_at: int | None = None
    placed = False
    for item in tags(html):
        if not isinstance(item, Tag) or item.end:
            continue
        if not placed:
            # After the <html> or <head> that opens the document, else before its first tag:
            # never before a doctype, which would put the page in quirks mode.
            if item.name in ("html", "head"):
                insert_at, placed = item.ends_at, item.name == "head"
            else:
                insert_at, placed = item.at if insert_at is None else insert_at, True
        name = item.name
        if name in _MEDIA_TAGS:
            media = item.get("media")
            if media is not None:
                rewritten = _rewrite_css("@media " + media + "{}", shown, declared)
                value = _MEDIA_VALUE.search(html, item.at, item.ends_at)
                if rewritten is not None and value is not None:
                    # Only the value changes: the rest of the tag stays as written.
                    quoted = '"' + escape(rewritten[7:-2]) + '"'
                    edits.append((value.start(1), value.end(1), quoted))
            if name == "style":
                css = _rewrite_css(item.raw_text, shown, declared)
                if css is not None:
                    edits.append((item.text_at, item.text_at + len(item.raw_text), css))
        elif name == "meta" and (item.get("name") or "").strip().lower() in _SCHEME_METAS:
            declared.update(_scheme_words(item.get("content") or ""))
        elif name in ("html", "body") and "color-scheme" in (item.get("style") or "").lower():
            style = partial(tinycss2.parse_component_value_list, item.get("style") or "")
            _declared_in(tokenized(style), declared)
    # An email that declares no scheme keeps the browser's default canvas: light.
    injected = f":root{{color-scheme:{shown}!important}}" if shown in declared else ""
    if mode == "invert":
        injected += INVERT_STYLE
    if injected:
        at = len(html) if insert_at is None else insert_at
        edits.append((at, at, f"<style>{injected}</style>"))
    return _spliced(html, edits) if edits else html


def _spliced(text: str, edits: list[tuple[int, int, str]]) -> str:
    """The text with each ``(start, stop, replacement)`` made, the spans not overlapping."""
    edits.sort(key=lambda edit: edit[:2])
    out: list[str] = []
    pos = 0
    for start, stop, replacement in edits:
        out += [text[pos:start], replacement]
        pos = stop
    out.append(text[pos:])
    return "".join(out)


def _scheme_words(text: str) -> set[str]:
    return {word for word in text.lower().replace(",", " ").split() if word in ("light", "dark")}


def _rewrite_css(css: str, shown: str, declared: set[str]) -> str | None:
    """The style sheet with each ``prefers-color-scheme`` feature of its media queries
    decided for ``shown``, or None when nothing changed; the schemes ``:root``, ``html``
    or ``body`` declare are added to ``declared``."""
    if "\\" not in css and "color-scheme" not in css.lower():
        return None
    # The tokenizer counts lines and columns in the text as CSS preprocesses it.
    text = css.replace("\0", "\ufffd").replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\f", "\n")
    line_starts = [0] + [match.end() for match in _CSS_NEWLINE.finditer(text)]

    def offset(node: Node) -> int:
        return int(line_starts[node.source_line - 1] + node.source_column - 1)

    edits: list[tuple[int, int, str]] = []
    # Lists of nodes to read, each with whether it is inside a media query list.
    tokens = tokenized(lambda: tinycss2.parse_component_value_list(text, skip_comments=True))
    if not tokens:
        return None  # nothing tinycss2 can read: the sheet is left as written
    pending: list[tuple[list[Node], bool]] = [(tokens, False)]
    while pending:
        nodes, in_media = pending.pop()
        prelude_start = 0
        for index, node in enumerate(nodes):
            if in_media:
                if isinstance(node, ParenthesesBlock):
                    feature = _feature(node.content)
                    if feature is None:
                        pending.append((node.content, True))
                    elif feature[1] in ("light", "dark"):
                        value = feature[0]
                        found = _IDENT_SOURCE.match(text, offset(value))
                        stop = found.end() if found else offset(value) + len(value.value)
                        replacement = ALWAYS if feature[1] == shown else NEVER
                        # Up to the value: the ")" and what precedes it stay as written.
                        edits.append((offset(node), stop, replacement.removesuffix(")")))
                    continue
                if isinstance(node, CurlyBracketsBlock) or node == ";":
                    in_media = False
                else:
                    continue
            if isinstance(node, AtKeywordToken) and node.lower_value in _MEDIA_AT_RULES:
                in_media = True
            elif isinstance(node, CurlyBracketsBlock):
                if _is_root_selector(nodes[prelude_start:index]):
                    _declared_in(node.content, declared)
                pending.append((node.content, False))
                prelude_start = index + 1
            elif isinstance(node, ParenthesesBlock | SquareBracketsBlock):
                pending.append((node.content, False))
            elif node == ";":
                prelude_start = index + 1
    return _spliced(text, edits) if edits else None


def _feature(content: list[Node]) -> tuple[IdentToken, str] | None:
    """``prefers-color-scheme: VALUE`` in a media query's parentheses: VALUE's token and
    its name in lower case; None for anything else."""
    tokens = [node for node in content if not isinstance(node, WhitespaceToken)]
    if len(tokens) != 3:
        return None
    name, colon, value = tokens
    if (
        isinstance(name, IdentToken)
        and name.lower_value == "prefers-color-scheme"
        and isinstance(colon, LiteralToken)
        and colon.value == ":"
        and isinstance(value, IdentToken)
    ):
        return value, value.lower_value
    return None


def _is_root_selector(prelude: list[Node]) -> bool:
    """Whether a rule's selectors are only ``:root``, ``html`` and ``body``."""
    words = [node for node in prelude if isinstance(node, IdentToken)]
    others = [
        node
        for node in prelude
        if not isinstance(node, IdentToken | WhitespaceToken) and node not in (":", ",")
    ]
    return bool(words) and not others and all(w.lower_value in _ROOT_SELECTOR_WORDS for w in words)


def _declared_in(declarations: list[Node], declared: set[str]) -> None:
    """Add the schemes a ``color-scheme`` declaration among ``declarations`` names."""
    state = "name"  # looking for the property, then its colon, then reading its value
    for node in declarations:
        if isinstance(node, WhitespaceToken):
            continue
        if state == "value":
            if node == ";" or node == "!":
                state = "name"
            elif isinstance(node, IdentToken) and node.lower_value in ("light", "dark"):
                declared.add(node.lower_value)
        elif state == "colon":
            state = "value" if node == ":" else "name"
        elif isinstance(node, IdentToken) and node.lower_value == "color-scheme":
            state = "colon"
