"""``--db``: mail, read flags and mailboxes kept across restarts, and nothing acknowledged lost."""

from __future__ import annotations

import contextlib
import os
import signal
import smtplib
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from catcher.database import APPLICATION_ID, SCHEMA
from catcher.server import Catcher
from catcher.store import Filter

from .conftest import TEST_SETTINGS, Http, corpus_files
from .test_cli import Running, run


@contextlib.contextmanager
def started(db: Path, **changes: object) -> Iterator[Catcher]:
    catcher = Catcher(replace(TEST_SETTINGS, db=db, **changes)).start()
    try:
        yield catcher
    finally:
        catcher.stop()


def send(catcher: Catcher, raw: bytes, to: str = "someone@example.test") -> int:
    """Send one message; the id catcher names in its 250."""
    with smtplib.SMTP(*catcher.smtp_address, timeout=30) as smtp:
        return queued_id(smtp, raw, to)


def queued_id(smtp: smtplib.SMTP, raw: bytes, to: str) -> int:
    smtp.ehlo_or_helo_if_needed()
    smtp.mail("sender@example.test")
    smtp.rcpt(to)
    code, reply = smtp.data(raw)
    assert code == 250, reply
    return int(reply.rsplit(b" ", 1)[1])


def everything(http: Http) -> dict[int, tuple[bytes, bool, tuple[str, ...]]]:
    """Each message's raw bytes, read flag and mailboxes, by id."""
    listed = http.get("/api/messages?limit=1000")["messages"]
    found = {}
    for entry in listed:
        status, _, raw = http.request("GET", f"/api/messages/{entry['id']}/raw")
        assert status == 200
        found[entry["id"]] = (raw, entry["read"], tuple(entry["mailboxes"]))
    return found


def mailboxes(http: Http) -> list[tuple[str, int, int, str, tuple[str, ...]]]:
    return [
        (box["name"], box["messages"], box["unread"], box["created"], str(box["routing"]))
        for box in http.get("/api/mailboxes")["mailboxes"]
    ]


def test_corpus_comes_back_after_a_restart(tmp_path: Path) -> None:
    files = corpus_files()
    if not files:
        pytest.skip("the shared corpus is not there")
    db = tmp_path / "mail.db"
    with started(db, max_messages=0) as catcher:
        http = Http(catcher.url)
        status, _ = http.json("POST", "/api/mailboxes", {"name": "w1", "recipients": ["*@w1.test"]})
        assert status == 201
        with smtplib.SMTP(*catcher.smtp_address, timeout=30) as smtp:
            for n, path in enumerate(files):
                queued_id(smtp, path.read_bytes(), f"ada+t{n % 3}@w1.test" if n % 2 else "x@y.test")
        ids = sorted(m["id"] for m in http.get("/api/messages?limit=1000")["messages"])
        for message_id in ids[::5]:
            assert http.json("PATCH", f"/api/messages/{message_id}", {"read": True})[0] == 200
        assert http.json("DELETE", f"/api/messages/{ids[7]}")[0] == 200
        before, boxes = everything(http), mailboxes(http)
        facts = {
            m.id: (m.received_at, m.envelope, m.delivery)
            for m in catcher.store.query(limit=1000).messages
        }
        catcher.store.query(Filter(text="zzz-no-such-word"))  # every message indexed
        summaries = {
            m.id: catcher.store.summary(m) for m in catcher.store.query(limit=1000).messages
        }
    with started(db, max_messages=0) as catcher:
        # The index came back with the mail: nothing is left to build.
        assert catcher.store.unindexed == 0
        assert {
            m.id: catcher.store.summary(m) for m in catcher.store.query(limit=1000).messages
        } == summaries
        http = Http(catcher.url)
        assert everything(http) == before
        # Envelope, SMTP facts and arrival time come back too.
        again = {
            m.id: (m.received_at, m.envelope, m.delivery)
            for m in catcher.store.query(limit=1000).messages
        }
        assert again == facts
        assert mailboxes(http) == boxes
        assert len(before) == len(files) - 1
        assert sum(read for _, read, _ in before.values()) == len(ids[::5])
        assert send(catcher, b"Subject: next\r\n\r\nx\r\n") == ids[-1] + 1


