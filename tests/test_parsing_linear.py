"""Hostile input costs time in proportion to its size: 512 KB costs about four times 128 KB.

Each generator builds a message of about the size asked for out of one repeated piece of
trouble. Times are CPU times, the best of three, compared as a ratio (never against a
clock), so a busy machine slows both sizes alike. Quadratic work would show a ratio near
16; the test allows 8.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import pytest

from catcher.parsing import parse


def fill(head: bytes, piece: bytes | Callable[[int], bytes], size: int, tail: bytes = b"") -> bytes:
    """``head``, copies of ``piece`` (or ``piece(i)``) up to ``size`` bytes, then ``tail``."""
    out = [head]
    total = len(head) + len(tail)
    number = 0
    while total < size:
        chunk = piece(number) if callable(piece) else piece
        out.append(chunk)
        total += len(chunk)
        number += 1
    out.append(tail)
    return b"".join(out)


MIXED = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
HOSTILE: dict[str, Callable[[int], bytes]] = {
    "nested multiparts": lambda size: fill(
        b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n",
        lambda i: b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1),
        size,
    ),
    "tiny parts": lambda size: fill(MIXED, b"--b\r\n\r\nx\r\n", size, b"--b--\r\n"),
    "empty parts": lambda size: fill(MIXED, b"--b\r\n\r\n", size),
    "huge header": lambda size: fill(b"Subject: ", b"word ", size, b"\r\n\r\nbody\r\n"),
    "many header lines": lambda size: fill(b"", b"X-Header: value\r\n", size, b"\r\nbody\r\n"),
    "folded header": lambda size: fill(b"Subject: x\r\n", b" folded\r\n", size, b"\r\nbody\r\n"),
    "long line of boundaries": lambda size: fill(
        MIXED + b"--b\r\n\r\n", b"x--b", size, b"\r\n--b--\r\n"
    ),
    "boundary prefix of every line": lambda size: fill(
        MIXED + b"--b\r\n\r\n", b"--bb\r\n", size, b"--b--\r\n"
    ),
    "unclosed quote in parameters": lambda size: fill(
        b'Content-Type: text/plain; name="a', b";b", size, b"\r\n\r\nbody\r\n"
    ),
    "RFC 2231 continuations": lambda size: fill(
        b"Content-Type: application/pdf", lambda i: b";\r\n name*%d*=%%41" % i, size, b"\r\n\r\nx"
    ),
    "many addresses": lambda size: fill(b"To: ", b"a@b.c, ", size, b"\r\n\r\nbody\r\n"),
    "encoded words": lambda size: fill(b"Subject: ", b"=?utf-8?q?a?= ", size, b"\r\n\r\nx"),
    "misplaced From lines": lambda size: fill(b"Subject: x\r\n", b"From x\r\n", size, b"\r\nx"),
    "continuation lines first": lambda size: fill(b"", b" x\r\n", size, b"\r\nbody\r\n"),
    "bare CR line ends": lambda size: fill(b"Subject: x\r\n\r\n", b"a\rb\n", size),
    "junk in base64": lambda size: fill(
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        b"QUJD!*\r\n",
        size,
    ),
    "nested attached messages": lambda size: fill(
        b"", b"Content-Type: message/rfc822\r\n\r\n", size
    ),
    "HTML body": lambda size: fill(b"Content-Type: text/html\r\n\r\n", b"<a href=x><p>hi", size),
}


def cpu_time(raw: bytes) -> float:
    gc.collect()
    start = time.process_time()
    parse(raw)
    return time.process_time() - start


def growth(make: Callable[[int], bytes], small: int = 128 * 1024, large: int = 512 * 1024) -> float:
    """How many times longer the large input takes than the small one (best of three each;
    the large one stops early once it is clearly linear)."""
    small_raw, large_raw = make(small), make(large)
    base = max(min(cpu_time(small_raw) for _ in range(3)), 1e-4)
    best = float("inf")
    for _ in range(3):
        best = min(best, cpu_time(large_raw))
        if best / base < 6:
            break
    return best / base


@pytest.mark.slow
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_input_takes_linear_time(name: str) -> None:
    ratio = growth(HOSTILE[name])
    assert ratio < 8, f"{name}: 512 KB took {ratio:.1f} times as long as 128 KB"


def test_generators_make_the_sizes_asked_for() -> None:
    for name, make in HOSTILE.items():
        assert 256 * 1024 <= len(make(256 * 1024)) < 256 * 1024 + 200, name
