"""Client support for what an email uses, from caniemail's data shipped with catcher.

The data (``caniemail.json``, MIT, from the npm package ``caniemail``; refreshed with
``python -m catcher.checks.refresh``) lists, per feature, each client family's support
on each platform and version. A client here is a family on a platform, judged by the
latest version the data tested. A client's score is the share of the features it was
tested on that it supports (a partial support counts half); a family's score is the
mean of its clients', the overall score the mean of the families'. The data has no
market shares, so no family weighs more than another.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from catcher.checks.document import LINES_KEPT, Document, Use

__all__ = [
    "PLATFORM_GROUPS",
    "Data",
    "compatibility",
    "data",
    "platform_names",
    "latest",
    "narrow",
    "platforms_of",
    "support_of",
    "used_features",
]

HERE = Path(__file__).resolve().parent
PLATFORM_GROUPS = {
    "desktop": frozenset({"desktop-app", "macos", "windows", "windows-mail"}),
    "mobile": frozenset({"ios", "android"}),
    "web": frozenset({"desktop-webmail", "mobile-webmail", "webmail", "outlook-com"}),
}
SUPPORT = {"y": "yes", "a": "partial", "n": "no", "u": "unknown"}
_NOTE = re.compile(r"#(\d+)")
_DATE = re.compile(r"\d{4}-\d{2}")

# Titles that do not name their properties plainly.
_PROPERTIES = {
    "css-block-inline-size": ["block-size", "inline-size"],
    "css-border-inline-block": ["border-inline", "border-block"],
    "css-border-inline-block-individual": [
        "border-block-end",
        "border-block-start",
        "border-inline-end",
        "border-inline-start",
    ],
    "css-border-inline-block-longhand": [
        f"border-{axis}-{side}{part}"
        for axis in ("block", "inline")
        for side in ("", "start-", "end-")
        for part in ("color", "style", "width")
        if side or part
    ],
    "css-border-radius": [
        "border-radius",
        "border-top-left-radius",
        "border-top-right-radius",
        "border-bottom-left-radius",
        "border-bottom-right-radius",
    ],
    "css-border-radius-logical": [
        "border-end-end-radius",
        "border-end-start-radius",
        "border-start-end-radius",
        "border-start-start-radius",
    ],
    "css-color-scheme": ["color-scheme"],
    "css-column-layout-properties": [
        "column-count",
        "column-fill",
        "column-gap",
        "column-rule",
        "column-rule-color",
        "column-rule-style",
        "column-rule-width",
        "column-span",
        "column-width",
        "columns",
    ],
    "css-gap": ["gap", "column-gap", "row-gap"],
    "css-grid-template": [
        "grid-template",
        "grid-template-areas",
        "grid-template-columns",
        "grid-template-rows",
    ],
    "css-margin-block-start-end": ["margin-block-start", "margin-block-end"],
    "css-margin-inline-block": ["margin-inline", "margin-block"],
    "css-margin-inline-start-end": ["margin-inline-start", "margin-inline-end"],
    "css-padding-block-start-end": ["padding-block-start", "padding-block-end"],
    "css-padding-inline-block": ["padding-inline", "padding-block"],
    "css-padding-inline-start-end": ["padding-inline-start", "padding-inline-end"],
    "css-left-right-top-bottom": ["left", "right", "top", "bottom"],
    "css-inset": [
        "inset",
        "inset-block",
        "inset-inline",
        "inset-block-start",
        "inset-block-end",
        "inset-inline-start",
        "inset-inline-end",
    ],
    "css-overflow": ["overflow", "overflow-x", "overflow-y", "overflow-block", "overflow-inline"],
    "css-scroll-snap": [
        "scroll-snap-type",
        "scroll-snap-align",
        "scroll-snap-stop",
        "scroll-padding",
        "scroll-margin",
    ],
    "css-text-emphasis": ["text-emphasis", "text-emphasis-color", "text-emphasis-style"],
}
# Longhands that count as their shorthand's feature (margin-left is margin).
_SHORTHANDS = (
    "margin",
    "padding",
    "border",
    "outline",
    "background",
    "animation",
    "transition",
)
_VALUES = {
    ("display", "flex"): "css-display-flex",
    ("display", "inline-flex"): "css-display-flex",
    ("display", "-webkit-flex"): "css-display-flex",
    ("display", "-webkit-inline-flex"): "css-display-flex",
    ("display", "grid"): "css-display-grid",
    ("display", "inline-grid"): "css-display-grid",
    ("display", "none"): "css-display-none",
    ("flex-direction", "column"): "css-flex-direction",
    ("flex-direction", "column-reverse"): "css-flex-direction",
    ("flex-wrap", "wrap"): "css-flex-wrap",
    ("flex-wrap", "wrap-reverse"): "css-flex-wrap",
}
_FUNCTIONS = {
    "calc": "css-unit-calc",
    "-webkit-calc": "css-unit-calc",
    "clamp": "css-function-clamp",
    "min": "css-function-min",
    "max": "css-function-max",
    "light-dark": "css-function-light-dark",
    "rgb": "css-rgb",
    "rgba": "css-rgba",
    "var": "css-variables",
    "linear-gradient": "css-linear-gradient",
    "-webkit-linear-gradient": "css-linear-gradient",
    "repeating-linear-gradient": "css-linear-gradient",
    "radial-gradient": "css-radial-gradient",
    "repeating-radial-gradient": "css-radial-gradient",
    "conic-gradient": "css-conic-gradient",
    "lch": "css-modern-color",
    "oklch": "css-modern-color",
    "lab": "css-modern-color",
    "oklab": "css-modern-color",
    "fit-content": "css-intrinsic-size",
}
_KEYWORDS = {
    "initial": "css-unit-initial",
    "fit-content": "css-intrinsic-size",
    "min-content": "css-intrinsic-size",
    "max-content": "css-intrinsic-size",
    "system-ui": "css-sytem-ui",
    "ui-serif": "css-sytem-ui",
    "ui-sans-serif": "css-sytem-ui",
    "ui-rounded": "css-sytem-ui",
    "ui-monospace": "css-sytem-ui",
}
_UNITS = frozenset(
    {"ch", "cm", "em", "ex", "in", "mm", "pc", "pt", "px", "rem", "vh", "vmax", "vmin", "vw"}
)
_ELEMENTS = {
    "address": "html-address",
    "base": "html-base",
    "body": "html-body",
    "svg": "html-svg",
    "map": "html-image-maps",
    "link": "html-link",
    "style": "html-style",
    **{f"h{n}": "html-h1-h6" for n in range(1, 7)},
    **dict.fromkeys(("ul", "ol", "dl"), "html-lists"),
    **dict.fromkeys(
        (
            "article",
            "aside",
            "details",
            "figcaption",
            "figure",
            "footer",
            "header",
            "main",
            "mark",
            "nav",
        )
        + ("section", "summary", "time"),
        "html-semantics",
    ),
}
_ATTRIBUTES = {
    "srcset": "html-srcset",
    "sizes": "html-srcset",
    "inert": "css-inert-attribute",
    "usemap": "html-image-maps",
}
_IMAGE_FORMATS = {
    "apng": "image-apng",
    "avif": "image-avif",
    "bmp": "image-bmp",
    "gif": "image-gif",
    "heic": "image-heif",
    "heif": "image-heif",
    "ico": "image-ico",
    "jpeg": "image-jpg",
    "jpg": "image-jpg",
    "png": "image-png",
    "svg": "image-svg",
    "svg+xml": "image-svg",
    "tif": "image-tiff",
    "tiff": "image-tiff",
    "webp": "image-webp",
    "mp4": "image-mp4",
    "vnd.microsoft.icon": "image-ico",
    "x-icon": "image-ico",
}


@dataclass(frozen=True, slots=True)
class Data:
    """caniemail's data, read once: features by slug, names, and where it came from."""

    features: dict[str, dict[str, Any]]
    families: dict[str, str]
    platforms: dict[str, str]
    source: dict[str, Any]
    properties: dict[str, tuple[str, ...]]
    elements: dict[str, str]
    attributes: dict[str, str]


