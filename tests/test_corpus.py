"""Real-world mail sent over SMTP comes back byte for byte, parsed as Python's parser sees it."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest

from catcher.parsing import part_content, part_contents
from catcher.server import Catcher

from .conftest import DATA, mail_params, smtp_client


def as_a_client_sends(raw: bytes) -> bytes:
    """What a real client transmits: CRLF line ends (and smtplib adds a final CRLF)."""
    crlf = re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
    return crlf if crlf.endswith(b"\r\n") else crlf + b"\r\n"


def stdlib_view(raw: bytes) -> tuple[str, str] | None:
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        subject = str(message.get("subject", "") or "")
        sender = message.get("from")
        address = sender.addresses[0].addr_spec if sender is not None and sender.addresses else ""
    except Exception:  # the stdlib's own parser gives up on some of these
        return None
    return subject, address


def _garbled(text: str) -> bool:
    """True where the stdlib itself could not decode the text (so catcher may do better)."""
    return (
        not text or "=?" in text or "\ufffd" in text or any("\udc80" <= c <= "\udcff" for c in text)
    )


def _unescape(text: str) -> str:
    """The stdlib keeps raw UTF-8 header bytes as surrogates; read them as UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def test_corpus_is_found() -> None:
    assert len(list(DATA.rglob("*.eml"))) >= 30, "tests/data lost its messages"


@pytest.mark.parametrize("path", mail_params())
def test_round_trip(catcher: Catcher, path: Path) -> None:
    sent = as_a_client_sends(path.read_bytes())
    with smtp_client(catcher) as client:
        client.sendmail("corpus@example.com", ["inbox@example.com"], sent)
    stored = catcher.store.latest()
    assert stored is not None
    assert stored.raw == sent
    parsed = catcher.store.parsed(stored)
    view = stdlib_view(sent)
    if view is not None:
        subject, address = view
        if not _garbled(subject):
            assert " ".join(parsed.subject.split()) == " ".join(subject.split())
        if address and "@" in address:
            assert _unescape(address).lower() in [a.address.lower() for a in parsed.sender]
    # Every part from one walk; the route's one-part lookup for the first and last few.
    contents = part_contents(stored.raw)
    assert [p.part_id for p, _ in contents] == [p.part_id for p in parsed.parts]
    assert [len(data) for _, data in contents] == [p.size for p in parsed.parts]
    for part in {*parsed.parts[:3], *parsed.parts[-3:]}:
        found = part_content(stored.raw, part.part_id)
        assert found is not None, part.part_id
        assert found[0].part_id == part.part_id
        assert len(found[1]) == part.size
