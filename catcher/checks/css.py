"""CSS as the checks read it, with tinycss2: what a selector list uses, the media
features of a query, colours and font sizes, and tokens walked to a bounded depth.
tinycss2 raises on some hostile input (a number of more digits than int() takes):
``tokenized`` turns that into nothing read."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import tinycss2
import tinycss2.color4
from tinycss2 import ast

__all__ = [
    "MAX_VALUE_DEPTH",
    "colour",
    "colour_tokens",
    "first",
    "first_colour",
    "media_features",
    "pixels",
    "selector_features",
    "tokenized",
    "walk",
]

# A CSS value is read this deep into nested functions and blocks.
MAX_VALUE_DEPTH = 32

Colour = tuple[float, float, float]


def selector_features(prelude: list[ast.Node]) -> Iterator[str]:
    """The features a selector list uses (combinators, simple selectors, chaining, pseudo-
    classes and pseudo-elements), as the document's use keys, in order; repeats kept."""
    simple = 0  # simple selectors in the current compound (type, class, id, attribute)
    after_space = False
    previous: ast.Node | None = None
    tokens = list(prelude)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if isinstance(token, ast.WhitespaceToken):
            after_space = previous is not None
            continue
        if isinstance(token, ast.Comment):
            continue
        literal = token.value if isinstance(token, ast.LiteralToken) else None
        if literal in (",", ">", "+", "~"):
            yield (
                {
                    ",": "css-selector-grouping",
                    ">": "css-selector-child",
                    "+": "css-selector-adjacent-sibling",
                    "~": "css-selector-general-sibling",
                }[literal]
            )
            if simple > 1:
                yield "css-selector-chaining"
            simple, after_space, previous = 0, False, None
            continue
        if after_space:
            yield "css-selector-descendant"
            if simple > 1:
                yield "css-selector-chaining"
            simple = 0
        after_space = False
        previous = token
        if isinstance(token, ast.HashToken):
            yield "css-selector-id"
            simple += 1
        elif literal == "." and index < len(tokens) and isinstance(tokens[index], ast.IdentToken):
            yield "css-selector-class"
            simple += 1
            index += 1
        elif literal == "*":
            yield "css-selector-universal"
        elif literal == "&":
            yield "css-nesting"
        elif isinstance(token, ast.SquareBracketsBlock):
            yield "css-selector-attribute"
            simple += 1
        elif isinstance(token, ast.IdentToken):
            yield "css-selector-type"
            simple += 1
        elif literal == ":":
            element = (
                index < len(tokens)
                and isinstance(tokens[index], ast.LiteralToken)
                and tokens[index].value == ":"
            )
            if element:
                index += 1
            following = tokens[index] if index < len(tokens) else None
            index += 1
            if isinstance(following, ast.IdentToken):
                pseudo = following.lower_value
            elif isinstance(following, ast.FunctionBlock):
                pseudo = following.lower_name
            else:
                continue
            if element or pseudo in ("before", "after", "first-line", "first-letter"):
                yield f"pseudo-element:{pseudo}"
            else:
                yield f"pseudo-class:{pseudo}"
    if simple > 1:
        yield "css-selector-chaining"


def tokenized(parse: Callable[[], list[Any]]) -> list[Any]:
    """What tinycss2 makes of a text, or nothing when it cannot (a number of more digits
    than Python turns into an int raises ValueError)."""
    try:
        return parse()
    except (ValueError, RecursionError):
        return []


def first(tokens: list[ast.Node]) -> ast.Node | None:
    """The first token of a value that is not white space or a comment."""
    return next((t for t in tokens if not isinstance(t, (ast.WhitespaceToken, ast.Comment))), None)


def walk(tokens: Iterable[ast.Node], depth: int) -> Iterator[ast.Node]:
    for token in tokens:
        yield token
        if depth >= MAX_VALUE_DEPTH:
            continue
        if isinstance(token, ast.FunctionBlock):
            yield from walk(token.arguments, depth + 1)
        elif isinstance(
            token, (ast.ParenthesesBlock, ast.SquareBracketsBlock, ast.CurlyBracketsBlock)
        ):
            yield from walk(token.content, depth + 1)


_MEDIA_FEATURES = {
    "prefers-color-scheme": "css-at-media-prefers-color-scheme",
    "prefers-reduced-motion": "css-at-media-prefers-reduced-motion",
    "orientation": "css-at-media-orientation",
    "hover": "css-at-media-hover",
    "any-hover": "css-at-media-hover",
    "-webkit-device-pixel-ratio": "css-at-media-device-pixel-ratio",
    "-webkit-min-device-pixel-ratio": "css-at-media-device-pixel-ratio",
    "-webkit-max-device-pixel-ratio": "css-at-media-device-pixel-ratio",
}


def media_features(prelude: list[ast.Node]) -> set[str]:
    found = set()
    for token in walk(prelude, 0):
        if isinstance(token, ast.IdentToken) and token.lower_value in _MEDIA_FEATURES:
            found.add(_MEDIA_FEATURES[token.lower_value])
    return found


def colour(text: str) -> Colour | None:
    text = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{6}|[0-9a-fA-F]{3}", text):
        text = "#" + text  # bgcolor="ffffff", as old HTML writes it
    return colour_tokens(tokenized(lambda: tinycss2.parse_component_value_list(text[:200])))


def colour_tokens(tokens: list[ast.Node]) -> Colour | None:
    """The colour of a value that is one colour (``red``, ``#fff``, ``rgb(...)``)."""
    meaningful = [t for t in tokens if not isinstance(t, (ast.WhitespaceToken, ast.Comment))]
    if len(meaningful) != 1:
        return None
    try:
        parsed = tinycss2.color4.parse_color(meaningful[0])
    except Exception:  # tinycss2 raises on some malformed colour functions
        return None
    if not isinstance(parsed, tinycss2.color4.Color) or parsed.alpha < 1:
        return None
    try:
        red, green, blue = parsed.to("srgb").coordinates
    except Exception:  # a colour space tinycss2 cannot convert
        return None
    return (_clamp(red), _clamp(green), _clamp(blue))


def first_colour(tokens: list[ast.Node]) -> Colour | None:
    for token in tokens:
        if isinstance(token, (ast.WhitespaceToken, ast.Comment)):
            continue
        found = colour_tokens([token])
        if found is not None:
            return found
    return None


def _clamp(value: float | None) -> float:
    return 0.0 if value is None else min(1.0, max(0.0, float(value)))


def pixels(tokens: list[ast.Node]) -> float | None:
    for token in tokens:
        if isinstance(token, ast.DimensionToken):
            scale = {"px": 1.0, "pt": 4 / 3, "em": 16.0, "rem": 16.0}.get(token.lower_unit)
            return None if scale is None else float(token.value) * scale
        if isinstance(token, ast.IdentToken):
            return {"xx-large": 32.0, "x-large": 24.0, "large": 18.0}.get(token.lower_value)
    return None
