"""Mailboxes: which inboxes a message lands in, by SMTP login, recipient pattern or plus tag.

Routing rules, all applied at once (a message can land in several mailboxes):

1. a session that logged in as ``U`` delivers to mailbox ``U`` (or to the mailbox whose
   ``smtp_user`` is ``U``), created on first use;
2. a mailbox made through the API with ``recipients`` globs (``*@w1.test``) receives
   every message with an envelope recipient one of them matches;
3. ``anyone+TAG@any.domain`` delivers to mailbox ``TAG`` (unless plus tags are off);
4. anything no rule routes goes to mailbox ``default``.

A name is 1 to 64 of ``A-Z a-z 0-9 . _ -``. A login or tag with other characters is
mapped onto one (each run of them becomes ``-``, cut to 64), never refused.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import translate
from typing import Literal

__all__ = [
    "DEFAULT",
    "Box",
    "MailboxError",
    "MailboxStats",
    "Mailboxes",
    "Router",
    "name_for",
    "valid_name",
]

DEFAULT = "default"
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_NOT_NAME = re.compile(r"[^A-Za-z0-9._-]+")
MAX_RECIPIENT_PATTERNS = 100
# Mailboxes at most: past this, mail a login or tag would route to a new one goes to
# ``default`` (an app that tags every message uniquely must not fill the memory).
MAX_MAILBOXES = 10_000

Origin = Literal["api", "login", "tag", "default"]


class MailboxError(ValueError):
    """A mailbox request catcher cannot honour; the message says why. ``conflict`` when
    it clashes with an existing mailbox rather than being invalid in itself."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


def valid_name(name: str) -> bool:
    """1 to 64 of ``A-Z a-z 0-9 . _ -``, and not only dots (``.`` and ``..`` are paths)."""
    return NAME.fullmatch(name) is not None and name.strip(".") != ""


def name_for(text: str) -> str | None:
    """The mailbox name a login or tag maps onto; None when nothing of it is usable."""
    name = _NOT_NAME.sub("-", text.strip()).strip("-")[:64]
    return name if valid_name(name) else None


@dataclass(frozen=True, slots=True)
class Box:
    """A mailbox's definition: how mail gets routed to it."""

    name: str
    created: datetime
    origin: Origin
    recipients: tuple[str, ...] = ()
    smtp_user: str | None = None
    smtp_password: str | None = None


