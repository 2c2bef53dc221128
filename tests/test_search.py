"""Search is exact however far indexing has got: cold, half built, warm, or built by the
worker process; and nothing deleted while being indexed comes back."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from catcher.indexer import Indexer
from catcher.message import Delivery, Envelope, Message, index
from catcher.settings import Settings
from catcher.store import Filter, MessageStore

from .conftest import DATA

DELIVERY = Delivery("127.0.0.1", "test", False, None)
WORDS = "invoice order café naïve zürich 東京 résumé ab x8 reset password déjà vu".split()


def corpus() -> list[tuple[bytes, Envelope]]:
    """Real mail from tests/data and generated mail with the words the queries look for."""
    rng = random.Random(5)
    mail = [
        (path.read_bytes(), Envelope("data@example.com", (f"r{n}@example.com",)))
        for n, path in enumerate(sorted(DATA.rglob("*.eml")))
    ]
    for n in range(240):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30)))
        to = f"user{n % 7}@w{n % 3}.test"
        raw = (
            f"From: Sender {n % 5} <app{n % 5}@shop.test>\r\nTo: {to}\r\n"
            f"Subject: =?utf-8?q?Note_{n}_{rng.choice(WORDS).replace(' ', '_')}?=\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{words}\r\n"
        ).encode()
        mail.append((raw, Envelope(f"bounce{n % 4}@shop.test", (to, f"bcc{n % 2}@hidden.test"))))
    return mail


QUERIES = [
    Filter(text="invoice"),
    Filter(text="café"),
    Filter(text="CAFÉ order"),
    Filter(text="東京"),
    Filter(text="ab"),
    Filter(text="x"),
    Filter(text="no-such-word-anywhere"),
    Filter(text="résumé naïve"),
    Filter(to="w1.test"),
    Filter(to="bcc1@hidden"),
    Filter(sender="app3"),
    Filter(sender="bounce2@shop.test", text="reset"),
    Filter(subject="note 1"),
    Filter(subject="note", since=150),
    Filter(text="déjà", to="user2", since=40),
]


def expected(messages: list[Message], flt: Filter) -> list[int]:
    """The answer by brute force: every message indexed afresh, newest first."""
    found = []
    for message in reversed(messages):
        _, search = index(message.raw, message.envelope)
        if flt.matches(message.id, search):
            found.append(message.id)
    return found


def answers(store: MessageStore) -> list[list[int]]:
    return [[m.id for m in store.query(flt, limit=1000).messages] for flt in QUERIES]


@pytest.fixture(scope="module")
def mail() -> list[tuple[bytes, Envelope]]:
    return corpus()


def filled(mail: list[tuple[bytes, Envelope]]) -> tuple[MessageStore, list[Message]]:
    store = MessageStore(Settings(max_messages=0, max_bytes=0))
    return store, [store.add(raw, envelope, DELIVERY) for raw, envelope in mail]


def test_search_is_the_same_cold_half_built_and_warm(mail: list[tuple[bytes, Envelope]]) -> None:
    store, messages = filled(mail)
    truth = [expected(messages, flt) for flt in QUERIES]
    assert any(truth) and not all(truth), "the queries must tell messages apart"
    # Cold: nothing indexed until the searches themselves do it.
    assert store.unindexed == len(messages)
    assert answers(store) == truth
    # Half built: a fresh store with every other message indexed.
    store, messages = filled(mail)
    for message in messages[::2]:
        store.index(message)
    assert 0 < store.unindexed < len(messages)
    assert answers(store) == truth
    # Warm: everything indexed.
    assert store.unindexed == 0
    assert answers(store) == truth
    # Counting and paging agree with the whole list.
    for flt, ids in zip(QUERIES, truth, strict=True):
        page = store.query(flt, limit=7, offset=3)
        assert page.matched == len(ids)
        assert [m.id for m in page.messages] == ids[3:10]


@pytest.fixture
def worker_indexer() -> Iterator[tuple[MessageStore, Indexer]]:
    store = MessageStore(Settings(max_messages=0, max_bytes=0))
    indexer = Indexer(store, worker_after=1)
    indexer.start()
    try:
        yield store, indexer
    finally:
        store.close()
        indexer.stop()


def settle(store: MessageStore, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while store.unindexed and time.monotonic() < deadline:
        store.wait_changed(store.seq, timeout=0.02)
    assert store.unindexed == 0


def test_search_is_the_same_when_the_worker_builds_the_index(
    mail: list[tuple[bytes, Envelope]], worker_indexer: tuple[MessageStore, Indexer]
) -> None:
    store, indexer = worker_indexer
    messages = [store.add(raw, envelope, DELIVERY) for raw, envelope in mail]
    settle(store)
    assert indexer.worker_pid is not None, "the worker did the indexing"
    assert answers(store) == [expected(messages, flt) for flt in QUERIES]


def test_a_killed_worker_loses_nothing_and_indexing_goes_on(
    mail: list[tuple[bytes, Envelope]], worker_indexer: tuple[MessageStore, Indexer]
) -> None:
    store, indexer = worker_indexer
    first = [store.add(raw, envelope, DELIVERY) for raw, envelope in mail[:50]]
    settle(store)
    pid = indexer.worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    rest = [store.add(raw, envelope, DELIVERY) for raw, envelope in mail[50:]]
    settle(store)
    assert indexer.worker_pid not in (None, pid), "a new worker took over"
    messages = first + rest
    assert len(store) == len(messages)
    assert answers(store) == [expected(messages, flt) for flt in QUERIES]


def test_messages_deleted_while_being_indexed_never_come_back(
    mail: list[tuple[bytes, Envelope]], worker_indexer: tuple[MessageStore, Indexer]
) -> None:
    store, _ = worker_indexer
    kept: list[Message] = []
    stop = threading.Event()

    def deleter() -> None:
        while not stop.is_set():
            newest = store.latest()
            if newest is not None and newest.id % 3 == 0:
                store.delete(newest.id)

    thread = threading.Thread(target=deleter)
    thread.start()
    try:
        for round_ in range(3):
            for raw, envelope in mail:
                kept.append(store.add(raw, envelope, DELIVERY))
            store.delete_matching(Filter(text="invoice", since=kept[-len(mail)].id))
            if round_ == 1:
                store.clear()
    finally:
        stop.set()
        thread.join()
    settle(store)
    present = {m.id for m in store.query(limit=100_000).messages}
    assert present, "something is left to check"
    for flt in [Filter(), *QUERIES]:
        found = [m.id for m in store.query(flt, limit=100_000).messages]
        assert set(found) <= present, flt
        assert all(store.get(i) is not None for i in found)
    stats = store.stats()
    assert stats.count == len(present)
    assert stats.index_bytes > 0 and store.unindexed == 0


def test_a_deep_page_is_a_slice(mail: list[tuple[bytes, Envelope]]) -> None:
    store, messages = filled(mail)
    ids = [m.id for m in reversed(messages)]
    for offset in (0, 1, 49, len(ids) - 3, len(ids), len(ids) + 10):
        page = store.query(limit=50, offset=offset)
        assert [m.id for m in page.messages] == ids[offset : offset + 50]
        assert (page.total, page.matched) == (len(ids), len(ids))
    since = messages[100].id
    page = store.query(Filter(since=since), limit=20, offset=5)
    assert page.matched == len([i for i in ids if i > since])
    assert [m.id for m in page.messages] == [i for i in ids if i > since][5:25]


def test_a_repeated_search_follows_mail_in_and_out(mail: list[tuple[bytes, Envelope]]) -> None:
    """A search asked again compares only what arrived since: its answer must stay exact
    as mail arrives, is deleted, leaves one mailbox, is evicted, or everything is cleared."""
    store = MessageStore(Settings(max_messages=180, max_bytes=0))
    store.create_mailbox("w1", ("*@w1.test",))
    store.create_mailbox("h1", ("bcc1@hidden.test",))
    queries = [
        Filter(text="invoice"),
        Filter(text="café", mailbox="w1"),
        Filter(to="user2", mailbox="h1"),
        Filter(sender="app3"),
        Filter(subject="note 1", mailbox="w1"),
        Filter(text="résumé naïve"),
        Filter(text="ab", since=200),
        Filter(text="x", mailbox="h1"),
    ]
    searches: dict[int, object] = {}
    rng = random.Random(11)

    def check(step: str) -> None:
        for flt in queries:
            scope = store.query(Filter(mailbox=flt.mailbox), limit=100_000).messages
            truth = [
                m.id
                for m in scope
                if flt.matches(m.id, searches.setdefault(m.id, index(m.raw, m.envelope)[1]))
            ]
            for _ in range(2):  # asked afresh, then again
                found = [m.id for m in store.query(flt, limit=100_000).messages]
                assert found == truth, (step, flt)
                assert store.query(flt, limit=5, offset=2).matched == len(truth)

    check("empty")
    left_one = 0
    for round_ in range(6):
        for raw, envelope in rng.sample(mail, 60):
            store.add(raw, envelope, DELIVERY)
        check(f"arrived {round_}")  # past 180 stored, the oldest are evicted
        ids = [m.id for m in store.query(limit=100_000).messages]
        for message_id in rng.sample(ids, 8):
            store.delete(message_id, rng.choice([None, "w1", "h1"]))
        check(f"deleted {round_}")
        in_w1 = {m.id for m in store.query(Filter(mailbox="w1"), limit=100_000).messages}
        in_both = [
            m.id for m in store.query(Filter(mailbox="h1"), limit=100_000).messages if m.id in in_w1
        ]
        if in_both:  # it leaves one mailbox and stays in the other
            store.delete(in_both[0], "w1")
            check(f"left a mailbox {round_}")
            left_one += 1
        store.delete_matching(Filter(text="invoice", mailbox="h1"))
        check(f"deleted matching {round_}")
        if round_ == 2:
            store.delete_mailbox("w1")
            store.create_mailbox("w1", ("*@w1.test",))
            check("mailbox made again")
        if round_ == 4:
            store.clear()
            check("cleared")
    assert left_one, "a message left one of its two mailboxes in some round"


def test_search_folds_case_as_unicode_does_and_reads_html_when_the_text_is_empty() -> None:
    from email.message import EmailMessage
    from email.policy import SMTP

    def mail(subject: str, text: str, html: str | None = None) -> bytes:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@b.test", "c@d.test", subject
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message.as_bytes(policy=SMTP)

    store = MessageStore(Settings(max_messages=0, max_bytes=0))
    greek, german, html_only, plain = (
        store.add(raw, Envelope("a@b.test", ("c@d.test",)), DELIVERY).id
        for raw in (
            mail("ΟΔΟΣΑ", "nothing here"),
            mail("Straße", "the ﬁle is attached"),
            mail("alternative", "", "<p>only<b>in</b>html</p>"),
            mail("plain", "Grüße aus Köln"),
        )
    )
    expectations = {
        Filter(text="ΟΔΟΣ"): [greek],  # upper case, read as a word-final sigma when alone
        Filter(subject="οδος"): [greek],
        Filter(text="STRASSE"): [german],
        Filter(subject="strasse"): [german],
        Filter(text="FILE"): [german],
        Filter(text="onlyinhtml"): [html_only],
        Filter(text="GRÜSSE köln"): [plain],
        Filter(text="grüße"): [plain],
    }
    for flt, ids in expectations.items():
        assert [m.id for m in store.query(flt).messages] == ids, flt
        assert store.matches(flt, store.get(ids[0])), flt
