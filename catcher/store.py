"""The thread-safe in-memory message store: add, query, delete, caps, waits and an event feed."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import compress

from catcher.cache import ParseCache, held_bytes
from catcher.database import Change, Database, Saved
from catcher.feed import Event, Feed
from catcher.filters import Filter
from catcher.finding import Finding, Page
from catcher.index import Entry, Index
from catcher.mailboxes import Box, Mailboxes, MailboxStats, Origin, Router
from catcher.memory import grown, release
from catcher.message import (
    SEARCH_TEXT_LIMIT,
    Delivery,
    Envelope,
    Message,
    SearchText,
    Summary,
    index,
)
from catcher.parsing import Parsed, parse
from catcher.results import Results
from catcher.settings import Settings

__all__ = ["Event", "Filter", "MailboxStats", "MessageStore", "Page", "StoreStats"]

# Full models of the messages opened most recently are kept up to this many bytes, and
# never more than a quarter of the byte cap (a person opening one reads it several times:
# detail, HTML, parts); the rest are parsed again from the raw bytes when asked for.
PARSE_CACHE_BYTES = 64 * 1024 * 1024
# What a stored message costs besides its bytes and index: its record, envelope, slots.
PER_MESSAGE = 512
# Freed memory is handed back to the system once this much has been freed.
RELEASE_AFTER = 16 * 1024 * 1024
# A search indexes up to this many messages itself; a longer backlog it leaves to the
# background indexer (when one runs) and waits for, up to INDEX_WAIT seconds.
INLINE_INDEX = 256
INDEX_WAIT = 30.0
# Deleting more messages than this at once rebuilds each list of ids once.
BULK = 64


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counts and totals at one moment."""

    count: int
    bytes: int
    held_bytes: int
    index_bytes: int
    cache_bytes: int
    max_messages: int
    max_bytes: int
    received: int
    evicted: int
    deleted: int
    unread: int