class Router:
    """The mailbox definitions and the routing rules. Not locked itself: the store holds
    its lock while changing it, and routing reads an immutable snapshot."""

    def __init__(self, plus_tags: bool = True, reserved_users: tuple[str, ...] = ()) -> None:
        self.plus_tags = plus_tags
        self.reserved_users = frozenset(reserved_users)  # the server's own login (--smtp-auth)
        self._boxes: dict[str, Box] = {}
        self._patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()
        self._users: dict[str, str] = {}

    def get(self, name: str) -> Box | None:
        return self._boxes.get(name)

    def boxes(self) -> list[Box]:
        return list(self._boxes.values())

    def define(
        self,
        name: str,
        recipients: tuple[str, ...] = (),
        smtp_user: str | None = None,
        smtp_password: str | None = None,
        origin: Origin = "api",
    ) -> Box:
        """A new mailbox; MailboxError when the name is taken or anything is invalid."""
        if not valid_name(name):
            raise MailboxError(f"name: {name[:80]!r} is not 1-64 of A-Z a-z 0-9 . _ -")
        if name in self._boxes:
            raise MailboxError(f"mailbox {name!r} exists", conflict=True)
        if len(recipients) > MAX_RECIPIENT_PATTERNS:
            raise MailboxError(f"recipients: at most {MAX_RECIPIENT_PATTERNS} patterns")
        for pattern in recipients:
            if not pattern or len(pattern) > 320:
                raise MailboxError(f"recipients: {pattern[:80]!r} is not 1 to 320 characters")
        if smtp_user is not None:
            owner = self._users.get(smtp_user)
            if smtp_user in self.reserved_users:
                raise MailboxError(
                    f"smtp_user: {smtp_user!r} is the server's own login (--smtp-auth)",
                    conflict=True,
                )
            if owner is not None or (smtp_user != name and smtp_user in self._boxes):
                raise MailboxError(
                    f"smtp_user: {smtp_user!r} already routes elsewhere", conflict=True
                )
            if not smtp_user or len(smtp_user) > 256:
                raise MailboxError("smtp_user: 1 to 256 characters")
        return self.restore(
            Box(name, datetime.now(UTC), origin, recipients, smtp_user, smtp_password)
        )

    def restore(self, box: Box) -> Box:
        """Take a mailbox as defined before (read back from ``--db``), unchecked."""
        self._boxes[box.name] = box
        if box.smtp_user is not None:
            self._users[box.smtp_user] = box.name
        if box.recipients:  # only these compiled now: routing makes mailboxes without patterns
            added = tuple((box.name, re.compile(translate(p.lower()))) for p in box.recipients)
            self._patterns += added
        return box

    def remove(self, name: str) -> Box | None:
        box = self._boxes.pop(name, None)
        if box is not None and box.smtp_user is not None:
            self._users.pop(box.smtp_user, None)
        if box is not None and box.recipients:
            self._patterns = tuple(p for p in self._patterns if p[0] != name)
        return box

    def __len__(self) -> int:
        return len(self._boxes)

    def login(self, user: str, password: str, server_password: str | None) -> bool | None:
        """Whether a login may go on, as far as mailboxes decide; None when the server's
        own rule decides (any login, or ``--smtp-auth``).

        A mailbox's ``smtp_user`` needs its ``smtp_password``, or, when it has none, the
        server's (``--smtp-auth``), if any. A mailbox with a login of its own is reached
        by that login only, not by another that maps onto its name.
        """
        name = self._users.get(user)
        if name is not None:
            wanted = self._boxes[name].smtp_password or server_password
            return wanted is None or password == wanted
        mapped = name_for(user)
        found = self._boxes.get(mapped) if mapped is not None else None
        if found is not None and found.smtp_user is not None:
            return False
        return None

    def route(self, rcpt_tos: tuple[str, ...], login: str | None) -> list[tuple[str, Origin]]:
        """Where a message goes: (name, how) pairs, each name once, never empty."""
        found: dict[str, Origin] = {}
        if login:
            name = self._users.get(login) or name_for(login)
            if name:
                found.setdefault(name, "login")
        lowered = [r.lower() for r in rcpt_tos]
        for name, pattern in self._patterns:
            if any(pattern.match(rcpt) for rcpt in lowered):
                found.setdefault(name, "api")
        if self.plus_tags:
            for rcpt in rcpt_tos:
                local = rcpt.rpartition("@")[0]
                if "+" in local:
                    name = name_for(local.split("+", 1)[1])
                    if name:
                        found.setdefault(name, "tag")
        return list(found.items()) or [(DEFAULT, "default")]


@dataclass(frozen=True, slots=True)
class MailboxStats:
    """One mailbox at one moment: its definition and its counts."""

    box: Box
    count: int
    unread: int
    bytes: int
    evicted: int


@dataclass(slots=True)
class _Filed:
    box: Box
    ids: list[int] = field(default_factory=list)  # oldest first
    bytes: int = 0
    read: int = 0
    evicted: int = 0


