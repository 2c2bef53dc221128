"""The message store: filters, order, caps, deletes, waits and events, under threads."""

from __future__ import annotations

import threading
import time
from email.message import EmailMessage
from email.policy import SMTP

import pytest

from catcher.message import Delivery, Envelope
from catcher.parsing import parse
from catcher.settings import Settings
from catcher.store import Filter, MessageStore

from .conftest import wait_until

DELIVERY = Delivery(client_address="127.0.0.1", helo="test", tls=False, auth_user=None)


def raw_email(
    subject: str,
    to: str = "rcpt@example.com",
    sender: str = "sender@example.com",
    body: str = "body\n",
    cc: str | None = None,
    attachment: str | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message.set_content(body)
    if attachment:
        message.add_attachment(b"data", maintype="application", subtype="pdf", filename=attachment)
    return message.as_bytes(policy=SMTP)


def add(store: MessageStore, subject: str, rcpts: tuple[str, ...] = ("rcpt@example.com",), **kw):  # type: ignore[no-untyped-def]
    return store.add(raw_email(subject, **kw), Envelope("sender@example.com", rcpts), DELIVERY)


def subjects(store: MessageStore, flt: Filter | None = None, **kw) -> list[str]:  # type: ignore[no-untyped-def]
    return [parse(m.raw).subject for m in store.query(flt, **kw).messages]


def test_ids_increase_and_queries_are_newest_first() -> None:
    store = MessageStore()
    ids = [add(store, f"m{i}").id for i in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert subjects(store) == ["m4", "m3", "m2", "m1", "m0"]
    assert subjects(store, limit=2, offset=1) == ["m3", "m2"]
    page = store.query(Filter(since=ids[2]))
    assert (page.total, page.matched) == (5, 2)
    assert [m.id for m in page.messages] == [ids[4], ids[3]]
    assert store.latest() is not None and store.latest().id == ids[4]  # type: ignore[union-attr]


def test_filters_match_envelope_headers_subject_and_free_text() -> None:
    store = MessageStore()
    add(store, "Welcome aboard", to="Alice <alice@example.com>")
    add(
        store,
        "Your invoice",
        to="bob@example.com",
        cc="Carol <carol@corp.test>",
        attachment="INV-42.pdf",
    )
    add(store, "Bcc only", to="list@example.com", rcpts=("list@example.com", "secret@hidden.test"))
    add(store, "Reset password", sender="Security Team <noreply@shop.test>", body="Code 123456\n")
    assert subjects(store, Filter(to="alice@")) == ["Welcome aboard"]
    assert subjects(store, Filter(to="carol")) == ["Your invoice"]
    assert subjects(store, Filter(to="secret@hidden.test")) == ["Bcc only"]
    assert subjects(store, Filter(sender="security team")) == ["Reset password"]
    assert subjects(store, Filter(subject="INVOICE")) == ["Your invoice"]
    assert subjects(store, Filter(text="inv-42.pdf")) == ["Your invoice"]
    assert subjects(store, Filter(text="code 123456")) == ["Reset password"]
    assert subjects(store, Filter(text="code nothing")) == []
    assert subjects(store, Filter(to="example.com", subject="welcome")) == ["Welcome aboard"]
    page = store.query(Filter(to="example.com"), limit=1)
    assert (page.total, page.matched, len(page.messages)) == (4, 4, 1)


def test_count_cap_evicts_oldest_first_and_counts_it() -> None:
    store = MessageStore(Settings(max_messages=3, max_bytes=0))
    for i in range(5):
        add(store, f"m{i}")
    assert subjects(store) == ["m4", "m3", "m2"]
    stats = store.stats()
    assert (stats.count, stats.evicted, stats.received) == (3, 2, 5)


def test_byte_cap_evicts_oldest_first() -> None:
    size = len(raw_email("m0"))
    alone = MessageStore()
    add(alone, "m0")
    subjects(alone)  # the index counts too
    each = alone.stats().held_bytes
    assert each > size, "held bytes count more than the raw bytes"
    store = MessageStore(Settings(max_messages=0, max_bytes=each * 3 + each // 2))
    for i in range(6):
        add(store, f"m{i}")
    assert subjects(store) == ["m5", "m4", "m3"]
    assert store.stats().held_bytes <= each * 3 + each // 2
    assert store.stats().bytes == sum(m.size for m in store.query().messages) <= size * 3


def test_zero_caps_keep_everything() -> None:
    store = MessageStore(Settings(max_messages=0, max_bytes=0))
    for _ in range(2500):
        store.add(b"Subject: x\r\n\r\n", Envelope("", ("a@b",)), DELIVERY)
    assert len(store) == 2500 and store.stats().evicted == 0


def test_delete_one_matching_and_clear() -> None:
    store = MessageStore()
    first = add(store, "keep me")
    second = add(store, "drop me", to="drop@example.com")
    add(store, "drop me too", to="drop@example.com")
    assert store.delete(first.id) is True
    assert store.delete(first.id) is False
    assert store.get(first.id) is None
    deleted = store.delete_matching(Filter(to="drop@"))
    assert second.id in deleted and len(deleted) == 2
    assert len(store) == 0
    add(store, "again")
    assert len(store.clear()) == 1 and len(store) == 0
    assert store.stats().bytes == 0


def test_read_flags() -> None:
    store = MessageStore()
    message = add(store, "m")
    assert store.is_read(message.id) is False and store.stats().unread == 1
    assert store.set_read(message.id, True) is True
    assert store.is_read(message.id) is True and store.stats().unread == 0
    assert store.set_read(12345, True) is False


def test_wait_for_returns_existing_match_at_once() -> None:
    store = MessageStore()
    add(store, "already here", to="x@example.com")
    started = time.monotonic()
    found = store.wait_for(Filter(to="x@example.com"), timeout=5)
    assert found is not None and parse(found.raw).subject == "already here"
    assert time.monotonic() - started < 1


def test_wait_for_wakes_on_arrival_and_skips_non_matching() -> None:
    store = MessageStore()
    result: list[object] = []
    waiting = threading.Thread(
        target=lambda: result.append(store.wait_for(Filter(to="target@"), timeout=10))
    )
    waiting.start()
    add(store, "noise", to="other@example.com")
    add(store, "the one", to="target@example.com")
    waiting.join(10)
    assert not waiting.is_alive()
    assert [parse(m.raw).subject for m in result] == ["the one"]  # type: ignore[attr-defined]


def test_wait_for_since_walks_arrivals_in_order_and_times_out() -> None:
    store = MessageStore()
    a = add(store, "a")
    b = add(store, "b")
    assert store.wait_for(Filter(since=0), timeout=1) is a
    assert store.wait_for(Filter(since=a.id), timeout=1) is b
    started = time.monotonic()
    assert store.wait_for(Filter(since=b.id), timeout=0.2) is None
    assert 0.2 <= time.monotonic() - started < 2


def test_events_feed_replays_and_reports_gaps() -> None:
    store = MessageStore(Settings(max_messages=2))
    assert store.events_after(0, timeout=0) == ([], True)
    first = add(store, "one")
    add(store, "two")
    add(store, "three")  # evicts "one"
    store.delete(first.id + 1)
    events, complete = store.events_after(0, timeout=0)
    assert complete
    assert [(e.kind, e.ids) for e in events] == [
        ("new", (first.id,)),
        ("new", (first.id + 1,)),
        ("new", (first.id + 2,)),
        ("delete", (first.id,)),
        ("delete", (first.id + 1,)),
    ]
    later, _ = store.events_after(events[-1].seq, timeout=0.05)
    assert later == []


def test_many_threads_add_and_read_without_losing_anything() -> None:
    store = MessageStore(Settings(max_messages=0))
    writers, each = 8, 250

    def write(n: int) -> None:
        for i in range(each):
            store.add(f"Subject: w{n}-{i}\r\n\r\n".encode(), Envelope("", ("a@b",)), DELIVERY)

    def read() -> None:
        for _ in range(200):
            store.query(Filter(subject="w"), limit=10)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [m.id for m in store.query(limit=10_000).messages]
    assert len(ids) == len(set(ids)) == writers * each
    assert ids == sorted(ids, reverse=True)


def test_free_text_in_html_only_mail_sees_text_not_markup() -> None:
    store = MessageStore()
    raw = (
        b"Subject: html only\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>.promo{color:red}</style></head>"
        b"<body><p class='promo'>Caf&eacute; opening</p></body></html>\r\n"
    )
    store.add(raw, Envelope("", ("a@b",)), DELIVERY)
    assert subjects(store, Filter(text="café opening")) == ["html only"]
    assert subjects(store, Filter(text="promo")) == []


def test_the_indexer_builds_summaries_once_intake_goes_quiet() -> None:
    from catcher.indexer import Indexer

    store = MessageStore(Settings(max_messages=0))
    indexer = Indexer(store)
    indexer.start()
    try:
        messages = [add(store, f"m{i}") for i in range(300)]
        assert store.unindexed == 300
        deadline = time.monotonic() + 10
        # Polled like any eventually-true condition; the indexer signals nothing itself.
        while store.unindexed and time.monotonic() < deadline:
            store.events_after(store.seq, timeout=0.02)
        assert store.unindexed == 0
        assert store.summary(messages[0]).subject == "m0"
    finally:
        store.close()
        indexer.stop()


def _big_text_message(megabytes: int) -> bytes:
    # One emoji a line: decoded text takes 4 bytes a character, the worst case for memory.
    line = "x" * 70 + "\N{GRINNING FACE}\r\n"
    body = line * (megabytes * 1024 * 1024 // len(line.encode()))
    head = "Subject: big\r\nContent-Type: text/plain; charset=utf-8\r\n"
    return (head + "Content-Transfer-Encoding: 8bit\r\n\r\n" + body).encode()


def test_opened_messages_give_their_memory_back_when_deleted() -> None:
    import gc
    import tracemalloc

    store = MessageStore(Settings(max_messages=0, max_bytes=0))
    raw = _big_text_message(2)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for _ in range(3):
            message = store.add(raw, Envelope("a@b", ("c@d",)), DELIVERY)
            assert "\N{GRINNING FACE}" in (store.parsed(message).text or "")
            store.summary(message)
        del message
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - baseline
        assert store.parse_cache_bytes > 3 * len(raw), "the opened models are cached"
        assert held > 3 * len(raw)
        store.clear()
        gc.collect()
        left = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert store.parse_cache_bytes == 0
    assert left < 256 * 1024, f"{left} bytes still held after deleting everything"


def test_deleted_and_evicted_messages_leave_the_cache() -> None:
    store = MessageStore(Settings(max_messages=2, max_bytes=0))
    first = add(store, "one")
    store.parsed(first)
    assert store.parse_cache_bytes > 0
    second = add(store, "two")
    store.parsed(second)
    cached = store.parse_cache_bytes
    add(store, "three")  # evicts "one"
    assert 0 < store.parse_cache_bytes < cached
    assert store.delete(second.id)
    assert store.parse_cache_bytes == 0


def test_the_parse_cache_is_bounded_in_bytes() -> None:
    store = MessageStore(Settings(max_messages=0, max_bytes=16 * 1024 * 1024))
    assert store.parse_cache_limit == 4 * 1024 * 1024
    raw = _big_text_message(1)
    for _ in range(8):
        store.parsed(store.add(raw, Envelope("a@b", ("c@d",)), DELIVERY))
        assert 0 < store.parse_cache_bytes <= store.parse_cache_limit


def test_two_stores_keep_their_own_cache() -> None:
    one, two = MessageStore(), MessageStore()
    store_message = one.add(raw_email("mine"), Envelope("a@b", ("c@d",)), DELIVERY)
    one.parsed(store_message)
    assert one.parse_cache_bytes > 0
    assert two.parse_cache_bytes == 0


def test_closing_the_store_ends_waits_at_once() -> None:
    store = MessageStore()
    results: list[object] = []
    started = threading.Barrier(3)

    def waiter() -> None:
        started.wait()
        results.append(store.wait_for(Filter(to="nobody"), timeout=60))

    def streamer() -> None:
        started.wait()
        results.append(store.events_after(store.seq, timeout=60))

    threads = [threading.Thread(target=waiter), threading.Thread(target=streamer)]
    for thread in threads:
        thread.start()
    started.wait()
    wait_until(lambda: store.waiting == 2, what="both blocked in the store")
    began = time.monotonic()
    store.close()
    for thread in threads:
        thread.join(10)
    assert time.monotonic() - began < 1
    assert sorted(map(repr, results)) == sorted([repr(None), repr(([], True))])
    assert store.wait_for(timeout=60) is None  # at once: nothing stored, and closed


FROZEN_MAIL = """
import gc
import tracemalloc

from catcher import memory
from catcher.message import Delivery, Envelope
from catcher.settings import Settings
from catcher.store import Filter, MessageStore

if FREEZE:
    memory.freeze_stored_mail()
store = MessageStore(Settings(max_messages=0, max_bytes=0))
delivery = Delivery("127.0.0.1", "test", False, None)
tracemalloc.start()
baseline = tracemalloc.get_traced_memory()[0]
for n in range(memory.FREEZE_STEP):
    raw = b"Subject: note %d\\r\\n\\r\\n" % n + b"word " * 100
    store.add(raw, Envelope("a@b.test", ("c@d.test",)), delivery)
frozen = gc.get_freeze_count()
assert len(store.query(Filter(text="word"), limit=10).messages) == 10  # indexes them all
held = tracemalloc.get_traced_memory()[0] - baseline
store.clear()
gc.collect()
left = tracemalloc.get_traced_memory()[0] - baseline
print(frozen, held, left)
"""


@pytest.mark.slow
def test_stored_mail_is_frozen_out_of_the_collector_and_still_freed_when_deleted() -> None:
    """The command line keeps stored mail out of the collector's full passes; deleting
    it must still give back everything it held, as it does unfrozen."""
    import subprocess
    import sys

    def run(freeze: bool) -> tuple[int, int, int]:
        code = f"FREEZE = {freeze}\n" + FROZEN_MAIL
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        frozen, held, left = map(int, done.stdout.split())
        return frozen, held, left

    frozen, held, left = run(True)
    assert frozen >= 5000, "each stored message's objects were frozen"
    assert held > 5000 * 500, "the mail and its index were held"
    unfrozen, _, left_unfrozen = run(False)
    assert unfrozen == 0
    # What stays (the event history, cached query masks) is the same either way.
    assert left < left_unfrozen + 256 * 1024, f"{left} bytes left, {left_unfrozen} unfrozen"
    assert left < held / 2


SWEPT = """
import gc
import time
import weakref

from catcher import memory
from catcher.indexer import Indexer
from catcher.settings import Settings
from catcher.store import MessageStore


class Session:  # an SMTP session, say: alive at a freeze, then dropped in a cycle
    def __init__(self):
        self.me = self
        self.data = bytearray(10_000_000)


memory.freeze_stored_mail()
session = Session()
gone = weakref.ref(session)
memory.grown(memory.FREEZE_STEP)  # the store's new high: what is alive is frozen
assert gc.get_freeze_count() > 0
del session
gc.collect()
assert gone() is not None, "a cycle frozen while alive is out of the collector's reach"
store = MessageStore(Settings(max_messages=0, max_bytes=0))
indexer = Indexer(store)
indexer.start()  # quiet from the start: it sweeps within a couple of seconds
deadline = time.monotonic() + 10
while gone() is not None and time.monotonic() < deadline:
    time.sleep(0.05)
indexer.stop()
print("swept" if gone() is None else "kept")
"""


def test_what_died_frozen_in_a_cycle_is_swept_once_mail_is_quiet() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", SWEPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["swept"]


def test_deleting_many_at_once_keeps_every_list_in_step() -> None:
    store = MessageStore(Settings(max_messages=0, max_bytes=0))
    store.create_mailbox("odd", ("*@odd.test",))
    store.create_mailbox("three", ("*@three.test",))
    for n in range(600):  # message n has id n + 1
        rcpts = ("a@odd.test",) * (n % 2) + ("a@three.test",) * (n % 3 == 0) + ("a@x.test",)
        store.add(b"Subject: %d\r\n\r\nx\r\n" % n, Envelope("a@b.test", rcpts), DELIVERY)
    # From "three" only, past id 100: the odd ones stay on in "odd", the rest leave.
    removed = store.delete_matching(Filter(mailbox="three", since=100))
    assert removed == tuple(n + 1 for n in range(100, 600) if n % 3 == 0)
    assert len(removed) > 64, "many at once"

    def numbers(mailbox: str | None) -> list[int]:
        found = store.query(Filter(mailbox=mailbox), limit=10_000).messages
        return sorted(m.id - 1 for m in found)

    dropped = {n for n in range(100, 600) if n % 3 == 0 and n % 2 == 0}
    assert numbers(None) == [n for n in range(600) if n not in dropped]
    assert numbers("three") == [n for n in range(100) if n % 3 == 0]
    assert numbers("odd") == [n for n in range(600) if n % 2]
    assert numbers("default") == [n for n in range(600) if n % 2 == 0 and n % 3]
    counts = {m.box.name: (m.count, m.bytes) for m in store.mailboxes()}
    assert counts["three"][0] == 34 and counts["odd"][0] == 300
    assert store.stats().count == 600 - len(dropped)
    # The lists are still ordered: a single delete and a deep page work as before.
    assert store.delete(299 + 1) and store.delete(3 + 1, "three")
    assert 299 not in numbers(None) and 3 not in numbers("three") and 3 in numbers("odd")
    page = store.query(limit=50, offset=10)
    ids = [m.id for m in page.messages]
    assert ids == sorted(ids, reverse=True) and page.total == len(store)