@cache
def data() -> Data:
    raw = json.loads((HERE / "caniemail.json").read_text(encoding="utf-8"))
    source = json.loads((HERE / "caniemail.source.json").read_text(encoding="utf-8"))
    features = {feature["slug"]: feature for feature in raw["data"]}
    properties: dict[str, list[str]] = {}
    elements = dict(_ELEMENTS)
    attributes = dict(_ATTRIBUTES)
    for slug, feature in features.items():
        title = feature["title"].strip()
        if feature["category"] == "html":
            if (element := re.fullmatch(r"<([a-z][a-z0-9]*)> element", title)) is not None:
                elements.setdefault(element.group(1), slug)
            elif (attribute := re.fullmatch(r"([a-z][a-z-]*) attribute", title)) is not None:
                attributes.setdefault(attribute.group(1), slug)
        if feature["category"] != "css":
            continue
        names = _PROPERTIES.get(slug)
        if names is None:
            title = re.sub(r" (shorthand|property)$", "", title)
            names = [title] if re.fullmatch(r"[a-z][a-z-]*", title) else []
        for name in names:
            properties.setdefault(name, []).append(slug)
    return Data(
        features,
        raw["nicenames"]["family"],
        raw["nicenames"]["platform"],
        source,
        {name: tuple(slugs) for name, slugs in properties.items()},
        elements,
        attributes,
    )


