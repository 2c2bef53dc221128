"""The store's change feed: numbered events, the recent ones kept for clients that resume."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

__all__ = ["Event", "EventKind", "Feed"]

EventKind = Literal["new", "delete", "clear", "read", "mailbox", "faults"]

# How many events are kept for clients that reconnect with Last-Event-ID.
HISTORY = 10_000


@dataclass(frozen=True, slots=True)
class Event:
    """A change to the store; ``seq`` increases by one per event, starting at 1.

    Events carry ids, not messages, so the history never keeps a deleted message alive.
    """

    seq: int
    kind: EventKind
    ids: tuple[int, ...]
    # The mailboxes whose view the change touches; ``everywhere`` when All mail sees it
    # too (False when messages only left one mailbox and live on in others).
    mailboxes: frozenset[str] = frozenset()
    # Which of the ids each mailbox saw change, when not all of them (a bulk change).
    by_mailbox: tuple[tuple[str, tuple[int, ...]], ...] = ()
    everywhere: bool = True

    def visible_in(self, mailbox: str | None) -> bool:
        """Whether a view of this mailbox (All mail for None) sees the change."""
        if self.kind == "faults":  # the SMTP server's rules: every view shows them
            return True
        return self.everywhere if mailbox is None else mailbox in self.mailboxes

    def ids_in(self, mailbox: str | None) -> tuple[int, ...]:
        """The ids a view of this mailbox (All mail for None) sees change."""
        if mailbox is None or not self.by_mailbox:
            return self.ids
        return next((ids for name, ids in self.by_mailbox if name == mailbox), ())


class Feed:
    """Events in order, the last ``HISTORY`` of them kept. The store's lock guards it."""

    def __init__(self) -> None:
        self.seq = 0
        self._events: deque[Event] = deque(maxlen=HISTORY)

    def emit(
        self,
        kind: EventKind,
        ids: tuple[int, ...],
        mailboxes: frozenset[str] = frozenset(),
        by_mailbox: tuple[tuple[str, tuple[int, ...]], ...] = (),
        everywhere: bool = True,
    ) -> None:
        self.seq += 1
        self._events.append(Event(self.seq, kind, ids, mailboxes, by_mailbox, everywhere))

    def since(self, seq: int) -> tuple[list[Event], bool]:
        """The events after ``seq``, and False when some of them are no longer kept."""
        oldest = self._events[0].seq if self._events else self.seq + 1
        # From the newest back: a waiter usually wants one event, not the whole history.
        fresh: list[Event] = []
        for event in reversed(self._events):
            if event.seq <= seq:
                break
            fresh.append(event)
        fresh.reverse()
        return fresh, oldest <= seq + 1