class Mailboxes:
    """Which messages each mailbox holds, and its counts. The store's lock guards it."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._filed: dict[str, _Filed] = {}
        self._membership: dict[int, tuple[str, ...]] = {}
        # Mailboxes routing made since the store last looked (it records them with --db).
        self.made: list[Box] = []

    def __contains__(self, name: object) -> bool:
        return name in self._filed

    def names(self) -> frozenset[str]:
        return frozenset(self._filed)

    def create(
        self,
        name: str,
        recipients: tuple[str, ...] = (),
        smtp_user: str | None = None,
        smtp_password: str | None = None,
    ) -> Box:
        if name in self._filed:
            raise MailboxError(f"mailbox {name!r} exists", conflict=True)
        if len(self._filed) >= MAX_MAILBOXES:
            raise MailboxError(f"at most {MAX_MAILBOXES} mailboxes; delete some first")
        box = self.router.define(name, recipients, smtp_user, smtp_password)
        self._filed[name] = _Filed(box)
        return box

    def restore(self, box: Box) -> None:
        """A mailbox as defined before (read back from ``--db``), empty."""
        self._filed[box.name] = _Filed(self.router.restore(box))

    def remove(self, name: str) -> None:
        filed = self._filed.pop(name, None)
        self.router.remove(name)
        for message_id in filed.ids if filed is not None else ():
            self._membership[message_id] = tuple(n for n in self.of(message_id) if n != name)

    def reap(self, names: dict[str, list[int]]) -> list[str]:
        """Remove mailboxes that routing made (a login, a tag) once eviction emptied them;
        their names."""
        reaped = []
        for name in names:
            filed = self._filed.get(name)
            if filed is not None and not filed.ids and filed.box.origin in ("login", "tag"):
                self.remove(name)
                reaped.append(name)
        return reaped

    def file(self, message_id: int, size: int, routes: list[tuple[str, Origin]]) -> tuple[str, ...]:
        """Put a new message in the mailboxes its routes name, making those missing."""
        names: list[str] = []
        for name, origin in routes:
            filed = self._filed.get(name)
            if filed is None:
                if len(self._filed) >= MAX_MAILBOXES and name != DEFAULT:
                    name, origin = DEFAULT, "default"  # full: no more mailboxes by routing
                    filed = self._filed.get(name)
                if filed is None:
                    filed = self._filed[name] = _Filed(self.router.define(name, origin=origin))
                    self.made.append(filed.box)
            if name in names:
                continue
            filed.ids.append(message_id)
            filed.bytes += size
            names.append(name)
        self._membership[message_id] = tuple(names)
        return tuple(names)

    def of(self, message_id: int) -> tuple[str, ...]:
        return self._membership.get(message_id, ())

    def ids(self, name: str) -> list[int]:
        filed = self._filed.get(name)
        return filed.ids if filed is not None else []

    def unfile(
        self, message_id: int, name: str, size: int, read: bool, *, later: bool = False
    ) -> None:
        """Take a message out of one of its mailboxes (``later``: its place in the id
        list is left for ``prune``, when many go at once)."""
        self._take_out(self._filed[name], message_id, size, read, later)
        self._membership[message_id] = tuple(n for n in self.of(message_id) if n != name)

    def forget(
        self, message_id: int, size: int, read: bool, *, evicted: bool = False, later: bool = False
    ) -> None:
        """Take a message out of every mailbox (it is deleted or evicted)."""
        for name in self._membership.pop(message_id, ()):
            filed = self._filed.get(name)
            if filed is not None:
                self._take_out(filed, message_id, size, read, later)
                filed.evicted += evicted

    def prune(self, names: Iterable[str], gone: set[int]) -> None:
        """Drop ``gone`` from these mailboxes' id lists, one pass each: after messages were
        taken out of them ``later``."""
        for name in names:
            filed = self._filed.get(name)
            if filed is not None:
                filed.ids = [i for i in filed.ids if i not in gone]

    def mark(self, message_id: int, read: bool) -> tuple[str, ...]:
        names = tuple(name for name in self.of(message_id) if name in self._filed)
        for name in names:
            self._filed[name].read += 1 if read else -1
        return names

    def over_cap(self, name: str, cap: int) -> list[int]:
        """The oldest ids of a mailbox beyond ``cap`` messages, counted as evicted."""
        filed = self._filed[name]
        extra = filed.ids[: max(0, len(filed.ids) - cap)]
        filed.evicted += len(extra)
        return extra

    def clear(self) -> None:
        self._membership.clear()
        for filed in self._filed.values():
            filed.ids.clear()
            filed.bytes = filed.read = 0

    def stats(self, name: str) -> MailboxStats | None:
        filed = self._filed.get(name)
        if filed is None:
            return None
        count = len(filed.ids)
        return MailboxStats(filed.box, count, count - filed.read, filed.bytes, filed.evicted)

    def all_stats(self) -> list[MailboxStats]:
        return [s for s in map(self.stats, self._filed) if s is not None]

    @staticmethod
    def _take_out(filed: _Filed, message_id: int, size: int, read: bool, later: bool) -> None:
        if later:  # (its membership says it is there)
            filed.bytes -= size
            filed.read -= read
            return
        position = bisect_left(filed.ids, message_id)
        if position < len(filed.ids) and filed.ids[position] == message_id:
            del filed.ids[position]
            filed.bytes -= size
            filed.read -= read
