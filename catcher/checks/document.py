"""An HTML email read once for the checks: what it uses (elements, attributes, CSS), where,
and the facts the lint rules ask about (images, links, tables, colours).

HTML is read with catcher's own tokenizer (``parsing.htmltext.tags``, linear on any
input); CSS with tinycss2, in ``<style>`` blocks, inline ``style=`` attributes and
``@media``/``@supports`` blocks. Line numbers count from 1 in the HTML body as decoded.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import tinycss2
import tinycss2.color4
from tinycss2 import ast

from catcher.checks import css
from catcher.parsing import Tag, tags

__all__ = ["Colour", "Document", "Image", "Link", "Use", "read_document"]

# Where a use is shown: the first few lines; the count is exact.
LINES_KEPT = 20
# Elements nested deeper than this are not followed for inherited colours.
MAX_DEPTH = 256
# An end tag closes the nearest open element of its name this many levels up, at most
# (a stray end tag costs no more than that).
END_TAG_REACH = 32
# Text colours are recorded for this many elements.
MAX_COLOURS = 2000

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source"}
    | {"track", "wbr", "basefont", "bgsound", "frame", "keygen"}
)
_DOCTYPE = re.compile(r"\s*<!doctype\s+html\s*>", re.IGNORECASE)
_COMMENT = re.compile(r"<!--")
_HEADING = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Start tags that close an open <p> (a subset of HTML's list: the ones mail uses).
_CLOSES_P = frozenset(
    {"p", "div", "table", "ul", "ol", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}
    | {"pre", "hr", "center", "section", "header", "footer", "address", "form"}
)
# Browsers' default heading sizes, in px (headings are bold).
_HEADING_SIZES = {"h1": 32.0, "h2": 24.0, "h3": 18.72, "h4": 16.0, "h5": 13.28, "h6": 10.72}


@dataclass(slots=True)
class Use:
    """How often a feature is used and on which lines (the first ``LINES_KEPT``)."""

    count: int = 0
    lines: list[int] = field(default_factory=list)

    def add(self, line: int) -> None:
        self.count += 1
        if len(self.lines) < LINES_KEPT and line not in self.lines:
            self.lines.append(line)


@dataclass(frozen=True, slots=True)
class Image:
    """An image the email shows: an ``<img>``, or a background (attribute or CSS)."""

    url: str
    line: int
    kind: str  # "img" or "background"
    alt: str | None = None
    width: str | None = None
    height: str | None = None


@dataclass(slots=True)
class Link:
    """A link and the text a reader sees for it (an image's alt counts as text)."""

    url: str
    line: int
    text: str = ""
    label: str = ""  # aria-label or title


@dataclass(frozen=True, slots=True)
class Colour:
    """Text with an explicit colour: the colours in force there and the text's size."""

    line: int
    foreground: tuple[float, float, float]
    background: tuple[float, float, float]
    large: bool
    sample: str


@dataclass(slots=True)
class _Open:
    name: str
    line: int
    colour: tuple[float, float, float] | None
    background: tuple[float, float, float] | None
    size: float | None
    bold: bool
    hidden: bool = False  # not shown: a preheader, display:none
    image: bool = False  # a background image: the colour behind the text is not known
    sampled: bool = False  # its text's colours are recorded


@dataclass(slots=True)
class _Inline:
    """What a ``style`` attribute (and the old colour attributes) say about an element."""

    colour: tuple[float, float, float] | None = None
    background: tuple[float, float, float] | None = None
    size: float | None = None
    bold: bool = False
    hidden: bool = False
    image: bool = False
    width: bool = False
    height: bool = False


@dataclass(slots=True)
class Document:
    """What one HTML body holds, for the compatibility table and the lint rules."""

    html: str
    features: dict[str, Use] = field(default_factory=dict)
    elements: dict[str, Use] = field(default_factory=dict)
    attributes: dict[str, Use] = field(default_factory=dict)
    images: list[Image] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    stylesheets: list[tuple[str, int]] = field(default_factory=list)  # <link rel=stylesheet>
    layout_tables: list[int] = field(default_factory=list)
    colours: list[Colour] = field(default_factory=list)
    html_lang: str | None = None
    title: str | None = None
    dark_styles: bool = False
    styled_colour: bool = False  # a style sheet sets a text colour
    styled_background: bool = False  # a style sheet sets a background
    nodes: int = 0

    def use(self, feature: str, line: int) -> None:
        _count(self.features, feature, line)


def read_document(html: str) -> Document:
    """Read an HTML body once; any input gives a document (unknown markup is skipped)."""
    return _Reader(html).read()


class _Reader:
    def __init__(self, html: str) -> None:
        self.doc = Document(html)
        self._newlines = [m.start() for m in re.finditer("\n", html)]
        self._stack: list[_Open] = []
        self._link: Link | None = None
        self._table_heads: list[tuple[int, bool, bool]] = []  # line, has <th>, presentational

    def line(self, offset: int) -> int:
        return bisect_right(self._newlines, offset - 1) + 1

    def read(self) -> Document:
        doc = self.doc
        html = doc.html
        if _DOCTYPE.match(html):
            doc.use("html-doctype", 1)
        for match in _COMMENT.finditer(html):
            doc.use("html-comments", self.line(match.start()))
        for token in tags(html):
            if isinstance(token, str):
                self.text(token)
            elif token.end:
                self.end(token)
            else:
                self.start(token)
        while self._table_heads:
            self._close_table()
        return doc

    # -- text and elements ---------------------------------------------------------------

    def text(self, text: str) -> None:
        if self._link is not None:
            self._link.text += text
        if not self._stack or not text.strip():
            return
        top = self._stack[-1]
        if top.sampled or len(self.doc.colours) >= MAX_COLOURS:
            return
        top.sampled = True
        if top.hidden:
            return
        behind = next((o for o in reversed(self._stack) if o.background or o.image), None)
        if behind is not None and behind.image:
            return  # text on a picture: its colours are not known
        background = behind.background if behind is not None else None
        if background is None and self.doc.styled_background:
            return  # a style sheet may set the background
        if top.colour is None and (background is None or self.doc.styled_colour):
            return  # the reader's own colours, or ones a style sheet sets
        size = next((o.size for o in reversed(self._stack) if o.size), None)
        heading = next((o.name for o in reversed(self._stack[-4:]) if o.name in _HEADING), None)
        if size is None:
            size = _HEADING_SIZES.get(heading or "", 16.0)
        bold = (
            any(o.bold for o in self._stack[-4:])
            or heading is not None
            or top.name in ("b", "strong")
        )
        large = size >= 24 or (bold and size >= 18.66)
        self.doc.colours.append(
            Colour(
                top.line,
                top.colour or (0.0, 0.0, 0.0),
                background or (1.0, 1.0, 1.0),
                large,
                text.strip()[:60],
            )
        )

    def start(self, tag: Tag) -> None:
        doc = self.doc
        name = tag.name
        line = self.line(tag.at)
        doc.nodes += 1
        _count(doc.elements, name, line)
        attrs: dict[str, str] = {}
        for key, value in tag.attrs:
            attrs.setdefault(key, value)
        for key in attrs:
            _count(doc.attributes, key, line)
        self.element_features(name, attrs, line)
        if name == "html":
            if doc.html_lang is None:
                doc.html_lang = attrs.get("lang") or attrs.get("xml:lang")
        elif name == "title" and doc.title is None:
            doc.title = tag.raw_text.strip()
        elif name == "style":
            self.stylesheet(tag.raw_text, self.line(tag.text_at))
            return
        elif name == "link" and "stylesheet" in attrs.get("rel", "").lower().split():
            doc.stylesheets.append((attrs.get("href", ""), line))
        elif name == "img":
            image_at = len(doc.images)
            doc.images.append(Image(attrs.get("src", ""), line, "img", attrs.get("alt")))
            if self._link is not None and attrs.get("alt"):
                self._link.text += " " + attrs["alt"][:200]
        elif name == "a" and "href" in attrs:
            self._link = Link(
                attrs["href"], line, label=attrs.get("aria-label") or attrs.get("title") or ""
            )
            doc.links.append(self._link)
        elif name == "area" and "href" in attrs:
            doc.links.append(
                Link(attrs["href"], line, attrs.get("alt", ""), attrs.get("aria-label") or "")
            )
        elif name == "table":
            role = attrs.get("role", "").lower()
            self._table_heads.append((line, False, role in ("presentation", "none")))
        elif name == "th" and self._table_heads:
            head = self._table_heads[-1]
            self._table_heads[-1] = (head[0], True, head[2])
        if "background" in attrs and attrs["background"].strip():
            doc.images.append(Image(attrs["background"].strip(), line, "background"))
        media = attrs.get("media", "").lower()
        if "prefers-color-scheme" in media:
            doc.dark_styles = True
        style = attrs.get("style")
        inline = self.inline_style(style, line) if style else _Inline()
        if name == "img":
            doc.images[image_at] = replace(
                doc.images[image_at],
                width=attrs.get("width") or ("css" if inline.width else None),
                height=attrs.get("height") or ("css" if inline.height else None),
            )
        if name == "font" and attrs.get("color"):
            inline.colour = css.colour(attrs["color"]) or inline.colour
        if attrs.get("bgcolor"):
            inline.background = css.colour(attrs["bgcolor"]) or inline.background
        if "hidden" in attrs or attrs.get("aria-hidden", "").lower() == "true":
            inline.hidden = True
        if attrs.get("background", "").strip():
            inline.image = True
        if name in _VOID or name in ("style", "script", "title", "textarea"):
            return
        if len(self._stack) >= MAX_DEPTH:
            return
        if name in _CLOSES_P and self._stack and self._stack[-1].name == "p":
            self._stack.pop()  # a block closes an open paragraph, as browsers do
        parent = self._stack[-1] if self._stack else None
        self._stack.append(
            _Open(
                name,
                line,
                inline.colour or (parent.colour if parent else None),
                inline.background,
                inline.size or (parent.size if parent else None),
                inline.bold,
                inline.hidden or (parent.hidden if parent else False),
                inline.image,
            )
        )

    def end(self, tag: Tag) -> None:
        name = tag.name
        if name == "a":
            self._link = None
        elif name == "table" and self._table_heads:
            self._close_table()
        reach = max(-1, len(self._stack) - 1 - END_TAG_REACH)
        for depth in range(len(self._stack) - 1, reach, -1):
            if self._stack[depth].name == name:
                del self._stack[depth:]
                return

    def _close_table(self) -> None:
        line, has_th, presentational = self._table_heads.pop()
        if not has_th and not presentational:
            self.doc.layout_tables.append(line)

    def element_features(self, name: str, attrs: dict[str, str], line: int) -> None:
        doc = self.doc
        if name == "a":
            href = attrs.get("href", "").strip().lower()
            if href.startswith("#") or ("name" in attrs and not href):
                doc.use("html-anchor-links", line)
            if href.startswith("mailto:"):
                doc.use("html-mailto-links", line)
        elif name == "meta":
            if attrs.get("name", "").lower() in ("color-scheme", "supported-color-schemes"):
                doc.use("html-meta-color-scheme", line)
                if "dark" in attrs.get("content", "").lower():
                    doc.dark_styles = True
        elif name == "html" and ("amp4email" in attrs or "\u26a14email" in attrs):
            doc.use("amp", line)
        elif name in ("input", "button"):
            kind = attrs.get("type", "text" if name == "input" else "submit").lower()
            doc.use(f"{name}[type={kind}]", line)

    # -- CSS ----------------------------------------------------------------------------

    def stylesheet(self, text: str, first_line: int) -> None:
        # CSS counts CR and FF as line ends, HTML lines here count LF only.
        text = text.replace("\r\n", "\n").replace("\r", " ").replace("\f", " ")
        rules = css.tokenized(
            lambda: tinycss2.parse_stylesheet(text, skip_comments=False, skip_whitespace=True)
        )
        self.rules(rules, first_line, 0)

    def rules(
        self, rules: Iterable[ast.Node], first: int, depth: int, *, nested: bool = False
    ) -> None:
        """Rules at the top or in an at-rule; ``nested``: inside a style rule (CSS nesting)."""
        doc = self.doc
        for rule in rules:
            line = first + getattr(rule, "source_line", 1) - 1
            if isinstance(rule, ast.Comment):
                doc.use("css-comments", line)
            elif isinstance(rule, ast.AtRule):
                self.at_rule(rule, line, first, depth)
            elif isinstance(rule, ast.QualifiedRule):
                if nested:
                    doc.use("css-nesting", line)
                for feature in css.selector_features(rule.prelude):
                    doc.use(feature, line)
                self.block(rule.content, first, depth)

    def at_rule(self, rule: ast.AtRule, line: int, first: int, depth: int) -> None:
        doc = self.doc
        keyword = rule.lower_at_keyword
        if keyword == "media":
            doc.use("css-at-media", line)
            for feature in css.media_features(rule.prelude):
                doc.use(feature, line)
                if feature == "css-at-media-prefers-color-scheme":
                    doc.dark_styles = True
        elif keyword in ("supports", "-webkit-supports"):
            doc.use("css-at-supports", line)
        elif keyword == "font-face":
            doc.use("css-at-font-face", line)
            return
        elif keyword == "import":
            doc.use("css-at-import", line)
            for token in rule.prelude:
                if isinstance(token, (ast.URLToken, ast.StringToken)):
                    doc.stylesheets.append((token.value, line))
            return
        elif keyword.endswith("keyframes"):
            doc.use("css-at-keyframes", line)
            return
        else:
            return
        if rule.content is not None and depth < css.MAX_VALUE_DEPTH:
            inner = tinycss2.parse_rule_list(
                rule.content, skip_comments=False, skip_whitespace=True
            )
            self.rules(inner, first, depth + 1)

    def block(self, content: list[ast.Node] | None, first: int, depth: int) -> None:
        if content is None:
            return
        for item in tinycss2.parse_blocks_contents(
            content, skip_comments=False, skip_whitespace=True
        ):
            if isinstance(item, ast.Declaration):
                self.declaration(item, first + item.source_line - 1)
            elif (
                isinstance(item, (ast.QualifiedRule, ast.AtRule, ast.Comment))
                and depth < css.MAX_VALUE_DEPTH
            ):
                self.rules([item], first, depth + 1, nested=True)

    def inline_style(self, style: str, line: int) -> _Inline:
        found = _Inline()
        items = css.tokenized(
            lambda: tinycss2.parse_blocks_contents(style, skip_comments=False, skip_whitespace=True)
        )
        for item in items:
            if isinstance(item, ast.Comment):
                self.doc.use("css-comments", line)
            if not isinstance(item, ast.Declaration):
                continue
            self.declaration(item, line, inline=True)
            name = item.lower_name
            first = css.first(item.value)
            word = first.lower_value if isinstance(first, ast.IdentToken) else ""
            if name in ("background", "background-image") and any(
                isinstance(t, (ast.URLToken, ast.FunctionBlock)) for t in item.value
            ):
                found.image = True  # url(), or a gradient
            if name == "color":
                found.colour = css.colour_tokens(item.value) or found.colour
            elif name in ("background-color", "background"):
                found.background = css.first_colour(item.value) or found.background
            elif name == "font-size":
                found.size = css.pixels(item.value) or found.size
                if found.size is not None and found.size <= 1:
                    found.hidden = True
            elif name == "font-weight":
                number = first.value if isinstance(first, ast.NumberToken) else 0
                found.bold = word in ("bold", "bolder") or number >= 600
            elif name == "width":
                found.width = word != "auto"
            elif name == "height":
                found.height = True
            elif (name, word) in (
                ("display", "none"),
                ("visibility", "hidden"),
                ("mso-hide", "all"),
            ):
                found.hidden = True
            elif name in ("opacity", "max-height") and isinstance(
                first, (ast.NumberToken, ast.PercentageToken, ast.DimensionToken)
            ):
                found.hidden = found.hidden or first.value == 0
        return found

    def declaration(self, item: ast.Declaration, line: int, *, inline: bool = False) -> None:
        doc = self.doc
        name = item.lower_name
        doc.use(f"property:{name}", line)
        if name == "color-scheme" and any(
            isinstance(t, ast.IdentToken) and t.lower_value == "dark" for t in item.value
        ):
            doc.dark_styles = True
        elif name == "color" and not inline:
            doc.styled_colour = True
        elif name in ("background", "background-color", "background-image") and not inline:
            doc.styled_background = True
        if item.important:
            doc.use("css-important", line)
        value = item.value
        first = css.first(value)
        if isinstance(first, ast.IdentToken):
            doc.use(f"value:{name}:{first.lower_value}", line)
        for token in css.walk(value, 0):
            if isinstance(token, ast.FunctionBlock):
                doc.use(f"function:{token.lower_name}", line)
            elif isinstance(token, ast.DimensionToken):
                doc.use(f"unit:{token.lower_unit}", line)
            elif isinstance(token, ast.PercentageToken):
                doc.use("unit:%", line)
            elif isinstance(token, ast.IdentToken):
                doc.use(f"keyword:{token.lower_value}", line)
            elif isinstance(token, ast.URLToken) and name.startswith("background"):
                doc.images.append(Image(token.value, line, "background"))
        if name.startswith("background"):
            # url("...") is a function, not a URL token, when the URL is quoted.
            for token in css.walk(value, 0):
                if isinstance(token, ast.FunctionBlock) and token.lower_name == "url":
                    text = next(
                        (t.value for t in token.arguments if isinstance(t, ast.StringToken)), ""
                    )
                    if text:
                        doc.images.append(Image(text, line, "background"))


def _count(table: dict[str, Use], key: str, line: int) -> None:
    found = table.get(key)
    if found is None:
        found = table[key] = Use()
    found.add(line)
