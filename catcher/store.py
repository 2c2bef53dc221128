"""The thread-safe in-memory message store: add, query, delete, caps, waits and an event feed."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from catcher.message import Delivery, Envelope, Message

EventKind = Literal["new", "delete", "clear", "read"]

# How many events are kept for clients that reconnect with Last-Event-ID.
EVENT_HISTORY = 10_000


@dataclass(frozen=True, slots=True)
class Filter:
    """Which messages a query, delete or wait is about; every given field must match.

    Text fields match case-insensitively as substrings; ``text`` is free text where each
    whitespace-separated word must appear somewhere in the subject, addresses, body text
    or attachment names. ``since`` keeps only ids after it.
    """

    to: str | None = None
    sender: str | None = None
    subject: str | None = None
    text: str | None = None
    since: int | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.to or self.sender or self.subject or self.text) and self.since is None

    @property
    def needs_content(self) -> bool:
        return bool(self.to or self.sender or self.subject or self.text)

    def matches(self, message: Message) -> bool:
        if self.since is not None and message.id <= self.since:
            return False
        if not self.needs_content:
            return True
        search = message.search
        if self.to and self.to.lower() not in search.recipients:
            return False
        if self.sender and self.sender.lower() not in search.sender:
            return False
        if self.subject and self.subject.lower() not in search.subject:
            return False
        if self.text:
            return all(word in search.everything for word in self.text.lower().split())
        return True


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query: how many are stored, how many match, and the page itself."""

    total: int
    matched: int
    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """A change to the store; ``seq`` increases by one per event, starting at 1.

    Events carry ids, not messages, so the history never keeps a deleted message alive.
    """

    seq: int
    kind: EventKind
    ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counts and totals at one moment."""

    count: int
    bytes: int
    max_messages: int
    max_bytes: int
    received: int
    evicted: int
    deleted: int
    unread: int


class MessageStore:
    """Messages in arrival order behind one condition variable.

    Inside the lock there are only dict operations and ``notify_all``: parsing, matching
    and I/O happen in the caller's thread on immutable messages taken out under the lock.
    Caps of 0 mean no cap; past a cap the oldest messages are evicted first.
    """

    def __init__(self, *, max_messages: int = 1000, max_bytes: int = 512 * 1024 * 1024) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._cond = threading.Condition()
        self._messages: OrderedDict[int, Message] = OrderedDict()
        self._read: set[int] = set()
        self._bytes = 0
        self._last_id = 0
        self._received = 0
        self._evicted = 0
        self._deleted = 0
        self._events: deque[Event] = deque(maxlen=EVENT_HISTORY)
        self._seq = 0

    # -- writing ---------------------------------------------------------------------

    def add(
        self,
        raw: bytes,
        envelope: Envelope,
        delivery: Delivery,
        received_at: datetime | None = None,
    ) -> Message:
        """Store a message under the next id and return it; evict past the caps."""
        when = received_at or datetime.now(UTC)
        with self._cond:
            self._last_id += 1
            message = Message(self._last_id, raw, when, envelope, delivery)
            self._messages[message.id] = message
            self._bytes += len(raw)
            self._received += 1
            self._emit("new", (message.id,))
            self._evict()
            self._cond.notify_all()
        return message

    def delete(self, message_id: int) -> bool:
        """Delete one message; False when there was none with that id."""
        with self._cond:
            message = self._messages.pop(message_id, None)
            if message is None:
                return False
            self._forget(message)
            self._deleted += 1
            self._emit("delete", (message_id,))
            self._cond.notify_all()
        return True

    def delete_matching(self, flt: Filter) -> tuple[int, ...]:
        """Delete every message the filter matches (all of them for an empty filter)."""
        if flt.is_empty:
            return self.clear()
        doomed = tuple(m.id for m in self._snapshot() if flt.matches(m))
        deleted = []
        with self._cond:
            for message_id in doomed:
                message = self._messages.pop(message_id, None)
                if message is not None:
                    self._forget(message)
                    deleted.append(message_id)
            if deleted:
                self._deleted += len(deleted)
                self._emit("delete", tuple(deleted))
                self._cond.notify_all()
        return tuple(deleted)

    def clear(self) -> tuple[int, ...]:
        """Delete everything; returns the ids that were deleted."""
        with self._cond:
            ids = tuple(self._messages)
            self._messages.clear()
            self._read.clear()
            self._bytes = 0
            self._deleted += len(ids)
            self._emit("clear", ids)
            self._cond.notify_all()
        return ids

    def set_read(self, message_id: int, read: bool) -> bool:
        """Mark one message read or unread; False when there is no such message."""
        with self._cond:
            if message_id not in self._messages:
                return False
            if read != (message_id in self._read):
                if read:
                    self._read.add(message_id)
                else:
                    self._read.discard(message_id)
                self._emit("read", (message_id,))
                self._cond.notify_all()
        return True

    # -- reading ---------------------------------------------------------------------

    def get(self, message_id: int) -> Message | None:
        return self._messages.get(message_id)

    def is_read(self, message_id: int) -> bool:
        return message_id in self._read

    def __len__(self) -> int:
        return len(self._messages)

    def latest(self, flt: Filter | None = None) -> Message | None:
        """The newest message, or the newest one the filter matches."""
        return next(self._newest_first(flt or Filter()), None)

    def query(self, flt: Filter | None = None, *, limit: int = 50, offset: int = 0) -> Page:
        """Messages matching the filter, newest first, one page of them."""
        flt = flt or Filter()
        if not flt.needs_content:
            # Only ids are compared, so the page can be cut under the lock.
            with self._cond:
                total = len(self._messages)
                ids = reversed(self._messages)
                if flt.since is None:
                    matched = total
                    page = _page(self._messages, ids, offset, limit)
                else:
                    newer = list(_takewhile_after(ids, flt.since))
                    matched = len(newer)
                    page = [self._messages[i] for i in newer[offset : offset + limit]]
            return Page(total, matched, tuple(page))
        snapshot = self._snapshot()
        total = len(snapshot)
        matches = [m for m in reversed(snapshot) if flt.matches(m)]
        return Page(total, len(matches), tuple(matches[offset : offset + limit]))

    def stats(self) -> StoreStats:
        with self._cond:
            return StoreStats(
                count=len(self._messages),
                bytes=self._bytes,
                max_messages=self.max_messages,
                max_bytes=self.max_bytes,
                received=self._received,
                evicted=self._evicted,
                deleted=self._deleted,
                unread=len(self._messages) - len(self._read),
            )

    # -- waiting ---------------------------------------------------------------------

    def wait_for(self, flt: Filter | None = None, timeout: float = 10.0) -> Message | None:
        """Return a matching message as soon as one exists, or None after ``timeout`` s.

        With ``since`` the oldest match after it is returned, so consecutive waits walk
        through arrivals in order; without it, the newest match already stored.
        """
        flt = flt or Filter()
        deadline = time.monotonic() + timeout
        with self._cond:
            checked_up_to = self._last_id
        found = self._find_for_wait(flt, self._snapshot())
        while found is None:
            with self._cond:
                while self._last_id == checked_up_to:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._cond.wait(remaining)
                fresh = [
                    self._messages[i]
                    for i in _takewhile_after(reversed(self._messages), checked_up_to)
                ]
                checked_up_to = self._last_id
            fresh.reverse()
            found = next((m for m in fresh if flt.matches(m)), None)
        return found

    @property
    def seq(self) -> int:
        """The number of the newest event (0 before the first)."""
        return self._seq

    def events_after(self, seq: int, timeout: float) -> tuple[list[Event], bool]:
        """Events after ``seq``, waiting up to ``timeout`` s for the first one.

        The flag is False when events after ``seq`` are no longer kept, so the caller
        must reload everything instead of replaying.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._seq <= seq:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return [], True
                self._cond.wait(remaining)
            oldest = self._events[0].seq if self._events else self._seq + 1
            complete = oldest <= seq + 1
            # From the newest back: a waiter usually wants one event, not the whole history.
            fresh: list[Event] = []
            for event in reversed(self._events):
                if event.seq <= seq:
                    break
                fresh.append(event)
            fresh.reverse()
            return fresh, complete

    def wake_waiters(self) -> None:
        """Wake every thread blocked in a wait, e.g. so it can notice a shutdown."""
        with self._cond:
            self._cond.notify_all()

    # -- internals (call with the lock held) ---------------------------------------

    def _emit(self, kind: EventKind, ids: tuple[int, ...]) -> None:
        self._seq += 1
        self._events.append(Event(self._seq, kind, ids))

    def _forget(self, message: Message) -> None:
        self._bytes -= message.size
        self._read.discard(message.id)

    def _evict(self) -> None:
        evicted: list[int] = []
        while self._messages and (
            (self.max_messages and len(self._messages) > self.max_messages)
            or (self.max_bytes and self._bytes > self.max_bytes and len(self._messages) > 1)
        ):
            _, message = self._messages.popitem(last=False)
            self._forget(message)
            evicted.append(message.id)
        if evicted:
            self._evicted += len(evicted)
            self._emit("delete", tuple(evicted))

    def _snapshot(self) -> list[Message]:
        with self._cond:
            return list(self._messages.values())

    def _newest_first(self, flt: Filter) -> Iterator[Message]:
        return (m for m in reversed(self._snapshot()) if flt.matches(m))

    def _find_for_wait(self, flt: Filter, snapshot: list[Message]) -> Message | None:
        if flt.since is not None:
            return next((m for m in snapshot if flt.matches(m)), None)
        return next((m for m in reversed(snapshot) if flt.matches(m)), None)


def _page(
    messages: OrderedDict[int, Message], ids: Iterable[int], offset: int, limit: int
) -> list[Message]:
    page: list[Message] = []
    for position, message_id in enumerate(ids):
        if position >= offset + limit:
            break
        if position >= offset:
            page.append(messages[message_id])
    return page


def _takewhile_after(ids: Iterable[int], since: int) -> Iterator[int]:
    for message_id in ids:
        if message_id <= since:
            return
        yield message_id
