"""The store's changes carried onto the HTTP front's event loop, for parked waits and streams.

The store never calls into the web layer: one bridge thread blocks on the store's
condition and, when its event number moves, indexes the new mail (so parked waits match
it on the loop without parsing) and wakes the loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from catcher.message import Message
from catcher.store import Filter, MessageStore

__all__ = ["Bridge", "LoopChanges"]

T = TypeVar("T")
# Results shared between parked responses (an event's bytes, sent to every stream).
MEMO_SIZE = 1024
# The bridge wakes the loop at most this often (seconds) while mail pours in.
INTERVAL = 0.005
_RESCAN: Any = object()  # a wait must look at the store itself


class LoopChanges:
    """``catcher.parked.Changes`` on one event loop.

    Event streams all await one shared future, replaced on each change. Waits do not
    wake on every change: each parks a future with its filter, and ``publish`` matches
    the new mail against every parked filter once, on the loop, waking only the waits
    that found their message.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: Executor, store: MessageStore):
        self.loop = loop
        self.pool = pool
        self.store = store
        self.seq = store.seq
        self.closed = False
        self._next: asyncio.Future[None] = loop.create_future()
        self._memo: OrderedDict[object, asyncio.Future[Any]] = OrderedDict()
        self._waits: dict[asyncio.Future[Message | None], Filter] = {}
        # Producers awaiting a change right now; the bridge only watches the store for them.
        self.listeners = 0
        self.wanted = threading.Event()

    def now(self) -> float:
        return self.loop.time()

    @property
    def matching(self) -> bool:
        """Whether a parked wait filters on content, so new mail should be indexed at once."""
        return any(flt.needs_content for flt in list(self._waits.values()))

    def publish(self, seq: int) -> None:
        """On the loop (from the bridge): settle the waits that match, wake the streams."""
        if seq <= self.seq and not self.closed:
            return
        if self._waits:
            self._settle(self.seq, self._waits)
        self.seq = max(self.seq, seq)
        woken, self._next = self._next, self.loop.create_future()
        woken.set_result(None)

    def _settle(self, after: int, waits: dict[asyncio.Future[Message | None], Filter]) -> None:
        events, complete = self.store.events_after(after, 0)
        if not complete:  # history lost: every wait looks at the store itself
            for future in waits:
                _settle(future, _RESCAN)
            return
        found = (self.store.get(e.ids[0]) for e in events if e.kind == "new")
        fresh = [m for m in found if m is not None]
        if not fresh:
            return
        indexed = all(self.store.is_indexed(m.id) for m in fresh)
        for future, flt in list(waits.items()):
            if future.done():
                continue
            if flt.needs_content and not indexed:
                future.set_result(_RESCAN)  # the loop never parses mail
                continue
            match = next((m for m in fresh if self.store.matches(flt, m)), None)
            if match is not None:
                future.set_result(match)

    def _listening(self, delta: int) -> None:
        """Count a producer in or out; the bridge sleeps while nobody listens."""
        self.listeners += delta
        if delta > 0 and self.listeners == 1:
            # The bridge slept while nobody listened: catch up on what came meanwhile. With
            # others listening it is awake, and publishes at its own pace (a burst of
            # streams re-parking must not wake each other once each).
            self.publish(self.store.seq)
            self.wanted.set()

    async def match(self, flt: Filter, since_seq: int, timeout: float) -> Message | None:
        self._listening(1)
        try:
            return await self._match(flt, since_seq, timeout)
        finally:
            self._listening(-1)

    async def _match(self, flt: Filter, since_seq: int, timeout: float) -> Message | None:
        deadline = self.loop.time() + timeout
        while not self.closed:
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                return None
            future: asyncio.Future[Message | None] = self.loop.create_future()
            if self.seq > since_seq:  # changes since the caller looked: check them first
                self._settle(since_seq, {future: flt})
            since_seq = self.seq
            if not future.done():
                self._waits[future] = flt
                timer = self.loop.call_later(remaining, _settle, future, None)
                try:
                    await future
                finally:
                    timer.cancel()
                    self._waits.pop(future, None)
            found = future.result()
            if found is _RESCAN:
                since_seq = self.seq
                found = await self.call(lambda: self.store.wait_for(flt, timeout=0))
            if found is not None:
                return found
        return None

    async def after(self, seq: int, timeout: float) -> int:
        self._listening(1)
        try:
            deadline = self.loop.time() + timeout
            while self.seq <= seq and not self.closed:
                remaining = deadline - self.loop.time()
                if remaining <= 0:
                    break
                await asyncio.wait((self._next,), timeout=remaining)
            return self.seq
        finally:
            self._listening(-1)

    async def call(self, fn: Callable[[], T], key: object = None) -> T:
        if key is None:
            return await self.loop.run_in_executor(self.pool, fn)
        shared = self._memo.get(key)
        if shared is None:
            shared = asyncio.ensure_future(self.loop.run_in_executor(self.pool, fn))
            self._memo[key] = shared
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        result: T = await asyncio.shield(shared)
        return result

    def close(self) -> None:
        self.closed = True
        for future in list(self._waits):
            _settle(future, None)
        self.publish(self.seq)
        self.wanted.set()


def _settle(future: asyncio.Future[Any], value: object) -> None:
    if not future.done():
        future.set_result(value)


class Bridge:
    """One thread: the store's condition, then ``publish`` on the loop (indexing new mail
    first while a parked wait will match it)."""

    def __init__(self, store: MessageStore, changes: LoopChanges) -> None:
        self.store = store
        self.changes = changes
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="catcher-http-bridge", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ends once the store is closed (or its next change)."""
        self._closed = True
        self.changes.wanted.set()
        self._thread.join(timeout=1)

    def _run(self) -> None:
        store, changes = self.store, self.changes
        seq = store.seq
        published = 0.0
        while not self._closed and not store.closed:
            if not changes.listeners:
                # Nobody parked: nothing to wake, and mail pouring in costs no thread switch.
                changes.wanted.wait(1.0)
                changes.wanted.clear()
                continue
            current = store.wait_changed(seq, timeout=1.0)
            if self._closed or current == seq:
                continue
            # In a burst, one wake-up for many messages: at most one per INTERVAL.
            pause = published + INTERVAL - time.monotonic()
            if pause > 0:
                time.sleep(pause)
                current = store.seq
            if self.changes.matching:
                # Index here, not on the loop; otherwise indexing waits for a quiet moment.
                events, _ = store.events_after(seq, 0)
                for event in events:
                    message = store.get(event.ids[0]) if event.kind == "new" else None
                    if message is not None:
                        store.index(message)
            seq = current
            published = time.monotonic()
            try:
                self.changes.loop.call_soon_threadsafe(self.changes.publish, current)
            except RuntimeError:
                return  # the loop is closed: the front has stopped
