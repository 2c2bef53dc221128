"""What is wrong with a URL in an email, read from the text alone: nothing is fetched."""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import unquote, urlsplit

__all__ = ["PLACEHOLDER", "problems", "text_urls"]

# Template syntax left in mail: {{ name }}, {% tag %}, ${name}, *|MERGE|*, [[name]].
PLACEHOLDER = re.compile(
    r"\{\{.{0,80}?\}\}|\{%.{0,80}?%\}|\$\{[^{}]{1,80}\}|\*\|[A-Z0-9_:]{1,40}\|\*|\[\[[^\[\]]{1,80}\]\]"
)
_ADDRESS = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+"
    r"(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})",
    re.IGNORECASE,
)
# "Jane Doe <jane@example.com>", which clients accept in a mailto: link.
_NAMED = re.compile(r"[^<>]{0,200}<([^<>]{1,320})>")
_HOST = re.compile(r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?)(?:\.[^\W_](?:[\w-]{0,61}[^\W_])?)*\.?")
_LOCAL_SUFFIXES = (
    ".localhost",
    ".local",
    ".internal",
    ".lan",
    ".home.arpa",
    ".test",
    ".invalid",
    ".example",
)


_TEXT_URL = re.compile(r"https?://[^\s<>\"]{1,2048}", re.IGNORECASE)


def text_urls(text: str) -> list[str]:
    """The web URLs in plain text, in order, without the punctuation that ends a sentence."""
    return [m.group().rstrip(".,;:!?'\")") for m in _TEXT_URL.finditer(text)]


def problems(url: str, kind: str) -> list[tuple[str, str]]:
    """``(rule, message)`` for each problem of a URL; ``kind`` is ``link``, ``image``,
    ``background`` or ``stylesheet``."""
    found: list[tuple[str, str]] = []
    text = url.strip()
    if PLACEHOLDER.search(unquote(text)):
        found.append(("template-placeholder", "holds template syntax that was never filled in"))
    if not text:
        return [*found, ("link-malformed", "is empty")]
    # Browsers drop tabs and line breaks inside a URL.
    text = re.sub(r"[\t\r\n]", "", text)
    lowered = text.lower()
    scheme = lowered.split(":", 1)[0] if re.match(r"[a-z][a-z0-9+.-]*:", lowered) else ""
    if scheme in ("javascript", "vbscript"):
        return [*found, ("link-javascript", f"runs script ({scheme}:), which mail readers refuse")]
    if scheme == "file":
        return [*found, ("link-file", "points at a file on the reader's own machine (file:)")]
    if scheme == "mailto":
        return found + _mailto(text[7:])
    if scheme in (
        "cid",
        "data",
        "tel",
        "sms",
        "callto",
        "ftp",
        "webcal",
        "geo",
        "maps",
        "sip",
        "facetime",
    ):
        return found
    if not scheme:
        if text.startswith("#") and kind == "link":
            return found
        if not text.startswith("//"):
            return [
                *found,
                ("link-relative", "is relative: a mail reader has no page to resolve it against"),
            ]
    elif scheme not in ("http", "https"):
        return found
    if any(c.isspace() or ord(c) < 32 for c in text):
        found.append(("link-malformed", "contains spaces or control characters"))
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - an out-of-range or non-numeric port raises here
    except ValueError as exc:
        return [*found, ("link-malformed", f"cannot be read: {str(exc)[:80]}")]
    if not host:
        return [*found, ("link-malformed", "has no host")]
    local = _local(host)
    if local:
        found.append(("link-local", f"points at {local}, which readers cannot reach"))
    elif not _HOST.fullmatch(host) and not _ip(host) and not found:
        found.append(("link-malformed", f"has an invalid host {host[:80]!r}"))
    if scheme == "http" and kind in ("image", "background", "stylesheet"):
        found.append(
            ("insecure-resource", "is loaded over http:, which clients may block or warn about")
        )
    return found


def _mailto(rest: str) -> list[tuple[str, str]]:
    to, _, query = rest.partition("?")
    addresses = [unquote(a).strip() for a in to.split(",") if a.strip()]
    for field in query.split("&"):
        key, _, value = field.partition("=")
        if key.lower() in ("to", "cc", "bcc"):
            addresses += [a.strip() for a in unquote(value).split(",") if a.strip()]
    if not addresses:
        # mailto:?subject=...&body=... lets the reader pick the address (RFC 6068).
        return [] if query.strip() else [("mailto-invalid", "names no address")]
    bad = [a for a in addresses if not _ADDRESS.fullmatch(_bare(a))]
    if bad:
        return [("mailto-invalid", f"has an invalid address {bad[0][:80]!r}")]
    return []


def _bare(address: str) -> str:
    named = _NAMED.fullmatch(address)
    return named.group(1).strip() if named else address


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    # Browsers read IPv4 addresses written short, in octal or hex, or as one number.
    if not re.fullmatch(r"(?:0x[0-9a-f]+|\d+)(?:\.(?:0x[0-9a-f]+|\d+)){0,3}", host, re.IGNORECASE):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _local(host: str) -> str:
    """What local place a host names ("localhost", "a private address"), else ""."""
    name = host.lower().rstrip(".")
    address = _ip(name)
    if address is None and (
        name == "localhost" or name.endswith(_LOCAL_SUFFIXES) or "." not in name
    ):
        return "localhost" if "localhost" in name else f"a local name ({name[:60]})"
    if address is None:
        return ""
    if address.is_loopback:
        return "this machine (loopback)"
    if address.is_private or address.is_link_local or address.is_unspecified or address.is_reserved:
        return f"a private address ({str(address)[:60]})"
    return ""
