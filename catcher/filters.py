"""Which messages a list, search, delete or wait is about."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from itertools import compress

from catcher.message import Message, SearchText, Summary
from catcher.parsing import Address, addresses_text
from catcher.search import fold, query_mask

__all__ = ["Filter", "Term", "TERM_FIELDS", "hidden_recipients"]

# What a term can be about: text fields match as case-folded substrings (``text`` as
# words, or a phrase when it has several); ``read``, ``attachment``, ``inline`` and
# ``tagged`` (in a mailbox other than ``default``) are yes/no; ``before``/``after``
# compare the time received (inclusive), ``larger``/``smaller`` the size in bytes.
TEXT_FIELDS = frozenset(
    {"text", "from", "to", "cc", "bcc", "reply-to", "addressed", "subject", "message-id"}
)
TERM_FIELDS = TEXT_FIELDS | {
    "mailbox", "tagged", "read", "attachment", "inline", "before", "after", "larger", "smaller",
}  # fmt: skip
# The fields a term reads from the message's index entry (its summary or search text).
_FROM_INDEX = TEXT_FIELDS | {"attachment", "inline"}
DEFAULT_MAILBOX = "default"

# Messages sampled to judge whether a search's signature is worth comparing.
SAMPLE = 256


@dataclass(frozen=True, slots=True)
class Term:
    """One condition of a search beyond the plain fields: ``field`` (one of
    ``TERM_FIELDS``) against ``value``, or its opposite when ``negate``."""

    field: str
    value: str | int | datetime = ""
    negate: bool = False

    def __post_init__(self) -> None:
        if self.field not in TERM_FIELDS:
            raise ValueError(f"no such search field: {self.field!r}")

    @property
    def reads_index(self) -> bool:
        """Whether testing it needs the message's summary or search text."""
        return self.field in _FROM_INDEX

    @property
    def reads_mailboxes(self) -> bool:
        return self.field in ("mailbox", "tagged")

    @property
    def phrase(self) -> str | None:
        """The folded phrase a text term of several words stands for (its words alone
        are what ``select`` tests); None for anything else."""
        if self.field != "text" or not isinstance(self.value, str):
            return None
        words = fold(self.value).split()
        return " ".join(words) if len(words) > 1 else None

    def select(
        self,
        messages: list[Message],
        summaries: list[Summary],
        searches: list[SearchText],
        read: list[bool],
        mailboxes: list[tuple[str, ...]],
    ) -> list[bool]:
        """For messages (with, in step, their summaries and search texts when the term
        ``reads_index``, read flags, and mailboxes when it ``reads_mailboxes``), whether
        each meets the term: one pass, no object per message. A phrase is tested here
        by its words only."""
        field, value = self.field, self.value
        if field == "read":
            keep = read
        elif field == "attachment":
            keep = [s.attachments > 0 for s in summaries]
        elif field == "inline":
            keep = [s.inline > 0 for s in summaries]
        elif field == "tagged":
            keep = [any(n != DEFAULT_MAILBOX for n in names) for names in mailboxes]
        elif isinstance(value, datetime):
            if field == "before":
                keep = [m.received_at <= value for m in messages]
            else:
                keep = [m.received_at >= value for m in messages]
        elif isinstance(value, int):
            if field == "larger":
                keep = [len(m.raw) > value for m in messages]
            else:
                keep = [len(m.raw) < value for m in messages]
        else:
            keep = _text_select(field, fold(value), messages, summaries, searches, mailboxes)
        return [not k for k in keep] if self.negate else keep


def _text_select(
    field: str,
    wanted: str,
    messages: list[Message],
    summaries: list[Summary],
    searches: list[SearchText],
    mailboxes: list[tuple[str, ...]],
) -> list[bool]:
    if field == "text":
        words = wanted.split()
        if len(words) == 1:
            word = words[0]
            return [word in s.everything for s in searches]
        return [all(w in s.everything for w in words) for s in searches]
    if field == "from":
        return [wanted in s.sender for s in searches]
    if field == "to":
        return [wanted in s.recipients for s in searches]
    if field == "subject":
        return [wanted in s.subject for s in searches]
    if field == "addressed":
        return [
            wanted in s.sender or wanted in s.recipients or wanted in _folded(b.reply_to)
            for s, b in zip(searches, summaries, strict=True)
        ]
    if field == "mailbox":
        return [any(fold(name) == wanted for name in names) for names in mailboxes]
    if field == "message-id":
        return [wanted in fold(b.message_id) for b in summaries]
    if field == "cc":
        return [wanted in _folded(b.cc) for b in summaries]
    if field == "reply-to":
        return [wanted in _folded(b.reply_to) for b in summaries]
    # bcc: the header's, and every envelope recipient no header names.
    return [
        wanted in _folded(b.bcc)
        or any(wanted in fold(r) for r in hidden_recipients(m, b.to, b.cc, b.bcc))
        for m, b in zip(messages, summaries, strict=True)
    ]


