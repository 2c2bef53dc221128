"""Mailpit's html-check and link-check answers, shaped from catcher's check report
(``GET /api/messages/{id}/check``): Mailpit's fields and arithmetic, nothing fetched."""

from __future__ import annotations

from functools import cache
from typing import Any

from catcher.checks import caniemail, links

__all__ = ["LINKS_CHECKED", "html_check", "link_check"]

# Mailpit's link check: web URLs only, at most this many.
LINKS_CHECKED = 100
NOT_FETCHED = "not fetched: catcher never opens outbound connections"


def html_check(report: dict[str, Any]) -> dict[str, Any]:
    """The features found as ``Warnings`` (an unknown support counts as partial, as in
    Mailpit), each client at the latest version tested, and ``Total`` as 100 less the
    largest partial and unsupported shares, each weighted by how often its feature is
    found against the HTML's nodes."""
    known = caniemail.data()
    nodes = max(1, report["html"]["nodes"])
    warnings = []
    partial = unsupported = 0.0
    for feature in report["compatibility"]["features"]:
        counts = feature["clients"]
        tested = sum(counts.values()) or 1
        score = {
            "Found": feature["count"],
            "Supported": 100 * counts["yes"] / tested,
            "Partial": 100 * (counts["partial"] + counts["unknown"]) / tested,
            "Unsupported": 100 * counts["no"] / tested,
        }
        partial = max(partial, score["Partial"] * feature["count"] / nodes)
        unsupported = max(unsupported, score["Unsupported"] * feature["count"] / nodes)
        entry = known.features[feature["slug"]]
        warnings.append(
            {
                "Slug": feature["slug"],
                "Title": feature["title"],
                "Description": feature["description"],
                "URL": feature["url"],
                "Category": feature["category"],
                "Tags": entry.get("tags") or [],
                "Keywords": entry.get("keywords") or "",
                "Results": [_result(known, entry, result) for result in feature["results"]],
                "NotesByNumber": entry.get("notes_by_num") or {},
                "Score": score,
            }
        )
    warnings.sort(
        key=lambda w: -(w["Score"]["Unsupported"] + w["Score"]["Partial"]) * w["Score"]["Found"]
    )
    return {
        "Warnings": warnings,
        "Platforms": _platforms(),
        "Total": {
            "Tests": len(known.features),
            "Nodes": report["html"]["nodes"],
            "Supported": 100 - partial - unsupported,
            "Partial": partial,
            "Unsupported": unsupported,
        },
    }


def link_check(report: dict[str, Any], text: str) -> dict[str, Any]:
    """The http and https URLs of links, stylesheets and images, then of the text part
    (at most ``LINKS_CHECKED``): ``StatusCode`` 0, ``Status`` what is wrong or that it
    was not fetched, ``Errors`` how many have a problem."""
    problems: dict[str, str] = {}
    for link in report["links"]:
        if link["kind"] in ("link", "image", "stylesheet") and link["url"].lower().startswith(
            ("http://", "https://")
        ):
            problems.setdefault(link["url"], "; ".join(p["message"] for p in link["problems"]))
    for url in links.text_urls(text):
        problems.setdefault(url, "")
    checked = list(problems.items())[:LINKS_CHECKED]
    return {
        "Errors": sum(1 for _, problem in checked if problem),
        "Links": [
            {"URL": url, "StatusCode": 0, "Status": problem or NOT_FETCHED}
            for url, problem in checked
        ],
    }


@cache
def _platforms() -> dict[str, list[str]]:
    """Each platform with the client families the data tested on it (the same for every
    message: read from the data once)."""
    known = caniemail.data()
    platforms: dict[str, list[str]] = {}
    for entry in known.features.values():
        for family, by_platform in entry["stats"].items():
            for platform in by_platform:
                names = platforms.setdefault(platform, [])
                name = known.families.get(family, family)
                if name not in names:
                    names.append(name)
    return {platform: sorted(names) for platform, names in platforms.items()}


def _result(
    known: caniemail.Data, feature: dict[str, Any], result: dict[str, Any]
) -> dict[str, str]:
    family, platform, version = result["family"], result["platform"], result["version"]
    _, notes = caniemail.support_of(str(feature["stats"][family][platform][version]))
    return {
        "Name": f"{known.families.get(family, family)} {known.platforms.get(platform, platform)} "
        f"({version})",
        "Platform": platform,
        "Family": family,
        "Version": version,
        "Support": {"yes": "yes", "no": "no"}.get(result["support"], "partial"),
        "NoteNumber": notes[0] if notes else "",
    }
