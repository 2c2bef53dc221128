"""Every option catcher has, in one frozen value with its defaults."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from catcher.faults import FaultError, read_rule

MB = 1024 * 1024

EventLoop = Literal["auto", "asyncio", "uvloop"]
EVENT_LOOPS: tuple[EventLoop, ...] = get_args(EventLoop)
# The peer catchers whose HTTP APIs catcher also serves (catcher.compat).
COMPAT_APIS = frozenset({"mailpit", "mailhog", "mailcatcher"})

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": MB, "g": 1024 * MB}
# A base path's segments: letters, digits and - . _ ~ (what needs no quoting in a URL).
_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")


class SettingError(ValueError):
    """A setting has a value catcher cannot use; the message names the setting."""


def parse_size(text: str, *, key: str = "size") -> int:
    """Read ``50MB``, ``512M``, ``1GiB``, ``1024`` as a number of bytes (binary units)."""
    match = _SIZE.match(text)
    if not match:
        raise SettingError(f"{key}: {text!r} is not a size (examples: 1024, 512K, 50MB, 1G)")
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _UNITS[unit]


def format_size(size: int) -> str:
    """The shortest exact ``parse_size`` spelling of a byte count: ``50MB``, ``512K``, ``1000``."""
    for suffix, unit in (("G", 1024 * MB), ("MB", MB), ("K", 1024)):
        if size and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def hostport(host: str, port: int) -> str:
    """``host:port``, with IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_base_path(text: str) -> str:
    """Read ``/mail`` or ``/mail/`` as ``/mail``; ``""`` and ``/`` as no base path."""
    if text in ("", "/"):
        return ""
    if not text.startswith("/"):
        raise SettingError(f"base_path: {text!r} must start with / (example: /mail)")
    if "?" in text or "#" in text:
        raise SettingError(f"base_path: {text!r} is a path, it cannot carry a query or fragment")
    if ".." in text:
        raise SettingError(f"base_path: {text!r} cannot hold ..")
    segments = text[1:].removesuffix("/").split("/")
    for segment in segments:
        if not segment:
            raise SettingError(f"base_path: {text!r} cannot hold an empty segment (//)")
        if segment == ".":
            raise SettingError(f"base_path: {text!r} cannot hold a . segment")
        if not _SEGMENT.match(segment):
            raise SettingError(
                f"base_path: {text!r} may hold only letters, digits, - . _ ~ between slashes"
            )
    return "/" + "/".join(segments)


def parse_credentials(text: str, *, key: str) -> tuple[str, str]:
    """Read ``USER:PASSWORD``; the password may itself hold colons."""
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise SettingError(f"{key}: expected USER:PASSWORD, got {text!r}")
    return user, password


@dataclass(frozen=True, slots=True)
class Settings:
    """All options; the CLI and the pytest plugin fill it, library code only reads it."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtps_port: int | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8025
    hostname: str = "catcher"
    smtp_auth: tuple[str, str] | None = None
    starttls: bool = True
    require_tls: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_message_size: int = 50 * MB
    max_recipients: int = 1000
    max_command_length: int = 4096
    smtp_timeout: float = 300.0
    max_connections: int = 1000
    max_messages: int = 1000
    mailbox_max_messages: int = 0
    plus_tags: bool = True
    max_bytes: int = 512 * MB
    http_auth: tuple[str, str] | None = None
    cors_origins: tuple[str, ...] = ()
    event_loop: EventLoop = "auto"
    http_threads: int = 16
    compat: frozenset[str] = COMPAT_APIS
    faults: tuple[str, ...] = ()
    base_path: str = ""
    db: Path | None = None

    @property
    def max_request_body(self) -> int:
        """The largest HTTP request body: 1 MB, or a message of ``max_message_size`` as
        base64 in JSON where an API takes whole messages (Mailpit's send)."""
        if "mailpit" not in self.compat:
            return MB
        return max(MB, self.max_message_size * 4 // 3 + MB)

    def __post_init__(self) -> None:
        # (frozen: the normal spelling of the base path is set the way dataclasses do)
        object.__setattr__(self, "base_path", parse_base_path(self.base_path))
        for name in ("smtp_port", "http_port"):
            _check_port(name, getattr(self, name))
        if self.smtps_port is not None:
            _check_port("smtps_port", self.smtps_port)
        for name in ("max_messages", "max_bytes", "mailbox_max_messages"):
            if getattr(self, name) < 0:
                raise SettingError(f"{name}: must be 0 (no cap) or more, got {getattr(self, name)}")
        if self.max_message_size < 1024:
            raise SettingError(
                f"max_message_size: must be at least 1024 bytes, got {self.max_message_size}"
            )
        if self.max_recipients < 1:
            raise SettingError(f"max_recipients: must be at least 1, got {self.max_recipients}")
        if self.max_command_length < 512:
            raise SettingError(
                f"max_command_length: must be at least 512 (RFC 5321), "
                f"got {self.max_command_length}"
            )
        if self.max_connections < 0:
            raise SettingError(
                f"max_connections: must be 0 (no cap) or more, got {self.max_connections}"
            )
        if self.smtp_timeout <= 0:
            raise SettingError(f"smtp_timeout: must be positive, got {self.smtp_timeout}")
        if self.http_threads < 2:
            raise SettingError(f"http_threads: must be at least 2, got {self.http_threads}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingError("tls_cert and tls_key: give both or neither")
        if self.require_tls and not self.starttls:
            raise SettingError("require_tls: needs STARTTLS, which is turned off")
        if self.event_loop not in EVENT_LOOPS:
            raise SettingError(
                f"event_loop: expected one of {', '.join(EVENT_LOOPS)}, got {self.event_loop!r}"
            )
        for text in self.faults:
            try:
                read_rule(text)
            except FaultError as exc:
                raise SettingError(f"faults: {exc}") from None
        unknown = set(self.compat) - COMPAT_APIS
        if unknown:
            raise SettingError(
                f"compat: {', '.join(sorted(unknown))} is not one of "
                f"{', '.join(sorted(COMPAT_APIS))} (or none)"
            )
        for origin in self.cors_origins:
            if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
                raise SettingError(
                    f"cors_origins: {origin!r} is not an origin such as http://localhost:3000"
                )


def parse_compat(text: str) -> frozenset[str]:
    """``mailpit,mailhog``, ``all`` or ``none`` as the set of peer APIs to serve."""
    words = {w.strip().lower() for w in text.split(",") if w.strip()}
    if words == {"all"}:
        return COMPAT_APIS
    if words <= {"none"}:
        return frozenset()
    return frozenset(words)


def _check_port(name: str, value: int) -> None:
    if not 0 <= value <= 65535:
        raise SettingError(f"{name}: {value} is not a port number (0-65535; 0 picks a free port)")


DEFAULTS = Settings()
"""The default of every setting, for the CLI's options and help."""