def _folded(addresses: tuple[Address, ...]) -> str:
    return fold(addresses_text(addresses)) if addresses else ""


def hidden_recipients(message: Message, *named: tuple[Address, ...]) -> tuple[str, ...]:
    """The envelope recipients that none of the ``named`` address fields (To, Cc and Bcc)
    names: what a blind copy was."""
    seen = {a.address.lower() for group in named for a in group}
    return tuple(r for r in message.envelope.rcpt_tos if r.lower() not in seen)


@dataclass(frozen=True, slots=True)
class Filter:
    """Which messages a query, delete or wait is about; every given field must match.

    Text fields match as substrings, case folded; ``text`` is free text where each
    whitespace-separated word must appear somewhere in the subject, addresses, body text
    or attachment names. ``since`` keeps only ids after it; ``mailbox`` only the messages
    in that mailbox. ``terms`` are further conditions (negations, read state, dates,
    sizes, more address fields), tested after the fields on what they let through.
    """

    to: str | None = None
    sender: str | None = None
    subject: str | None = None
    text: str | None = None
    since: int | None = None
    mailbox: str | None = None
    terms: tuple[Term, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.needs_content and self.since is None and self.mailbox is None

    @property
    def needs_content(self) -> bool:
        return bool(self.to or self.sender or self.subject or self.text or self.terms)

    @property
    def base(self) -> Filter:
        """This filter without its terms: what the index can answer (and remember) alone."""
        return replace(self, terms=()) if self.terms else self

    def matches(self, message_id: int, search: SearchText | None) -> bool:
        """Whether the message matches, terms aside; ``search`` may be None when no text
        field is set."""
        if self.since is not None and message_id <= self.since:
            return False
        if not self.base.needs_content:
            return True
        assert search is not None, "text filters need the message's search text"
        return self.matcher()(search)

    @property
    def mask(self) -> int:
        """The trigram bits every match's signature has: each field's words lie whole
        inside one word of the message's text, whichever field they are for."""
        fields = (self.to, self.sender, self.subject, self.text)
        return query_mask(fold(" ".join(f for f in fields if f)).split())

    def matcher(self) -> Callable[[SearchText], bool]:
        """The content test alone, with its strings folded once: for many messages (and
        built once for a filter asked about again, as a wait is on each arrival)."""
        return _matcher(self)

    def _build_matcher(self) -> Callable[[SearchText], bool]:
        to = fold(self.to or "")
        sender = fold(self.sender or "")
        subject = fold(self.subject or "")
        words = fold(self.text or "").split()
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

    def select(
        self, ids: list[int], searches: list[SearchText | None]
    ) -> tuple[list[int], list[SearchText | None]]:
        """Of ``ids`` (with their search texts, in step), those that match, in the same
        order and still in step, with those not indexed yet (None: left for the caller).

        One pass per condition over what the last one kept; before the free text, the
        signature rules most messages out without reading it. Each pass makes only a list
        of booleans, no object per message, so a search of many messages does not set
        off the garbage collector."""
        kept_ids, kept = ids, searches
        # The fields' own texts are short: comparing them costs less than a signature.
        if self.to:
            to = fold(self.to)
            kept_ids, kept = _keep(kept_ids, kept, [s is None or to in s.recipients for s in kept])
        if self.sender:
            sender = fold(self.sender)
            kept_ids, kept = _keep(kept_ids, kept, [s is None or sender in s.sender for s in kept])
        if self.subject:
            subject = fold(self.subject)
            kept_ids, kept = _keep(
                kept_ids, kept, [s is None or subject in s.subject for s in kept]
            )
        words = fold(self.text or "").split()
        mask = query_mask(words)
        if mask and _rules_out_many(kept, mask):
            kept_ids, kept = _keep(
                kept_ids, kept, [s is None or s.signature & mask == mask for s in kept]
            )
        for word in words:
            kept_ids, kept = _keep(
                kept_ids, kept, [s is None or word in s.everything for s in kept]
            )
        return kept_ids, kept


@lru_cache(maxsize=256)
def _matcher(flt: Filter) -> Callable[[SearchText], bool]:
    return flt._build_matcher()


def _rules_out_many(searches: list[SearchText | None], mask: int) -> bool:
    """Whether the signature rules out at least half of a sample: when it does not (a
    common word), comparing the text alone costs less."""
    sample = searches[:: max(1, len(searches) // SAMPLE)]
    passed = sum(1 for s in sample if s is None or s.signature & mask == mask)
    return passed * 2 <= len(sample)


def _keep(
    ids: list[int], searches: list[SearchText | None], keep: list[bool]
) -> tuple[list[int], list[SearchText | None]]:
    return list(compress(ids, keep)), list(compress(searches, keep))