def platform_names() -> list[str]:
    """caniemail's platform names (``ios``, ``outlook-com``, ...)."""
    return list(data().platforms)


def platforms_of(words: Iterable[str]) -> frozenset[str] | None:
    """Platform names and groups (``desktop``, ``mobile``, ``web``) as a set of platforms;
    None for all. Unknown words raise ValueError naming the known ones."""
    chosen: set[str] = set()
    known = data().platforms
    for word in words:
        word = word.strip().lower()
        if not word or word == "all":
            continue
        if word in PLATFORM_GROUPS:
            chosen |= PLATFORM_GROUPS[word]
        elif word in known:
            chosen.add(word)
        else:
            names = ", ".join([*PLATFORM_GROUPS, *known])
            raise ValueError(f"unknown platform {word[:40]!r}: use all, {names}")
    return frozenset(chosen) or None


def used_features(doc: Document, content_types: dict[str, str]) -> dict[str, Use]:
    """The caniemail features a document uses, by slug, with where.

    ``content_types`` maps each part's Content-ID (lower case, no brackets) to its type,
    so that a ``cid:`` image's format is known.
    """
    known = data()
    found: dict[str, Use] = {}

    def add(slug: str | None, use: Use) -> None:
        if slug is None or slug not in known.features:
            return
        into = found.get(slug)
        if into is None:
            into = found[slug] = Use()
        into.count += use.count
        for line in use.lines:
            if len(into.lines) < LINES_KEPT and line not in into.lines:
                into.lines.append(line)

    for key, use in doc.features.items():
        kind, _, rest = key.partition(":")
        if not rest:
            if "[type=" in key:
                element, _, kind_of = key.partition("[type=")
                add(f"html-{element}-{kind_of.rstrip(']')}", use)
            else:
                add(key, use)
        elif kind == "property":
            for slug in _property_slugs(rest, known.properties):
                add(slug, use)
            if rest.startswith("--"):
                add("css-variables", use)
        elif kind == "value":
            prop, _, value = rest.partition(":")
            add(_VALUES.get((prop, value)), use)
        elif kind == "function":
            add(_FUNCTIONS.get(rest), use)
        elif kind == "unit":
            add(
                "css-unit-percent"
                if rest == "%"
                else f"css-unit-{rest}"
                if rest in _UNITS
                else None,
                use,
            )
        elif kind == "keyword":
            add(_KEYWORDS.get(rest), use)
        elif kind == "pseudo-class":
            add(f"css-pseudo-class-{rest}", use)
        elif kind == "pseudo-element":
            add(f"css-pseudo-element-{rest}", use)
    for name, use in doc.elements.items():
        add(known.elements.get(name), use)
    for name, use in doc.attributes.items():
        add(known.attributes.get(name), use)
    for image in doc.images:
        use = Use(1, [image.line])
        image_slug, base64 = _image_format(image.url, content_types)
        add(image_slug, use)
        if base64:
            add("image-base64", use)
    return found


