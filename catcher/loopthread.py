"""An event loop in its own thread, started synchronously and stopped from outside: how the
SMTP server and the HTTP front each run."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["LoopThread", "new_event_loop"]


def new_event_loop(choice: str) -> asyncio.AbstractEventLoop:
    """A fresh event loop: uvloop when asked for, or when installed and ``auto``."""
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise RuntimeError(
                    "event_loop: uvloop is not installed (pip install uvloop)"
                ) from None
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


class LoopThread:
    """``start()`` makes the loop, runs ``setup`` on it and returns once that is done,
    re-raising anything it raised; the loop then runs until ``stop()``."""

    def __init__(
        self,
        name: str,
        setup: Callable[[], Awaitable[None]],
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
    ) -> None:
        self.setup = setup
        self.loop_factory = loop_factory
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    def alive(self) -> bool:
        return self._thread.is_alive()

    def call(self, step: Callable[[], Awaitable[T]], timeout: float = 5.0) -> T:
        """Run ``step`` on the loop and return what it returns."""
        assert self.loop is not None, "not started"
        return asyncio.run_coroutine_threadsafe(_result(step), self.loop).result(timeout)

    def stop(self, shutdown: Callable[[], Awaitable[None]], timeout: float = 5.0) -> None:
        """Run ``shutdown`` on the loop, then stop the loop and wait for the thread."""
        loop = self.loop
        if loop is None or not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(_await(shutdown), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            loop = self.loop_factory()
        except BaseException as error:
            self._error = error
            self._ready.set()
            return
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.setup())
        except BaseException as error:
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


async def _await(step: Callable[[], Awaitable[None]]) -> None:
    await step()


async def _result(step: Callable[[], Awaitable[T]]) -> T:
    return await step()
