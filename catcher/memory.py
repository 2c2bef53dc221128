"""Giving freed memory back to the system: glibc keeps freed heap pages for reuse otherwise."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

__all__ = ["keep_large_blocks_apart", "release"]

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
