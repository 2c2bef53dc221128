"""What the store keeps of each message for lists and searches, and which are not built yet."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from catcher.message import SearchText, Summary

__all__ = ["Entry", "Index"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One message's summary and search text, and about how much memory they hold."""

    summary: Summary
    search: SearchText
    size: int

    @classmethod
    def of(cls, summary: Summary, search: SearchText) -> Entry:
        return cls(summary, search, summary.held_bytes + search.held_bytes + 200)


class Index:
    """Entries by message id, and the ids still waiting for one, oldest first. Not locked
    itself: the store's lock guards it."""

    def __init__(self) -> None:
        self._entries: dict[int, Entry] = {}
        self._pending: dict[int, None] = {}  # an ordered set
        self.bytes = 0

    def get(self, message_id: int) -> Entry | None:
        return self._entries.get(message_id)

    def searches(self, ids: list[int]) -> list[SearchText | None]:
        """The search texts of ``ids``, in step (None for one not indexed)."""
        get = self._entries.get
        return [entry.search if (entry := get(i)) is not None else None for i in ids]

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._entries

    @property
    def backlog(self) -> int:
        """How many messages have no entry yet."""
        return len(self._pending)

    def pend(self, message_id: int) -> None:
        self._pending[message_id] = None

    def pending(self, count: int, *, newest_first: bool = False) -> list[int]:
        ids: Iterator[int] = reversed(self._pending) if newest_first else iter(self._pending)
        return list(islice(ids, count))

    def keep(self, message_id: int, entry: Entry) -> bool:
        """Keep an entry for a pending message; False when it has one or is not pending."""
        if message_id in self._entries or message_id not in self._pending:
            return False
        del self._pending[message_id]
        self._entries[message_id] = entry
        self.bytes += entry.size
        return True

    def forget(self, message_id: int) -> Entry | None:
        """Drop a message's entry (or its place in the backlog); the entry it had."""
        self._pending.pop(message_id, None)
        entry = self._entries.pop(message_id, None)
        if entry is not None:
            self.bytes -= entry.size
        return entry

    def clear(self) -> None:
        self._entries.clear()
        self._pending.clear()
        self.bytes = 0