def _property_slugs(name: str, properties: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    bare = re.sub(r"^-(webkit|moz|ms|o)-", "", name)
    slugs = properties.get(bare)
    if slugs:
        return slugs
    base = bare.split("-", 1)[0]
    if base in _SHORTHANDS and base in properties:
        return properties[base]
    return ()


def _image_format(url: str, content_types: dict[str, str]) -> tuple[str | None, bool]:
    url = url.strip()
    lowered = url.lower()
    if lowered.startswith("data:"):
        head = lowered[5:].split(",", 1)[0]
        subtype = head.split(";", 1)[0].removeprefix("image/").removeprefix("video/")
        return _IMAGE_FORMATS.get(subtype), ";base64" in head
    if lowered.startswith("cid:"):
        declared = content_types.get(unquote(lowered[4:]).strip("<> "), "")
        return _IMAGE_FORMATS.get(declared.split("/", 1)[-1]), False
    path = lowered.split("?", 1)[0].split("#", 1)[0]
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return None, False
    return _IMAGE_FORMATS.get(name.rsplit(".", 1)[-1]), False


def latest(by_version: dict[str, Any]) -> tuple[str, Any]:
    """The latest test of a client: the newest date when versions are dates (YYYY-MM), else
    the last listed (the data lists each client's tests as they were made)."""
    if all(_DATE.fullmatch(version) for version in by_version):
        version = max(by_version)
        return version, by_version[version]
    return list(by_version.items())[-1]


def support_of(value: str) -> tuple[str, list[str]]:
    """caniemail's ``"a #1 #3"`` as ``("partial", ["1", "3"])``."""
    return SUPPORT.get(value[:1], "unknown"), _NOTE.findall(value)


def compatibility(used: dict[str, Use], platforms: frozenset[str] | None = None) -> dict[str, Any]:
    """The compatibility report for the features used: each feature with every client's
    support, and scores per client, family and overall."""
    return narrow(_features(used), platforms)


def _features(used: dict[str, Use]) -> list[dict[str, Any]]:
    """Each feature used, with every client's support (its latest test), by slug."""
    known = data()
    features = []
    for slug, use in sorted(used.items(), key=lambda item: item[0]):
        feature = known.features[slug]
        notes_by_num = feature.get("notes_by_num") or {}
        results = []
        for family, by_platform in feature["stats"].items():
            for platform, by_version in by_platform.items():
                if not by_version:
                    continue
                version, value = latest(by_version)
                support, notes = support_of(str(value))
                results.append(
                    {
                        "family": family,
                        "platform": platform,
                        "client": _client_name(known, family, platform),
                        "version": version,
                        "support": support,
                        "notes": [notes_by_num[n] for n in notes if n in notes_by_num],
                    }
                )
        features.append(
            {
                "slug": slug,
                "title": feature["title"],
                "category": feature["category"],
                "description": feature.get("description") or "",
                "url": feature.get("url") or "",
                "count": use.count,
                "lines": list(use.lines),
                "notes": feature.get("notes") or None,
                "results": results,
            }
        )
    return features


def narrow(features: list[dict[str, Any]], platforms: frozenset[str] | None) -> dict[str, Any]:
    """The compatibility report over the clients on ``platforms`` (None: all), from the
    features of a report made for all of them: a filter asks for no second reading."""
    known = data()
    narrowed = []
    tally: dict[tuple[str, str], list[float]] = {}  # client -> [yes, partial, no]
    versions: dict[tuple[str, str], str] = {}
    for feature in features:
        results = [r for r in feature["results"] if platforms is None or r["platform"] in platforms]
        counts = {"yes": 0, "partial": 0, "no": 0, "unknown": 0}
        for result in results:
            support = result["support"]
            counts[support] += 1
            client = (result["family"], result["platform"])
            versions[client] = result["version"]
            counts_of = tally.setdefault(client, [0.0, 0.0, 0.0])
            if support != "unknown":
                counts_of[("yes", "partial", "no").index(support)] += 1
        narrowed.append(
            {
                **feature,
                "support": _overall(counts),
                "clients": counts,
                "results": sorted(
                    results,
                    key=lambda r: (r["support"] != "no", r["support"] != "partial", r["client"]),
                ),
            }
        )
    features = narrowed
    families: dict[str, dict[str, Any]] = {}
    for (family, platform), (yes, partial, no) in sorted(tally.items()):
        tested = yes + partial + no
        entry = families.setdefault(
            family,
            {
                "family": family,
                "name": known.families.get(family, family),
                "clients": [],
            },
        )
        entry["clients"].append(
            {
                "platform": platform,
                "name": _client_name(known, family, platform),
                "version": versions[(family, platform)],
                "supported": int(yes),
                "partial": int(partial),
                "unsupported": int(no),
                "score": round(100 * (yes + partial / 2) / tested, 1) if tested else None,
            }
        )
    for entry in families.values():
        scores = [c["score"] for c in entry["clients"] if c["score"] is not None]
        entry["score"] = round(sum(scores) / len(scores), 1) if scores else None
        for key in ("supported", "partial", "unsupported"):
            entry[key] = sum(c[key] for c in entry["clients"])
    ranked = sorted(
        families.values(), key=lambda f: (f["score"] is None, f["score"] or 0, f["name"])
    )
    scored = [f["score"] for f in ranked if f["score"] is not None]
    features.sort(
        key=lambda f: (-(f["clients"]["no"] + f["clients"]["partial"] / 2), f["title"].lower())
    )
    return {
        "score": round(sum(scored) / len(scored), 1) if scored else None,
        "platforms": sorted(platforms) if platforms is not None else "all",
        "families": ranked,
        "features": features,
        "data": {
            "source": "caniemail",
            "version": known.source.get("version"),
            "updated": known.source.get("data_updated"),
            "license": known.source.get("license"),
            "url": "https://www.caniemail.com/",
        },
    }


def _client_name(known: Data, family: str, platform: str) -> str:
    return f"{known.families.get(family, family)} {known.platforms.get(platform, platform)}"


def _overall(counts: dict[str, int]) -> str:
    tested = counts["yes"] + counts["partial"] + counts["no"]
    if not tested:
        return "unknown"
    if counts["yes"] == tested:
        return "supported"
    if counts["no"] == tested:
        return "unsupported"
    return "mixed" if counts["no"] else "partial"