def test_deletes_read_flags_and_ids_survive_and_caps_apply_on_reopen(tmp_path: Path) -> None:
    db = tmp_path / "mail.db"
    with started(db, max_messages=0) as catcher:
        http = Http(catcher.url)
        ids = [
            send(catcher, f"Subject: {n}\r\n\r\nbody {n}\r\n".encode(), "a+t@x.test")
            for n in range(8)
        ]
        assert http.json("PATCH", f"/api/messages/{ids[6]}", {"read": True})[0] == 200
        assert http.json("DELETE", f"/api/messages/{ids[0]}")[0] == 200
        assert http.json("DELETE", f"/api/messages/{ids[7]}")[0] == 200  # the newest
    with started(db, max_messages=3) as catcher:  # the oldest go, from the file too
        http = Http(catcher.url)
        listed = http.get("/api/messages")["messages"]
        assert [(m["id"], m["read"]) for m in listed] == [(7, True), (6, False), (5, False)]
        assert send(catcher, b"Subject: new\r\n\r\nx\r\n") == 9  # after the highest ever given
    with started(db, max_messages=0, mailbox_max_messages=2) as catcher:
        http = Http(catcher.url)
        # mailbox t (5, 6, 7) keeps its newest 2; 9 is in default
        assert [m["id"] for m in http.get("/api/messages")["messages"]] == [9, 7, 6]
        assert http.json("DELETE", "/api/messages")[0] == 200
    with started(db) as catcher:
        assert Http(catcher.url).get("/api/messages")["messages"] == []


def test_kill_9_during_a_burst_loses_nothing_that_got_250(tmp_path: Path) -> None:
    db = str(tmp_path / "mail.db")
    server = Running("--db", db, "--smtp-port", "0", "--http-port", "0", "--max-messages", "0")
    acked: dict[int, bytes] = {}
    lock = threading.Condition()

    def sender(worker: int) -> None:
        try:
            with smtplib.SMTP(*server.smtp, timeout=30) as smtp:
                for n in range(100_000):
                    raw = f"Subject: {worker}.{n}\r\n\r\n{'x' * (n % 3000)}\r\n".encode()
                    message_id = queued_id(smtp, raw, "burst@example.test")
                    with lock:
                        acked[message_id] = raw
                        lock.notify_all()
        except (OSError, smtplib.SMTPException):
            return  # catcher was killed

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(6)]
    try:
        for thread in threads:
            thread.start()
        with lock:
            assert lock.wait_for(lambda: len(acked) >= 300, timeout=60)
        server.process.send_signal(signal.SIGKILL)
        for thread in threads:
            thread.join()
        server.process.communicate()
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.communicate()
    again = Running("--db", db, "--smtp-port", "0", "--http-port", "0", "--max-messages", "0")
    try:
        http = Http(again.url)
        for message_id, raw in acked.items():
            status, _, stored = http.request("GET", f"/api/messages/{message_id}/raw")
            assert (status, stored) == (200, raw), message_id
    finally:
        again.stop()


def _catcher_file(path: Path, version: int = SCHEMA, application_id: int = APPLICATION_ID) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY)")
        conn.execute(f"PRAGMA application_id = {application_id}")
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()


