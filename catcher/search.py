"""Trigram signatures: a fixed-size fingerprint of a message's text that rules most messages
out of a free-text search before any substring is compared.

A message's signature has a bit set for every three-byte sequence inside any of its
whitespace-separated words (UTF-8). A query word (which holds no whitespace) can only be
a substring of the text if every bit of its own trigrams is set in the signature, so
``signature & mask == mask`` is a necessary condition; the substring check that follows
makes the answer exact. Bits are chosen by a fixed hash, so a signature built in another
process (the indexing worker) means the same here.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache, reduce
from operator import or_

__all__ = ["BITS", "fold", "query_mask", "signature"]

BITS = 2048


def fold(text: str) -> str:
    """Text as searches compare it, both the message's and the query's: case folded, so
    ``STRASSE`` finds ``Straße`` and a final sigma matches any other (``str.lower`` for
    ASCII, where it is the same and faster)."""
    return text.lower() if text.isascii() else text.casefold()


@lru_cache(maxsize=16384)
def _word_mask(word: str) -> int:
    data = word.encode("utf-8", "surrogatepass")
    mask = 0
    for i in range(len(data) - 2):
        trigram = data[i] << 16 | data[i + 1] << 8 | data[i + 2]
        mask |= 1 << ((trigram * 2654435761 >> 13) & (BITS - 1))
    return mask


def signature(words: Iterable[str]) -> int:
    """The fingerprint of a text from its distinct words (already folded, as searches
    are)."""
    return reduce(or_, map(_word_mask, words), 0)


def query_mask(words: list[str]) -> int:
    """The bits every match of all ``words`` must have (0 when they are all too short):
    their own signature."""
    return signature(words)