class MessageStore(Finding):
    """Messages in arrival order behind one condition variable.

    Inside the lock there are only dict and list operations and ``notify_all``: parsing,
    matching and I/O happen in the caller's thread on immutable values taken out under
    the lock. Caps of 0 mean no cap; past a cap the oldest messages are evicted first.
    Once ``close()`` is called every wait returns at once.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or Settings()
        self.max_messages = settings.max_messages
        self.max_bytes = settings.max_bytes
        self.mailbox_max_messages = settings.mailbox_max_messages
        # Set by a background indexer while it runs: a search then waits for it rather
        # than indexing a long backlog in the request's thread.
        self.background_indexing = False
        self._cond = threading.Condition()
        self._messages: dict[int, Message] = {}
        self._order: list[int] = []  # ids, oldest first: a page at any offset is a slice
        # Each id's search text, in step with _order (None until indexed): a search
        # compares them in a few comprehensions, without a lookup per message.
        self._searches: list[SearchText | None] = []
        reserved = (settings.smtp_auth[0],) if settings.smtp_auth else ()
        self._boxes = Mailboxes(Router(settings.plus_tags, reserved))
        self._index = Index()
        cache = min(PARSE_CACHE_BYTES, self.max_bytes // 4) if self.max_bytes else PARSE_CACHE_BYTES
        self._parsed = ParseCache(cache)
        self._results = Results()
        self._removals = 0  # messages that left the store or a mailbox, ever
        self._read: set[int] = set()
        self._bytes = 0
        self._held = 0  # raw bytes, record overheads and index: everything but the cache
        self._freed = 0
        self._last_id = 0
        self._received = 0
        self._evicted = 0
        self._deleted = 0
        self._feed = Feed()
        self._waiting = 0
        self._closed = False
        # With --db: every change is recorded here under the lock, in order, and written
        # by the database's own thread; a public method that changes anything returns
        # once its changes are committed (``add(durable=False)`` leaves that to SMTP).
        self.journal: Database | None = None

    # -- writing ---------------------------------------------------------------------

    def add(
        self,
        raw: bytes,
        envelope: Envelope,
        delivery: Delivery,
        received_at: datetime | None = None,
        *,
        durable: bool = True,
    ) -> Message:
        """Store a message under the next id, in the mailboxes its routing names, and
        return it; evict past the caps. With a database, returns once that is committed
        unless not ``durable`` (the caller then awaits ``journal.synced()`` itself)."""
        when = received_at or datetime.now(UTC)
        with self._cond:
            routes = self._boxes.router.route(envelope.rcpt_tos, delivery.auth_user)
            self._last_id += 1
            message = Message(self._last_id, raw, when, envelope, delivery)
            self._messages[message.id] = message
            self._order.append(message.id)
            self._searches.append(None)
            names = self._boxes.file(message.id, len(raw), routes)
            if self._boxes.made:
                for box in self._boxes.made:
                    self._log(("box", box))
                self._boxes.made.clear()
            self._log(("add", message, names))
            self._index.pend(message.id)
            self._bytes += len(raw)
            self._held += len(raw) + PER_MESSAGE + _index_estimate(raw)
            self._received += 1
            self._feed.emit("new", (message.id,), frozenset(names))
            self._evict(names)
            self._cond.notify_all()
        self._release_freed()
        grown(len(self._messages))
        if durable:
            self._sync()
        return message

    def restore(self, saved: Saved, journal: Database) -> None:
        """Start from what a database file held (once, before any mail arrives), then
        record every later change in it; the caps apply at once (evicted messages leave
        the file too)."""
        with self._cond:
            self.journal = journal
            boxes = self._boxes
            for box in saved.boxes:
                boxes.restore(box)
            last = saved.last_id
            for message, read, names, kept in saved.messages:
                message_id = message.id
                self._messages[message_id] = message
                self._order.append(message_id)
                routes: list[tuple[str, Origin]] = [(n, "default") for n in names or ("default",)]
                boxes.file(message_id, message.size, routes)
                self._index.pend(message_id)
                self._bytes += message.size
                if kept is not None:  # indexed before the restart: ready at once
                    entry = Entry.of(*kept)
                    self._index.keep(message_id, entry)
                    self._searches.append(entry.search)
                    self._held += message.size + PER_MESSAGE + entry.size
                else:
                    self._searches.append(None)
                    self._held += message.size + PER_MESSAGE + _index_estimate(message.raw)
                if read:
                    self._read.add(message_id)
                    boxes.mark(message_id, True)
                last = max(last, message_id)
            for box in boxes.made:  # (only a file edited by hand names mailboxes it lacks)
                self._log(("box", box))
            boxes.made.clear()
            self._last_id = last
            self._evict(tuple(boxes.names()))
            self._cond.notify_all()
        grown(len(self._messages))
        self._sync()

    def delete(self, message_id: int, mailbox: str | None = None) -> bool:
        """Delete one message (from one mailbox only, given one: it lives on in any other);
        False when there was none with that id there."""
        removed = self._remove((message_id,), mailbox)
        self._sync()
        return bool(removed)

    def delete_many(self, ids: Iterable[int], mailbox: str | None = None) -> tuple[int, ...]:
        """Delete these messages (from one mailbox only, given one); ids that name none
        are left out. The ids deleted."""
        removed = self._remove(tuple(ids), mailbox)
        self._sync()
        return removed

    def delete_matching(self, flt: Filter) -> tuple[int, ...]:
        """Delete every message the filter matches (all of them for an empty filter); with
        a mailbox, from that mailbox."""
        if flt.is_empty:
            return self.clear()
        removed = self._remove(tuple(self._matches(flt, remember=False)[0]), flt.mailbox)
        self._sync()
        return removed

    def clear(self) -> tuple[int, ...]:
        """Delete everything (the mailboxes stay, empty); returns the ids deleted."""
        with self._cond:
            ids = tuple(self._order)
            self._messages.clear()
            self._order.clear()
            self._searches.clear()
            self._boxes.clear()
            self._index.clear()
            self._parsed.clear()
            self._results.clear()
            self._removals += 1
            self._read.clear()
            self._freed += self._held
            self._bytes = self._held = 0
            self._deleted += len(ids)
            self._log(("clear",))
            self._feed.emit("clear", ids, self._boxes.names())
            self._cond.notify_all()
        self._release_freed()
        self._sync()
        return ids

    def reset(self) -> None:
        """Delete everything and every mailbox: a fresh store, for a test."""
        self.clear()
        for found in self.mailboxes():
            self.delete_mailbox(found.box.name)

    def set_read(self, message_id: int, read: bool) -> bool:
        """Mark one message read or unread; False when there is no such message."""
        return bool(self.set_read_many((message_id,), read)) or message_id in self._messages

    def set_read_many(self, ids: Iterable[int], read: bool) -> tuple[int, ...]:
        """Mark messages read or unread; the ids whose flag changed."""
        changed: list[int] = []
        touched: dict[str, list[int]] = {}
        with self._cond:
            for message_id in ids:
                if message_id not in self._messages or read == (message_id in self._read):
                    continue
                if read:
                    self._read.add(message_id)
                else:
                    self._read.discard(message_id)
                for name in self._boxes.mark(message_id, read):
                    touched.setdefault(name, []).append(message_id)
                changed.append(message_id)
            if changed:
                self._log(("read", tuple(changed), read))
                self._feed.emit("read", tuple(changed), *_scoped(touched))
                self._cond.notify_all()
        if changed:
            self._sync()
        return tuple(changed)

    def note_faults(self) -> None:
        """Tell every event stream that the fault rules changed."""
        with self._cond:
            self._feed.emit("faults", ())
            self._cond.notify_all()

    # -- mailboxes -------------------------------------------------------------------

    def create_mailbox(
        self,
        name: str,
        recipients: tuple[str, ...] = (),
        smtp_user: str | None = None,
        smtp_password: str | None = None,
    ) -> Box:
        """A mailbox that takes mail arriving from now on; MailboxError when it exists or
        anything is invalid."""
        with self._cond:
            box = self._boxes.create(name, recipients, smtp_user, smtp_password)
            self._log(("box", box))
            self._feed.emit("mailbox", (), frozenset((name,)))
            self._cond.notify_all()
        self._sync()
        return box

    def delete_mailbox(self, name: str) -> tuple[int, ...] | None:
        """Delete a mailbox and the messages only it held (the ids deleted); None when
        there is no such mailbox."""
        with self._cond:  # one hold (the lock is re-entrant): nothing is filed meanwhile
            if name not in self._boxes:
                return None
            removed = self._remove(tuple(self._boxes.ids(name)), name)
            self._boxes.remove(name)
            self._log(("unbox", name))
            self._feed.emit("mailbox", (), frozenset((name,)))
            self._cond.notify_all()
        self._sync()
        return removed

    @property
    def plus_tags(self) -> bool:
        """Whether ``anyone+TAG@`` routes to mailbox ``TAG``."""
        return self._boxes.router.plus_tags

    def has_mailbox(self, name: str) -> bool:
        return name in self._boxes

    @property
    def mailbox_count(self) -> int:
        return len(self._boxes.router)

    def mailboxes(self) -> list[MailboxStats]:
        """Every mailbox, in the order they were made."""
        with self._cond:
            return self._boxes.all_stats()

    def mailbox(self, name: str) -> MailboxStats | None:
        with self._cond:
            return self._boxes.stats(name)

    def routes(self, rcpt_tos: tuple[str, ...], login: str | None) -> tuple[str, ...]:
        """The mailboxes a message to these recipients (from this login) would go to."""
        with self._cond:
            return tuple(name for name, _ in self._boxes.router.route(rcpt_tos, login))

    def mailboxes_of(self, message_id: int) -> tuple[str, ...]:
        return self._boxes.of(message_id)

    def check_login(
        self, user: str, password: str, server_password: str | None = None
    ) -> bool | None:
        """Whether a login may go on as far as mailboxes decide (see ``Router.login``);
        None when no mailbox has a say."""
        return self._boxes.router.login(user, password, server_password)

    # -- reading ---------------------------------------------------------------------

    def get(self, message_id: int) -> Message | None:
        return self._messages.get(message_id)

    def read_count(self, ids: Iterable[int]) -> int:
        """How many of these messages are read."""
        with self._cond:
            read = self._read
            return sum(1 for i in ids if i in read)

    def is_read(self, message_id: int) -> bool:
        return message_id in self._read

    def __len__(self) -> int:
        return len(self._messages)

    def stats(self) -> StoreStats:
        with self._cond:
            return StoreStats(
                count=len(self._messages),
                bytes=self._bytes,
                held_bytes=self._held + self._parsed.bytes + self._results.bytes,
                index_bytes=self._index.bytes,
                cache_bytes=self._parsed.bytes,
                max_messages=self.max_messages,
                max_bytes=self.max_bytes,
                received=self._received,
                evicted=self._evicted,
                deleted=self._deleted,
                unread=len(self._messages) - len(self._read),
            )

    # -- derived data ----------------------------------------------------------------

    def summary(self, message: Message) -> Summary:
        """What a list shows of the message (built on first use, then kept)."""
        return self._indexed(message).summary

    def parsed(self, message: Message) -> Parsed:
        """The full model of the message, from a cache of those opened most recently."""
        found = self._parsed.get(message.id)
        if found is not None:
            return found
        parsed = parse(message.raw)
        with self._cond:
            if message.id in self._messages:  # never cache a message deleted meanwhile
                self._parsed.put(message.id, parsed, held_bytes(parsed))
                if self.max_bytes:
                    self._parsed.shrink(self.max_bytes - self._held - self._results.bytes)
        return parsed

    def is_indexed(self, message_id: int) -> bool:
        return message_id in self._index

    def index(self, message: Message) -> None:
        """Build the message's summary and search text now, if not built yet."""
        self._indexed(message)

    @property
    def received(self) -> int:
        """How many messages have ever been stored (deleted and evicted ones included)."""
        return self._received

    @property
    def unindexed(self) -> int:
        """How many messages have no summary and search text yet."""
        return self._index.backlog

    def unindexed_messages(self, count: int, *, newest_first: bool = False) -> list[Message]:
        """Up to ``count`` of the messages not indexed yet (oldest first unless asked)."""
        with self._cond:
            return [
                self._messages[i] for i in self._index.pending(count, newest_first=newest_first)
            ]

    def put_index(self, message: Message, summary: Summary, search: SearchText) -> None:
        """Keep an index built elsewhere (a worker process) for a message still stored."""
        with self._cond:
            self._keep_index(message, Entry.of(summary, search))
            if self._index.backlog <= INLINE_INDEX:
                self._cond.notify_all()  # a search waiting for the backlog may go on

    def index_newest(self, count: int) -> int:
        """Build the summary and search text of up to ``count`` unindexed messages, newest
        first; how many were built."""
        messages = self.unindexed_messages(count, newest_first=True)
        for message in messages:
            self._indexed(message)
        return len(messages)

    @property
    def parse_cache_bytes(self) -> int:
        """Bytes held by the cache of parsed models."""
        return self._parsed.bytes

    @property
    def parse_cache_limit(self) -> int:
        return self._parsed.max_bytes

    # -- waiting (and wait_for, in Finding) -------------------------------------------

    @property
    def waiting(self) -> int:
        """How many callers are blocked in a wait of this store right now."""
        return self._waiting

    @property
    def seq(self) -> int:
        """The number of the newest event (0 before the first)."""
        return self._feed.seq

    def events_after(self, seq: int, timeout: float) -> tuple[list[Event], bool]:
        """Events after ``seq``, waiting up to ``timeout`` s for the first one (no wait
        once the store is closed).

        The flag is False when events after ``seq`` are no longer kept, so the caller
        must reload everything instead of replaying.
        """
        with self._cond:
            if not self._block_until(lambda: self._feed.seq > seq, timeout):
                return [], True
            return self._feed.since(seq)

    def wait_changed(self, seq: int, timeout: float | None = None) -> int:
        """The event number once it is past ``seq``, or as it is after ``timeout`` s or
        once the store is closed."""
        with self._cond:
            self._block_until(lambda: self._feed.seq != seq, timeout)
            return self._feed.seq

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """End every wait now and make later ones return at once (the server is stopping)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- internals -------------------------------------------------------------------

    def _catch_up_index(self) -> None:
        """Before a search: a long backlog is left to the background indexer (waited
        for); what remains is indexed here."""
        if self._index.backlog > INLINE_INDEX and self.background_indexing:
            with self._cond:
                self._block_until(lambda: self._index.backlog <= INLINE_INDEX, INDEX_WAIT)
        for message in self.unindexed_messages(self._index.backlog):
            self._indexed(message)

    # (call with the lock held)
    def _block_until(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        """Wait on the store's condition until ``ready()``, the store closes or ``timeout``
        s pass, counted in ``waiting``; whether it is ready."""
        self._waiting += 1
        try:
            self._cond.wait_for(lambda: ready() or self._closed, timeout)
        finally:
            self._waiting -= 1
        return ready()

    def _indexed(self, message: Message) -> Entry:
        found = self._index.get(message.id)
        if found is not None:
            return found
        cached = self._parsed.get(message.id)
        if cached is not None:
            summary, search = Summary.of(cached), SearchText.of(message.envelope, cached)
        else:
            summary, search = index(message.raw, message.envelope)
        built = Entry.of(summary, search)
        with self._cond:
            self._keep_index(message, built)
        return built

    # (call with the lock held)
    def _keep_index(self, message: Message, built: Entry) -> None:
        if message.id in self._messages and self._index.keep(message.id, built):
            self._searches[bisect_left(self._order, message.id)] = built.search
            # Reading never evicts: the estimate made on arrival gives way to the size.
            self._held += built.size - _index_estimate(message.raw)
            # Kept in the file too (never waited for): a restart need not build it again.
            self._log(("indexed", message.id, built.summary, built.search))

    def _ids(self, mailbox: str | None) -> list[int]:
        """The ordered ids of a mailbox (of All mail for None); empty for no such mailbox."""
        return self._order if mailbox is None else self._boxes.ids(mailbox)

    def _remove(self, ids: tuple[int, ...], mailbox: str | None) -> tuple[int, ...]:
        """Delete messages (from one mailbox only, given one); the ids that went from it."""
        gone: list[int] = []
        unfiled: list[int] = []
        touched: dict[str, list[int]] = {}
        # Many at once: each list of ids is rebuilt once at the end rather than shifted
        # once per message (deleting 50,000 of 100,000 held the lock for almost a second).
        later = len(ids) > BULK
        with self._cond:
            for message_id in ids:
                names = self._boxes.of(message_id)
                if not names or (mailbox is not None and mailbox not in names):
                    continue
                if mailbox is not None and len(names) > 1:
                    self._unfile(message_id, mailbox, later=later)
                    unfiled.append(message_id)
                else:
                    for name in names:
                        touched.setdefault(name, []).append(message_id)
                    self._drop(message_id, later=later)
                    gone.append(message_id)
            if later:
                self._prune(set(gone), touched, mailbox, set(unfiled))
            if gone:
                self._deleted += len(gone)
                self._log(("delete", tuple(gone)))
                self._feed.emit("delete", tuple(gone), *_scoped(touched))
            for message_id in unfiled:
                self._log(("file", message_id, self._boxes.of(message_id)))
            if unfiled:
                self._feed.emit(
                    "delete", tuple(unfiled), frozenset((mailbox or "",)), everywhere=False
                )
            if gone or unfiled:
                self._cond.notify_all()
        self._release_freed()
        return tuple(sorted(gone + unfiled))

    def _unfile(self, message_id: int, name: str, *, later: bool = False) -> None:
        """Take a message out of one of its mailboxes (``later``: see ``_prune``)."""
        size = self._messages[message_id].size
        self._removals += 1
        self._boxes.unfile(message_id, name, size, message_id in self._read, later=later)

    def _drop(self, message_id: int, *, evicted: bool = False, later: bool = False) -> None:
        """Delete a message everywhere (the lock held; ``later``: its places in the lists
        of ids are left for ``_prune``)."""
        message = self._messages.pop(message_id)
        self._removals += 1
        if not later:
            position = bisect_left(self._order, message_id)
            del self._order[position]
            del self._searches[position]
        read = message_id in self._read
        self._boxes.forget(message_id, message.size, read, evicted=evicted, later=later)
        self._forget(message)

    def _prune(
        self, gone: set[int], touched: dict[str, list[int]], mailbox: str | None, unfiled: set[int]
    ) -> None:
        """Rebuild the lists of ids once after messages were dropped or unfiled ``later``."""
        if gone:
            keep = [i not in gone for i in self._order]
            self._order = list(compress(self._order, keep))
            self._searches = list(compress(self._searches, keep))
            self._boxes.prune(touched, gone)
        if unfiled and mailbox is not None:
            self._boxes.prune((mailbox,), unfiled)

    def _forget(self, message: Message) -> None:
        held = message.size + PER_MESSAGE
        entry = self._index.forget(message.id)
        held += entry.size if entry is not None else _index_estimate(message.raw)
        self._bytes -= message.size
        self._held -= held
        self._freed += held
        self._read.discard(message.id)
        self._parsed.drop(message.id)

    def _evict(self, arrived_in: tuple[str, ...] = ()) -> None:
        """Past a cap, drop cached models first, then the oldest messages: first those of
        a mailbox over its own cap (they leave it, and go when no other mailbox holds
        them), then the oldest of all."""
        if (
            self.max_bytes
            and self._held + self._parsed.bytes + self._results.bytes > self.max_bytes
        ):
            self._results.clear()
            self._parsed.shrink(max(0, self.max_bytes - self._held))
        evicted: list[int] = []
        homes: dict[str, list[int]] = {}
        if self.mailbox_max_messages:
            for name in arrived_in:
                for oldest in self._boxes.over_cap(name, self.mailbox_max_messages):
                    if len(self._boxes.of(oldest)) > 1:
                        self._unfile(oldest, name)
                        self._log(("file", oldest, self._boxes.of(oldest)))
                        self._feed.emit("delete", (oldest,), frozenset((name,)), everywhere=False)
                    else:
                        evicted.append(oldest)
                        homes.setdefault(name, []).append(oldest)
                        self._drop(oldest)
        order = self._order
        while order and (
            (self.max_messages and len(order) > self.max_messages)
            or (self.max_bytes and self._held > self.max_bytes and len(order) > 1)
        ):
            oldest = order[0]
            for name in self._boxes.of(oldest):
                homes.setdefault(name, []).append(oldest)
            evicted.append(oldest)
            self._drop(oldest, evicted=True)
        if evicted:
            self._evicted += len(evicted)
            self._log(("delete", tuple(evicted)))
            self._feed.emit("delete", tuple(evicted), *_scoped(homes))
            for name in self._boxes.reap(homes):
                self._log(("unbox", name))

    # (call with the lock held)
    def _log(self, change: Change) -> None:
        if self.journal is not None:
            self.journal.record(change)

    def _sync(self) -> None:
        """With a database, wait (outside the lock) until every change recorded so far
        is committed: a change acknowledged over the API survives a crash."""
        if self.journal is not None:
            self.journal.wait()

    def _release_freed(self) -> None:
        # Outside the lock: handing memory back walks the heap.
        if self._freed >= RELEASE_AFTER:
            self._freed = 0
            release()


def _scoped(
    touched: dict[str, list[int]],
) -> tuple[frozenset[str], tuple[tuple[str, tuple[int, ...]], ...]]:
    """An event's mailboxes, and which of its ids each of them saw change."""
    return frozenset(touched), tuple((name, tuple(ids)) for name, ids in touched.items())


def _index_estimate(raw: bytes) -> int:
    """What indexing the message will hold, counted from its arrival so that reading
    (which builds the index) never has to evict: its text, up to what search reads."""
    return min(len(raw), 2 * SEARCH_TEXT_LIMIT) + 1024
