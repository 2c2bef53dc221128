"""How the store finds messages: pages, searches, the newest match and waits.

A page without text filters is a slice of the ordered ids. A search compares the search
texts kept in step with the ids, one pass per condition (``Filter.select``), and keeps
the matches of its last few searches (``Results``), so a search asked again compares
only the messages that arrived since. Part of ``MessageStore``: the attributes declared
below are the store's, under its lock.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import compress
from typing import TYPE_CHECKING, Any

from catcher.filters import Filter
from catcher.index import Entry, Index
from catcher.mailboxes import Mailboxes
from catcher.message import Message, SearchText, Summary
from catcher.parsing import Parsed, html_text
from catcher.results import Result, Results
from catcher.search import fold

if TYPE_CHECKING:
    from catcher.cache import ParseCache

__all__ = ["Finding", "Page"]

# A search that may stop at its first matches (the newest match) compares this many
# messages at a time.
LAZY_BLOCK = 4096


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query: how many are stored, how many match, and the page itself."""

    total: int
    matched: int
    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class _Taken:
    """The ids a filter looks at (oldest first), their search texts in step (none when
    the filter reads no text), whether every one was indexed (no None among them), and
    how many messages its mailbox held."""

    ids: list[int]
    searches: list[SearchText | None]
    complete: bool
    total: int


