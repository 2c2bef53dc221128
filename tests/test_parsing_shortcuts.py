"""The shortcuts catcher.parsing takes give the answers of the long way round, on random input.

Each fast path (sizes without decoding, line ends without three counts, one-mailbox
headers without the tokenizer, parameters without the stdlib's quadratic splitter, the
snippet without a regular expression) is checked against the code it stands in for.
"""

from __future__ import annotations

import base64
import email.message
import random
from typing import Any

import pytest

from catcher.parsing import charsets, htmltext, mime, tree
from catcher.parsing.addresses import parse_addresses
from tests.test_parsing_tree import _node_for_header, _old_addresses, old_collapse, old_line_ends

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def random_base64(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return base64.encodebytes(rng.randbytes(rng.randrange(200))).replace(b"\n", b"\r\n")
    noise = bytes(rng.choice(ALPHABET + b"====\r\n \t!*\x00\xff") for _ in range(rng.randrange(40)))
    if kind == 1:
        return noise
    if kind == 2:
        return base64.b64encode(rng.randbytes(rng.randrange(60))) + noise[: rng.randrange(6)]
    return noise[:5] + base64.b64encode(rng.randbytes(rng.randrange(60))) + b"\r\n" * 40


def test_base64_sizes_match_decoding() -> None:
    rng = random.Random(1)
    measured = 0
    for _ in range(30_000):
        data = random_base64(rng)
        size = charsets.b64size(data)
        if size is not None:
            decoded, problem = charsets.b64decode(data)
            assert size == (len(decoded), problem), data
            measured += 1
    assert measured > 5_000
    tail = b"QUJD" + b"\r\n!" * 100_000  # a long tail after the last data character
    decoded, problem = charsets.b64decode(tail)
    assert charsets.b64size(tail) == (len(decoded), problem) == (3, problem)


def test_line_ends_match_counting() -> None:
    rng = random.Random(2)
    for _ in range(30_000):
        raw = bytes(rng.choice(b"\r\n\r\nab") for _ in range(rng.randrange(24)))
        expected = old_line_ends(raw) if b"\r" in raw else (0, 0, 0)
        assert mime._line_ends(raw) == expected, raw


def test_collapse_matches_the_regular_expression() -> None:
    rng = random.Random(3)
    pieces = ["a", "bb", " ", "\n", "\xa0", "\u3000", "x" * 300, " " * 300]
    for _ in range(5_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(60)))
        for limit in (0, 1, 7, 200, len(text) + 1):
            assert htmltext.collapse(text, limit) == old_collapse(text, limit), (text, limit)


def test_one_mailbox_headers_match_the_tokenizer() -> None:
    rng = random.Random(4)
    pieces = [
        *("a", "b@c", "x@xn--bcher-kva.de", " ", "\t", "<", ">", "@", "'", ".", "(", ")"),
        *('"', ",", ";", ":", "é", "\xa0", "\\", "[", "]"),
        *("=?utf-8?q?J=C3=B6rg?=", "=?x?q?a?=", "=?utf-8?b?####?="),
    ]
    for _ in range(30_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(9)))
        ours: list[str] = []
        theirs: list[str] = []
        got = [(a.name, a.address) for a in parse_addresses(text, "To", ours)]
        want = [(a.name, a.address) for a in _old_addresses.parse_addresses(text, "To", theirs)]
        assert (got, ours) == (want, theirs), text


def random_parameters(rng: random.Random) -> str:
    """A Content-Type value: a type and parameters, some RFC 2231, some damaged."""
    names = ["boundary", "BOUNDARY", "name", "charset", "filename", "x"]
    values = [
        *("b", "a b", "a;b", 'a\\"b', "utf-8''%E2%82%AC", "''x", "us-ascii'en'a%20b", "%", "é"),
        *("=?utf-8?q?caf=C3=A9?=", "<id>", "", "a\r\n b", "\\"),
    ]
    out = [rng.choice(["multipart/mixed", "text/plain", "", "boundary=b", " a/b "])]
    for _ in range(rng.randrange(6)):
        name = rng.choice(names) + rng.choice(["", "", "*", "*0", "*1", "*0*", "*1*", "*00", "*9"])
        value = rng.choice(values)
        if rng.random() < 0.5:
            value = '"' + value + '"'
        out.append(f"{name}={value}" if rng.random() < 0.9 else name)
    text = rng.choice([";", "; ", ";\r\n\t"]).join(out)
    for _ in range(rng.randrange(3)):  # damage: a quote, a separator or a backslash
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(['"', ";", "\\", "=", "*"]) + text[at:]
    return text


def compat32_param(node: email.message.Message, name: str) -> Any:
    try:
        return node.get_param(name, header="content-type")
    except Exception as exc:  # compat32 raises on some; ours must raise there too
        return type(exc)


def ours_param(entity: tree.Entity, name: str) -> Any:
    try:
        return entity.get_param(name)
    except ValueError:
        return "raised"


@pytest.mark.parametrize("seed", range(4))
def test_parameters_match_compat32(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(5_000):
        value = random_parameters(rng)
        node = _node_for_header(value)
        entity = tree.Entity([("Content-Type", value)], [], "text/plain", 0)
        for name in ("boundary", "name", "charset", "filename"):
            theirs = compat32_param(node, name)
            ours = ours_param(entity, name)
            if isinstance(theirs, type):
                assert ours == "raised", (value, name, theirs)
            else:
                assert ours == theirs, (value, name)
        assert entity.boundary() == node.get_boundary(), value
