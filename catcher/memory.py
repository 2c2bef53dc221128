"""Memory for a store that holds many messages: freed memory given back to the system
(glibc keeps freed heap pages for reuse otherwise), and stored mail kept out of the
cyclic garbage collector's full passes."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
from collections.abc import Callable

__all__ = ["freeze_stored_mail", "grown", "keep_large_blocks_apart", "release", "sweep"]

# Once this many more messages are stored than ever before, what is alive is frozen.
FREEZE_STEP = 5000

M_MMAP_THRESHOLD = -3  # mallopt parameter numbers (malloc.h)


def _glibc(function: str) -> Callable[..., int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        found: Callable[..., int] = getattr(ctypes.CDLL(name), function)
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return None
    return found


_TRIM = _glibc("malloc_trim")


def keep_large_blocks_apart(threshold: int = 256 * 1024) -> None:
    """Give every block of ``threshold`` bytes or more its own mapping, returned on free.

    glibc raises this threshold each time such a block is freed (up to 32 MB), after which
    large messages land on the heap and their memory stays with the process. For a whole
    program to choose (the command line does), never for a library.
    """
    mallopt = _glibc("mallopt")
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, threshold)


def release() -> None:
    """Return free heap memory to the system, where the C library can (glibc)."""
    if _TRIM is not None:
        _TRIM(0)


class _Freezer:
    def __init__(self) -> None:
        self.enabled = False
        self.high = 0
        self.swept = True  # nothing frozen since the last sweep
        self.lock = threading.Lock()


_FREEZER = _Freezer()


def freeze_stored_mail() -> None:
    """Keep stored mail out of the garbage collector's full passes while mail arrives.

    Each stored message is a dozen small objects the collector tracks. A full pass walks
    every one while holding the interpreter lock, so with 100,000 stored a pass stops
    SMTP and HTTP for over half a second, more as the store grows. From now on, each
    time the store holds ``FREEZE_STEP`` more messages than it ever has, the objects
    alive are moved out of the collector's reach (``gc.freeze``, which costs nothing).
    Stored mail holds no reference cycles, so it is still freed the moment it is
    deleted. What else was alive then and later dies in a cycle (an SMTP session cut off
    in the middle of its DATA, with the data read so far) is left for ``sweep``, once
    mail has stopped arriving. For a whole program to choose (the command line does),
    never for a library.
    """
    _FREEZER.enabled = True


def grown(count: int) -> None:
    """The store now holds ``count`` messages."""
    freezer = _FREEZER
    if not freezer.enabled or count < freezer.high + FREEZE_STEP:
        return
    with freezer.lock:
        if count < freezer.high + FREEZE_STEP:
            return
        freezer.high = count
        freezer.swept = False
        gc.collect(1)  # the young generations' garbage first: it is small and collectable
        gc.freeze()


def sweep() -> None:
    """After a freeze, once mail is quiet: one full pass over everything, frozen objects
    included, so cycles that died frozen are collected; then freeze what is alive again.
    The pass takes as long as the collector would have (over half a second at 100,000
    stored), once, while nothing arrives."""
    freezer = _FREEZER
    if freezer.swept:
        return
    with freezer.lock:
        if freezer.swept:
            return
        freezer.swept = True
        gc.unfreeze()
        gc.collect()
        gc.freeze()
