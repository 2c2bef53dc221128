"""Which messages a list, search, delete or wait is about."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from catcher.message import SearchText
from catcher.search import query_mask

__all__ = ["Filter"]


@dataclass(frozen=True, slots=True)
class Filter:
    """Which messages a query, delete or wait is about; every given field must match.

    Text fields match case-insensitively as substrings; ``text`` is free text where each
    whitespace-separated word must appear somewhere in the subject, addresses, body text
    or attachment names. ``since`` keeps only ids after it; ``mailbox`` only the messages
    in that mailbox.
    """

    to: str | None = None
    sender: str | None = None
    subject: str | None = None
    text: str | None = None
    since: int | None = None
    mailbox: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.needs_content and self.since is None and self.mailbox is None

    @property
    def needs_content(self) -> bool:
        return bool(self.to or self.sender or self.subject or self.text)

    def matches(self, message_id: int, search: SearchText | None) -> bool:
        """Whether the message matches; ``search`` may be None when no text field is set."""
        if self.since is not None and message_id <= self.since:
            return False
        if not self.needs_content:
            return True
        assert search is not None, "text filters need the message's search text"
        return self.matcher()(search)

    @property
    def mask(self) -> int:
        """The trigram bits every match's signature has: each field's words lie whole
        inside one word of the message's text, whichever field they are for."""
        fields = (self.to, self.sender, self.subject, self.text)
        return query_mask(" ".join(f for f in fields if f).lower().split())

    def matcher(self) -> Callable[[SearchText], bool]:
        """The content test alone, with its strings lower-cased once: for many messages."""
        to = (self.to or "").lower()
        sender = (self.sender or "").lower()
        subject = (self.subject or "").lower()
        words = (self.text or "").lower().split()
        mask = self.mask

        def test(search: SearchText) -> bool:
            return (
                (not mask or search.signature & mask == mask)
                and (not to or to in search.recipients)
                and (not sender or sender in search.sender)
                and (not subject or subject in search.subject)
                and all(word in search.everything for word in words)
            )

        return test
