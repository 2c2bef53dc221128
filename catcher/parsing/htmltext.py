"""HTML read the way a mail reader shows it: its visible text, its links, its tags.

One tokenizer for every use of the text and links (snippets, search, ``Email.links``,
``code()``); the remote resources a preview would load are found apart, in CSS too, by
one regular expression (``preview.remote_resources``). It is written for hostile input:
every step moves forward, and each search starts where the last one ended, so the work
is linear in the input whatever it holds (the standard library's ``HTMLParser`` is
quadratic on unclosed tags and quotes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape

__all__ = ["Reading", "Tag", "collapse", "html_text", "read_html", "snippet", "tags"]

SNIPPET_LENGTH = 200

# Elements whose content is text up to their end tag, never markup.
_RAW_TEXT = frozenset({"script", "style", "xmp", "iframe", "noembed", "noframes", "textarea"})
_RCDATA = frozenset({"title", "textarea"})
_HIDDEN = frozenset({"script", "style", "title", "template", "xmp", "iframe", "noembed"})
# Anything else in <head> ends it, as in browsers: mail often never closes it.
_HEAD_CONTENT = frozenset({"meta", "link", "base", "noscript", "basefont", "bgsound"}) | _HIDDEN
# Block elements break lines; inline ones (b, span) join text as a browser shows it,
# so a code styled digit by digit still reads as one word.
_BLOCKS = frozenset(
    {"address", "article", "aside", "blockquote", "br", "center", "div", "dl", "dt", "dd"}
    | {"figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li"}
    | {"main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr"}
    | {"ul", "body", "html", "caption", "fieldset", "legend", "details", "summary"}
)
_CELLS = frozenset({"td", "th"})
# Targets that are not somewhere to go: same-page anchors, embedded parts, script.
_NOT_LINKS = ("#", "cid:", "data:", "javascript:", "vbscript:")

# Where markup starts: a "<" before anything else is text.
_MARKUP = re.compile(r"<(!--|[!?/]|[A-Za-z])")
_NAME = re.compile(r"[^\s/>]*")
_TAG_STOP = re.compile(r"[>=]")
_UNQUOTED = re.compile(r"[^\s>]*")
_SPACE = re.compile(r"\s*")
_END_OF = {name: re.compile(rf"</{name}(?=[\s/>])", re.IGNORECASE) for name in _RAW_TEXT | _RCDATA}


@dataclass(frozen=True, slots=True)
class Tag:
    """A start tag (``end`` False) or an end tag, with its attributes in order."""

    name: str
    attrs: tuple[tuple[str, str], ...]
    end: bool = False
    raw_text: str = ""  # the content of script, style and the like
    at: int = 0  # where the tag starts in the document
    text_at: int = 0  # where raw_text starts
    ends_at: int = 0  # just past the tag's ">"

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.attrs if k == name), None)


def tags(html: str) -> Iterator[Tag | str]:
    """Text runs (entities decoded) and tags, in order, comments and doctypes skipped.

    Markup that never ends (an unclosed tag, quote or comment) runs to the end of the
    input and is dropped there, as browsers do.
    """
    pos, size = 0, len(html)
    while pos < size:
        lt = _MARKUP.search(html, pos)
        if lt is None:
            yield unescape(html[pos:])
            return
        start = lt.start()
        if start > pos:
            yield unescape(html[pos:start])
        kind = lt.group(1)
        if kind == "!--":
            end = html.find("-->", start + 4)
            pos = size if end < 0 else end + 3
        elif kind in ("!", "?"):
            end = html.find(">", start + 2)
            pos = size if end < 0 else end + 1
        elif kind == "/":
            name = _NAME.match(html, start + 2)
            end = html.find(">", start + 2)
            if end < 0:
                return
            assert name is not None
            if name.group()[:1].isalpha():
                yield Tag(name.group().lower(), (), end=True, at=start, ends_at=end + 1)
            pos = end + 1
        else:
            found = _start_tag(html, start)
            if found is None:
                return
            tag, pos = found
            closer = _END_OF.get(tag.name)
            if closer is not None:
                match = closer.search(html, pos)
                stop = size if match is None else match.start()
                tag = Tag(
                    tag.name, tag.attrs, raw_text=html[pos:stop], at=start, text_at=pos, ends_at=pos
                )
                pos = stop
            yield tag


def _start_tag(html: str, start: int) -> tuple[Tag, int] | None:
    """The tag whose ``<`` is at ``start`` and where it ends; None when it never does."""
    name_match = _NAME.match(html, start + 1)
    assert name_match is not None
    name = name_match.group().lower()
    attrs: list[tuple[str, str]] = []
    pos = name_match.end()
    while True:
        stop = _TAG_STOP.search(html, pos)
        if stop is None:
            return None
        if stop.group() == ">":
            _bare_names(html[pos : stop.start()], attrs)
            return Tag(name, tuple(attrs), at=start, ends_at=stop.end()), stop.end()
        names = html[pos : stop.start()].replace("/", " ").split()
        for bare in names[:-1]:
            attrs.append((bare.lower(), ""))
        key = names[-1].lower() if names else ""
        value_at = _SPACE.match(html, stop.end())
        assert value_at is not None
        pos = value_at.end()
        quote = html[pos : pos + 1]
        if quote in ('"', "'"):
            close = html.find(quote, pos + 1)
            if close < 0:
                return None
            value = html[pos + 1 : close]
            pos = close + 1
        else:
            unquoted = _UNQUOTED.match(html, pos)
            assert unquoted is not None
            value = unquoted.group()
            pos = unquoted.end()
        if key:
            attrs.append((key, unescape(value)))


def _bare_names(text: str, attrs: list[tuple[str, str]]) -> None:
    attrs.extend((bare.lower(), "") for bare in text.replace("/", " ").split())


@dataclass(frozen=True, slots=True)
class Reading:
    """What a reader sees of an HTML document: its text (blocks on their own lines)."""

    text: str
    links: tuple[str, ...]


def read_html(html: str, limit: int | None = None) -> Reading:
    """The visible text and the links of an HTML document.

    With ``limit``, reading stops once that many characters of text are in hand (the
    links are then those seen so far).
    """
    chunks: list[str] = []
    links: list[str] = []
    hidden = 0
    in_head = False
    seen = 0
    for token in tags(html):
        if isinstance(token, str):
            if hidden:
                continue
            if in_head:
                if not token.strip():
                    continue
                in_head = False
            chunks.append(token)
            seen += len(token.strip())
            if limit is not None and seen >= limit:
                break
            continue
        name = token.name
        if token.end:
            if name == "head":
                in_head = False
            elif name == "template" and hidden:
                hidden -= 1
        else:
            if name == "head":
                in_head = True
            elif name not in _HEAD_CONTENT:
                in_head = False
            if name in ("a", "area"):
                _add_link(token.get("href"), links)
            if name == "template":
                hidden += 1  # parsed, never shown
            elif name in _RCDATA and name not in _HIDDEN and not hidden and not in_head:
                chunks.append(unescape(token.raw_text))
        if name in _BLOCKS:
            chunks.append("\n")
        elif name in _CELLS:
            chunks.append(" ")
    return Reading("".join(chunks), tuple(links))


def _add_link(href: str | None, links: list[str]) -> None:
    if not href:
        return
    # Browsers drop surrounding blanks and any tab or line break inside.
    href = re.sub(r"[\t\r\n]", "", href.strip())
    if href and not href.lower().startswith(_NOT_LINKS):
        links.append(href)


def collapse(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text`` with its whitespace collapsed."""
    size = 2 * limit + 64
    while True:
        words = text[:size].split()
        # Enough whole words (the last one may be cut off), or all of them.
        if size >= len(text) or len(" ".join(words[:-1])) >= limit:
            return " ".join(words)[:limit].rstrip()
        size *= 2


# With a limit, markup is read up to this many characters a character of text wanted (and
# at least MARKUP_FLOOR): a document of tags and no text must not be read to its end.
MARKUP_PER_CHARACTER = 8
MARKUP_FLOOR = 64 * 1024


def html_text(html: str, limit: int | None = None) -> str:
    """The visible text of an HTML document, whitespace collapsed; ``limit`` stops early
    (and then only a bounded prefix of the markup is read)."""
    if limit is not None:
        html = html[: max(MARKUP_FLOOR, limit * MARKUP_PER_CHARACTER)]
    text = read_html(html, None if limit is None else limit + 64).text
    return collapse(text, limit if limit is not None else len(text) + 1)


def snippet(text: str | None, html: str | None) -> str:
    """The start of what a message says, for a list: its text, else its HTML's text."""
    if text is not None and text.strip():
        return collapse(text, SNIPPET_LENGTH)
    if not html:
        return ""
    return html_text(html, SNIPPET_LENGTH)
