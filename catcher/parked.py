"""Responses that wait: a body written by a coroutine, parked on the HTTP front's event loop.

A view validates its parameters as usual and returns ``parked_response(...)``. Under
catcher's HTTP front (``environ["catcher.changes"]`` is set) the body is an ``AsyncBody``
that the front runs on its event loop, so a parked wait or event stream costs a
coroutine, not a thread. Under any other WSGI server (Flask's test client, a debugger)
the same producer runs blocking in the request's thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from flask import Response, request

from catcher.message import Message
from catcher.store import Filter, MessageStore

__all__ = ["ENVIRON_KEY", "AsyncBody", "Changes", "Producer", "Reply", "parked_response"]

T = TypeVar("T")

ENVIRON_KEY = "catcher.changes"


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole response decided late (a wait's 200 or 408); only ever a producer's first item."""

    status: int
    body: bytes
    content_type: str = "application/json"


class Changes(Protocol):
    """What a parked producer may await: the store's next change, and work off the loop."""

    @property
    def closed(self) -> bool: ...

    def now(self) -> float: ...

    async def after(self, seq: int, timeout: float) -> int:
        """The store's event number once past ``seq``, or after ``timeout`` s, or on close."""
        ...

    async def call(self, fn: Callable[[], T], key: object = None) -> T:
        """``fn()`` in a worker thread (parsing, JSON); calls with one key share one result."""
        ...

    async def match(self, flt: Filter, since_seq: int, timeout: float) -> Message | None:
        """The first message stored after event ``since_seq`` that ``flt`` matches."""
        ...


Producer = Callable[[Changes], AsyncGenerator["bytes | Reply", None]]


class AsyncBody:
    """A WSGI body that catcher's front runs on its loop; iterated blocking anywhere else."""

    def __init__(self, produce: Producer, fallback: Changes) -> None:
        self.produce = produce
        self._fallback = fallback

    def __iter__(self) -> Iterator[bytes]:
        for item in _blocking(self.produce, self._fallback):
            yield item.body if isinstance(item, Reply) else item


class BlockingChanges:
    """``Changes`` for a plain WSGI server: blocks the request's thread on the store."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store

    @property
    def closed(self) -> bool:
        return self.store.closed

    def now(self) -> float:
        return time.monotonic()

    async def after(self, seq: int, timeout: float) -> int:
        return self.store.wait_changed(seq, timeout)

    async def call(self, fn: Callable[[], T], key: object = None) -> T:
        return fn()

    async def match(self, flt: Filter, since_seq: int, timeout: float) -> Message | None:
        deadline = time.monotonic() + timeout
        while not self.store.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            events, complete = self.store.events_after(since_seq, timeout=remaining)
            if not complete:
                return self.store.wait_for(flt, timeout=0)
            if events:
                since_seq = events[-1].seq
                found = (self.store.get(e.ids[0]) for e in events if e.kind == "new")
                fresh = (m for m in found if m is not None)
                match = next((m for m in fresh if self.store.matches(flt, m)), None)
                if match is not None:
                    return match
        return None


def _blocking(produce: Producer, changes: Changes) -> Generator[bytes | Reply, None, None]:
    """Run an async producer to its end in this thread, one item at a time."""
    loop = asyncio.new_event_loop()
    items = produce(changes)
    try:
        while True:
            try:
                yield loop.run_until_complete(items.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(items.aclose())
        loop.close()


def parked_response(produce: Producer, store: MessageStore, mimetype: str) -> Response:
    """A view's answer that waits: parked under the front, blocking under other servers."""
    fallback = BlockingChanges(store)
    if request.environ.get(ENVIRON_KEY) is not None:
        response = Response(AsyncBody(produce, fallback), mimetype=mimetype)
        response.direct_passthrough = True  # werkzeug hands the object itself to the server
        return response
    # No front: learn the status now (a Reply), then stream the rest blocking.
    items = _blocking(produce, fallback)
    first = next(items, b"")
    if isinstance(first, Reply):
        items.close()
        return Response(first.body, status=first.status, content_type=first.content_type)

    def rest() -> Iterator[bytes]:
        yield first
        for item in items:
            assert not isinstance(item, Reply)
            yield item

    return Response(rest(), mimetype=mimetype)