class Finding:
    """The store's reading side: ``latest``, ``query``, ``matches`` and ``wait_for``."""

    max_bytes: int
    _cond: threading.Condition
    _messages: dict[int, Message]
    _searches: list[SearchText | None]
    _boxes: Mailboxes
    _index: Index
    _parsed: ParseCache
    _results: Results
    _read: set[int]
    _removals: int
    _held: int
    _last_id: int
    _waiting: int
    _closed: bool

    if TYPE_CHECKING:

        def _ids(self, mailbox: str | None) -> list[int]: ...

        def _indexed(self, message: Message) -> Entry: ...

        def _catch_up_index(self) -> None: ...

        def _block_until(self, ready: Callable[[], bool], timeout: float | None) -> bool: ...

        def parsed(self, message: Message) -> Parsed: ...

    def latest(self, flt: Filter | None = None) -> Message | None:
        """The newest message, or the newest one the filter matches."""
        found = next(self._matching_ids(flt or Filter()), None)
        return None if found is None else self._messages.get(found)

    def query(self, flt: Filter | None = None, *, limit: int = 50, offset: int = 0) -> Page:
        """Messages matching the filter, newest first, one page of them."""
        flt = flt or Filter()
        if not flt.needs_content:
            # Only ids are compared: the page is a slice of the ordered ids.
            with self._cond:
                order = self._ids(flt.mailbox)
                total = len(order)
                first = bisect_right(order, flt.since) if flt.since is not None else 0
                end = max(first, total - offset)
                ids = order[max(first, end - limit) : end]
                page = [self._messages[i] for i in reversed(ids)]
            return Page(total, total - first, tuple(page))
        matched, total = self._matches(flt)
        end = max(0, len(matched) - offset)
        ids = matched[max(0, end - limit) : end]
        found = map(self._messages.get, reversed(ids))
        return Page(total, len(matched), tuple(m for m in found if m is not None))

    def matching_ids(self, flt: Filter) -> list[int]:
        """The ids of every message the filter matches, oldest first: for a caller that
        counts or changes them all (no message is taken out for it)."""
        return self._matches(flt)[0]

    def matches(self, flt: Filter, message: Message) -> bool:
        """Whether the filter matches the message (indexing it first when it needs to)."""
        if flt.mailbox is not None and flt.mailbox not in self._boxes.of(message.id):
            return False
        if not flt.needs_content:
            return flt.matches(message.id, None)
        if not flt.matches(message.id, self._indexed(message).search):
            return False
        return not flt.terms or bool(self._refined(flt, [message.id], catch_up=False))

    def wait_for(self, flt: Filter | None = None, timeout: float = 10.0) -> Message | None:
        """Return a matching message as soon as one exists, or None after ``timeout`` s
        (or at once, once the store is closed).

        With ``since`` the oldest match after it is returned, so consecutive waits walk
        through arrivals in order; without it, the newest match already stored.
        """
        flt = flt or Filter()
        deadline = time.monotonic() + timeout
        with self._cond:
            checked_up_to = self._last_id
        found = self._first_for_wait(flt)
        while found is None:
            with self._cond:
                seen = checked_up_to
                arrived = self._block_until(
                    lambda: self._last_id != seen,  # noqa: B023 (used before the loop goes on)
                    deadline - time.monotonic(),
                )
                if not arrived or self._closed:
                    return None
                order = self._ids(flt.mailbox)
                start = bisect_right(order, checked_up_to)
                fresh = [self._messages[i] for i in order[start:]]
                checked_up_to = self._last_id
            found = next((m for m in fresh if self.matches(flt, m)), None)
        return found

    # -- internals -------------------------------------------------------------------

    def _matches(self, flt: Filter, *, remember: bool = True) -> tuple[list[int], int]:
        """Ids of every message the filter matches, oldest first (after ``since`` only),
        and how many messages its mailbox (or All mail) held when they were taken.
        The index is caught up first rather than message by message; a search asked
        again compares only the messages that arrived since. ``remember=False``: the
        matches are about to go (a delete), so they are not kept for next time."""
        if flt.terms:
            # The index answers (and remembers) the fields; the terms are tested on
            # what they let through, every time, as read flags change.
            ids, total = self._matches(flt.base, remember=remember)
            return self._refined(flt, ids), total
        if not flt.needs_content:
            taken = self._candidates(flt)
            return taken.ids, taken.total
        self._catch_up_index()
        with self._cond:
            known = self._results.get(flt)
            removals = self._removals
            kept: list[int] = []
            if known is not None:
                kept = known.ids
                if known.removals != removals:
                    scope = self._ids(flt.mailbox)
                    present = self._messages if flt.mailbox is None else set(scope)
                    kept = [i for i in kept if i in present]
            taken = self._candidates(flt, known.upto if known is not None else None)
        ids = taken.ids
        upto = ids[-1] if ids else known.upto if known is not None else 0
        selected, texts = flt.select(ids, taken.searches)
        if not taken.complete:
            selected = self._resolved(flt, selected, texts)
        matched = kept + selected
        with self._cond:
            if remember:
                self._results.put(flt, Result(matched, upto, removals))
            else:
                self._results.drop(flt)
            if (
                self.max_bytes
                and self._held + self._parsed.bytes + self._results.bytes > self.max_bytes
            ):
                self._results.clear()
        return matched, taken.total

    def _matching_ids(self, flt: Filter) -> Iterator[int]:
        """Ids of the messages the filter matches, newest first, found a block at a time:
        for a caller that may want only the first few."""
        taken = self._candidates(flt)
        ids, searches = taken.ids, taken.searches
        if not flt.needs_content:
            yield from reversed(ids)
            return
        for end in range(len(ids), 0, -LAZY_BLOCK):
            start = max(0, end - LAZY_BLOCK)
            selected, texts = flt.select(ids[start:end], searches[start:end])
            if not taken.complete:
                selected = self._resolved(flt, selected, texts)
            if flt.terms:
                selected = self._refined(flt, selected)
            yield from reversed(selected)

    def _candidates(self, flt: Filter, after: int | None = None) -> _Taken:
        """What a filter looks at, taken in one hold of the lock."""
        with self._cond:
            order = self._ids(flt.mailbox)
            since = max(flt.since or 0, after or 0)
            first = bisect_right(order, since) if since else 0
            ids = order[first:]
            complete = self._index.backlog == 0
            if not flt.needs_content:
                searches: list[SearchText | None] = []
            elif flt.mailbox is None:
                searches = self._searches[first:]
            else:
                searches = self._index.searches(ids)
            return _Taken(ids, searches, complete, len(order))

    def _resolved(
        self, flt: Filter, ids: list[int], searches: list[SearchText | None]
    ) -> list[int]:
        """The ids of a selection, each one not indexed when it was taken now indexed and
        tested (or left out when it has since been deleted)."""
        test = flt.matcher()
        resolved = []
        for message_id, search in zip(ids, searches, strict=True):
            if search is None:
                message = self._messages.get(message_id)
                if message is None or not test(self._indexed(message).search):
                    continue
            resolved.append(message_id)
        return resolved

    def _refined(self, flt: Filter, ids: list[int], *, catch_up: bool = True) -> list[int]:
        """Of ``ids`` (which the filter's fields match), those its terms match too: one
        pass per term, as ``Filter.select`` does for the fields; a phrase's words first,
        then the phrase itself in the text of the messages that have them all. Only the
        columns some term reads are gathered, and kept in step as terms drop messages."""
        terms = flt.terms
        reads_index = any(t.reads_index for t in terms)
        if reads_index and catch_up:
            self._catch_up_index()  # (rather than message by message, below)
        with self._cond:
            found = [self._messages.get(i) for i in ids]
            read = [i in self._read for i in ids] if any(t.field == "read" for t in terms) else []
            boxes = self._boxes
            names = [boxes.of(i) for i in ids] if any(t.reads_mailboxes for t in terms) else []
        messages = [m for m in found if m is not None]  # (None: deleted since)
        if len(messages) != len(found):
            kept = [m is not None for m in found]
            read, names = list(compress(read, kept)), list(compress(names, kept))
        summaries: list[Summary] = []
        searches: list[SearchText] = []
        if reads_index:
            get = self._index.get
            entries = [get(m.id) or self._indexed(m) for m in messages]
            summaries = [e.summary for e in entries]
            searches = [e.search for e in entries]
        columns: list[list[Any]] = [c for c in (read, names, summaries, searches) if c]
        for term in terms:
            keep = term.select(messages, summaries, searches, read, names)
            phrase = term.phrase
            if phrase is not None:
                keep = self._phrase_kept(phrase, term.negate, messages, keep)
            messages = list(compress(messages, keep))
            if term is not terms[-1]:
                for column in columns:
                    column[:] = compress(column, keep)
        return [m.id for m in messages]

    def _phrase_kept(
        self, phrase: str, negate: bool, messages: list[Message], keep: list[bool]
    ) -> list[bool]:
        """``keep`` (a phrase's words tested) with the phrase itself tested where all of
        them appear: in the subject and body text, whitespace collapsed."""
        decided = list(keep)
        for n, message in enumerate(messages):
            if keep[n] != negate:  # every word is there: the phrase may not be
                parsed = self.parsed(message)
                body = parsed.text if parsed.text is not None else html_text(parsed.html or "")
                text = " ".join(fold(f"{parsed.subject}\n{body}").split())
                decided[n] = (phrase in text) != negate
        return decided

    def _first_for_wait(self, flt: Filter) -> Message | None:
        if flt.since is None:
            return self.latest(flt)
        # The oldest match after ``since``: walk forward from it.
        with self._cond:
            order = self._ids(flt.mailbox)
            ids = order[bisect_right(order, flt.since) :]
        for message_id in ids:
            message = self._messages.get(message_id)
            if message is not None and self.matches(flt, message):
                return message
        return None