def _damaged(path: Path) -> None:
    with started(path, max_messages=0) as catcher:
        for n in range(20):
            send(catcher, f"Subject: {n}\r\n\r\n{'y' * 5000}\r\n".encode())
    data = bytearray(path.read_bytes())
    page = 4096
    data[2 * page + 8 : 3 * page] = b"\xff" * (page - 8)  # a b-tree page's cells
    path.write_bytes(bytes(data))


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Not writable, even by root (immutable, where root is the one running)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i does not work: nothing is read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("not-sqlite", "is not a SQLite database"),
        ("other-app", "is a SQLite database, but not catcher's"),
        ("older", "was written by an older catcher (schema 0; this catcher reads schema 1)"),
        ("newer", "was written by a newer catcher (schema 2; this catcher reads schema 1)"),
        ("damaged", "is damaged"),
        ("read-only-file", "is read-only"),
        ("read-only-directory", "is read-only (catcher writes its journal there)"),
    ],
)
def test_a_file_catcher_cannot_use_is_one_line_and_exit_2(
    tmp_path: Path, case: str, expected: str
) -> None:
    db = tmp_path / "d" / "mail.db"
    db.parent.mkdir()
    if case == "not-sqlite":
        db.write_bytes(b"Subject: not a database\r\n\r\n" * 200)
    elif case == "other-app":
        _catcher_file(db, version=0, application_id=0)
    elif case in ("older", "newer"):
        _catcher_file(db, version=0 if case == "older" else SCHEMA + 1)
    elif case == "damaged":
        _damaged(db)
    elif case == "read-only-file":
        _catcher_file(db)
    before = db.read_bytes() if db.exists() else None
    guarded = db if case == "read-only-file" else db.parent
    with _read_only(guarded) if case.startswith("read-only") else contextlib.nullcontext():
        done = run("--db", str(db), "--smtp-port", "0", "--http-port", "0")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
    assert done.stderr.startswith(
        f"catcher: --db: {'directory ' * (case == 'read-only-directory')}"
    )
    if before is not None:
        assert db.read_bytes() == before  # never written


def test_a_file_another_catcher_has_open_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "mail.db")
    first = Running("--db", db, "--smtp-port", "0", "--http-port", "0")
    try:
        done = run("--db", db, "--smtp-port", "0", "--http-port", "0")
        assert done.returncode == 2
        assert (
            done.stderr
            == f"catcher: --db: {db} is in use by another catcher (pid {first.process.pid})\n"
        )
    finally:
        first.stop()
    second = Running("--db", db, "--smtp-port", "0", "--http-port", "0")  # free once it stopped
    second.stop()


def test_without_db_nothing_is_written(tmp_path: Path) -> None:
    work, scratch = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    scratch.mkdir()
    env = {"TMPDIR": str(scratch), "TMP": str(scratch), "TEMP": str(scratch)}
    server = Running("--smtp-port", "0", "--http-port", "0", env=env, cwd=work)
    try:
        with smtplib.SMTP(*server.smtp, timeout=30) as smtp:
            for n in range(300):  # enough for the indexing worker process to start
                queued_id(smtp, f"Subject: {n}\r\n\r\nhello\r\n".encode(), "a@b.test")
        assert len(Http(server.url).get("/api/messages?q=hello&limit=1000")["messages"]) == 300
    finally:
        server.stop()
    assert list(work.iterdir()) == [] and list(scratch.iterdir()) == []


def test_a_failed_write_is_never_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "mail.db"
    with started(db) as catcher:
        http = Http(catcher.url)
        kept = send(catcher, b"Subject: before\r\n\r\nsaved\r\n")
        # Another program breaks the file under catcher: the next write fails.
        with contextlib.closing(sqlite3.connect(db)) as other:
            other.execute("DROP TABLE messages")
            other.commit()
        with smtplib.SMTP(*catcher.smtp_address, timeout=30) as smtp:
            smtp.ehlo()
            smtp.mail("sender@example.test")
            smtp.rcpt("someone@example.test")
            code, reply = smtp.data(b"Subject: after\r\n\r\nnot saved\r\n")
        assert code == 451 and b"could not save" in reply
        # Every later change is refused too, and says why: nothing is acknowledged unsaved.
        status, body = http.json("PATCH", f"/api/messages/{kept}", {"read": True})
        assert status == 503 and "could not write" in body["error"]
        with smtplib.SMTP(*catcher.smtp_address, timeout=30) as smtp:
            smtp.ehlo()
            smtp.mail("sender@example.test")
            smtp.rcpt("someone@example.test")
            assert smtp.data(b"Subject: later\r\n\r\nx\r\n")[0] == 451
    with contextlib.closing(sqlite3.connect(db)) as other:
        tables = {row[0] for row in other.execute("SELECT name FROM sqlite_master")}
    assert "messages" not in tables  # nothing was written after the failure
