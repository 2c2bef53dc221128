"""Giving freed memory back to the system: glibc keeps freed heap pages for reuse otherwise."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

__all__ = ["release"]


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return None
    return trim


_TRIM = _malloc_trim()


def release() -> None:
    """Return free heap memory to the system, where the C library can (glibc)."""
    if _TRIM is not None:
        _TRIM(0)
