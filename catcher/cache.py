"""Parsed models of the messages opened most recently, bounded in entries and in bytes."""

from __future__ import annotations

import sys
from collections import OrderedDict

from catcher.parsing import Parsed

__all__ = ["ParseCache", "held_bytes"]

# A person opening a message reads it several times (detail, HTML, parts); a few dozen
# models cover everyone looking at once. The rest are parsed again when asked for.
ENTRIES = 64


class ParseCache:
    """Models by message id, least recently used first. Not thread-safe: the store's lock
    guards it."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[int, tuple[Parsed, int]] = OrderedDict()

    def get(self, message_id: int) -> Parsed | None:
        entry = self._entries.get(message_id)
        if entry is None:
            return None
        self._entries.move_to_end(message_id)
        return entry[0]

    def put(self, message_id: int, parsed: Parsed, size: int) -> None:
        if size > self.max_bytes:
            return
        self.drop(message_id)
        self._entries[message_id] = (parsed, size)
        self.bytes += size
        while self.bytes > self.max_bytes or len(self._entries) > ENTRIES:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.bytes -= dropped

    def drop(self, message_id: int) -> None:
        entry = self._entries.pop(message_id, None)
        if entry is not None:
            self.bytes -= entry[1]

    def shrink(self, room: int) -> None:
        """Drop the least recently used until at most ``room`` bytes are held."""
        while self._entries and self.bytes > room:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.bytes -= dropped

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0


def held_bytes(parsed: Parsed) -> int:
    """About how much memory a parsed model holds: its strings as Python stores them."""
    size = sys.getsizeof(parsed)
    for text in (parsed.text, parsed.html, parsed.snippet, parsed.subject, parsed.date_raw):
        size += sys.getsizeof(text)
    for name, value in parsed.headers:
        size += 64 + sys.getsizeof(name) + sys.getsizeof(value)
    size += 256 * (len(parsed.parts) + len(parsed.defects))
    size += 160 * (len(parsed.to) + len(parsed.cc) + len(parsed.bcc) + len(parsed.sender))
    return size
