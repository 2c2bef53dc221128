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
from urllib.parse import quote, unquote

from catcher.parsing import Part

__all__ = [
    "PART_POLICY",
    "PREVIEW_POLICY",
    "PREVIEW_POLICY_LOCAL",
    "PartTokens",
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
