"""The matches of the last few searches, kept so that asking again costs only what is new.

A person paging through results, a list that refreshes as mail arrives and a test that
polls the same query all repeat one search. Messages never change once stored, so a
search's matches stay true until a message leaves: a repeat compares only the messages
that arrived since, and drops the matches that have gone.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass

from catcher.filters import Filter

__all__ = ["Result", "Results"]

# Searches remembered, and ids held across them all.
ENTRIES = 8
MAX_IDS = 1_000_000
# An id costs its place in a list, and its int once the message has gone.
ID_BYTES = 8 + 28


@dataclass(frozen=True, slots=True)
class Result:
    """A search's matches (oldest first) among the messages up to ``upto``, taken when
    ``removals`` messages had left the store or a mailbox."""

    ids: list[int]
    upto: int
    removals: int


class Results:
    """Results by filter, least recently used first. Not thread-safe: the store's lock
    guards it."""

    def __init__(self) -> None:
        self._entries: OrderedDict[Filter, Result] = OrderedDict()
        self._ids = 0

    @property
    def bytes(self) -> int:
        return self._ids * ID_BYTES + len(self._entries) * sys.getsizeof([])

    def get(self, flt: Filter) -> Result | None:
        found = self._entries.get(flt)
        if found is not None:
            self._entries.move_to_end(flt)
        return found

    def put(self, flt: Filter, result: Result) -> None:
        self.drop(flt)
        if len(result.ids) > MAX_IDS:
            return
        self._entries[flt] = result
        self._ids += len(result.ids)
        while len(self._entries) > ENTRIES or self._ids > MAX_IDS:
            self.drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self._ids = 0

    def drop(self, flt: Filter) -> None:
        gone = self._entries.pop(flt, None)
        if gone is not None:
            self._ids -= len(gone.ids)
