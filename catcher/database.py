"""The SQLite file behind ``--db``: checked and locked at start, read back, written by one thread.

The store records each change (a message added, read flags, deletes, mailbox
membership and definitions) under its lock as a plain tuple in ``record``, which only
appends to a queue. The ``catcher-db`` thread takes everything queued, writes it in one
transaction and commits once (a group commit), then wakes everyone who waited for any of
it: threads in ``wait``, SMTP sessions through futures resolved on their own event loop
with ``call_soon_threadsafe``. Changes are committed in the order they were recorded, so
the file always holds a prefix of the store's history.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from catcher.index_worker import flatten, unflatten
from catcher.mailboxes import Box, Origin
from catcher.message import Delivery, Envelope, Message, SearchText, Summary

__all__ = ["SCHEMA", "Change", "Database", "DatabaseError", "Saved"]

# The layout of the file; a file with another number was written by another catcher.
SCHEMA = 1
APPLICATION_ID = 0x63746368  # "ctch": a SQLite file that says it is catcher's
# In WAL mode NORMAL syncs the log at checkpoints, not at each commit: a crash of catcher
# loses nothing committed, a power cut may lose the latest commits. Measured side by side
# on a loaded machine, FULL (a sync per group commit) took 2 KB mail from 20 clients at a
# third of NORMAL's rate (docs/benchmarks.md, "Keeping mail").
SYNCHRONOUS = "NORMAL"

_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE mailboxes (name TEXT NOT NULL UNIQUE, definition TEXT NOT NULL);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    smtp TEXT NOT NULL,
    mailboxes TEXT NOT NULL,
    read INTEGER NOT NULL DEFAULT 0,
    raw BLOB NOT NULL,
    indexed TEXT
);
INSERT INTO meta VALUES ('last_id', 0);
"""

# What the store records, in order (see MessageStore._log):
#   ("add", Message, mailbox names)   ("read", ids, flag)   ("delete", ids)
#   ("file", id, mailbox names now)   ("box", Box)          ("unbox", name)   ("clear",)
#   ("indexed", id, Summary, SearchText): what lists show and searches match, kept so that
#   a restart need not build it again (plain JSON, never pickle: the file is not trusted)
Change = tuple[object, ...]


class DatabaseError(Exception):
    """The file cannot be used or written; the message is one line naming the file."""


@dataclass(frozen=True, slots=True)
class Saved:
    """What the file held at start: mailboxes in the order made, messages oldest first
    (each with its read flag and mailboxes), and the highest id ever given."""

    boxes: tuple[Box, ...]
    # each with its read flag, its mailboxes and its index entry when one was kept
    messages: list[tuple[Message, bool, tuple[str, ...], tuple[Summary, SearchText] | None]]
    last_id: int


class Database:
    """One catcher's file, locked against every other catcher while open."""

    def __init__(self, path: Path) -> None:
        self.path = Path(os.path.abspath(path))
        self._lock_fd = _lock(self.path)
        try:
            self._conn = _connect(self.path)
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._queue: list[Change] = []
        self._recorded = 0  # changes recorded, ever
        self._committed = 0  # of those, how many are written (or failed)
        # Why the file was last written in vain: from then on nothing more is written and
        # every wait fails (until a restart), so the file stays a prefix of the history
        # and nothing is acknowledged that a failure might have lost.
        self._broken: str | None = None
        self._futures: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._closing = False
        self._thread: threading.Thread | None = None

    # -- start and stop --------------------------------------------------------------

    def load(self, max_messages: int = 0, max_bytes: int = 0) -> Saved:
        """What the file holds, read once at start: the newest messages within the caps
        (0: none), so that a file larger than the caps is never read whole; the older
        ones are deleted from it, as the caps would evict them."""
        conn = self._conn
        try:
            boxes = tuple(
                _box(json.loads(definition))
                for (definition,) in conn.execute("SELECT definition FROM mailboxes ORDER BY rowid")
            )
            oldest_kept = self._oldest_within(max_messages, max_bytes)
            if oldest_kept is not None:
                with conn:
                    conn.execute("DELETE FROM messages WHERE id < ?", (oldest_kept,))
            messages = [
                (
                    _message(row[0], row[1], row[2], row[5]),
                    bool(row[4]),
                    tuple(row[3].split()),
                    _index_entry(row[6]),
                )
                for row in conn.execute(
                    "SELECT id, received_at, smtp, mailboxes, read, raw, indexed"
                    " FROM messages ORDER BY id"
                )
            ]
            (last_id,) = conn.execute("SELECT value FROM meta WHERE key = 'last_id'").fetchone()
        except (sqlite3.DatabaseError, ValueError, TypeError, KeyError, IndexError) as exc:
            raise DatabaseError(f"--db: {self.path} is damaged ({exc})") from None
        return Saved(boxes, messages, int(last_id))

    def _oldest_within(self, max_messages: int, max_bytes: int) -> int | None:
        """The id of the oldest message the caps leave (newest first, sizes summed), or
        None when every message fits."""
        if not max_messages and not max_bytes:
            return None
        count = total = 0
        kept: int | None = None
        message_id: int
        size: int
        for message_id, size in self._conn.execute(
            "SELECT id, length(raw) FROM messages ORDER BY id DESC"
        ):
            count += 1
            total += size
            if (max_messages and count > max_messages) or (max_bytes and total > max_bytes):
                return kept if kept is not None else message_id  # the newest stays, as in the store
            kept = message_id
        return None

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="catcher-db", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write what is queued, then close the file and let another catcher open it;
        a change recorded after that is refused."""
        with self._lock:
            self._closing = True
            self._work.notify_all()
        if self._thread is not None:
            self._thread.join()
        self._conn.close()
        os.close(self._lock_fd)

    # -- recording and waiting -------------------------------------------------------

    def record(self, change: Change) -> None:
        """Queue a change (called under the store's lock: no I/O here)."""
        with self._lock:
            if self._closing and self._broken is None:
                self._broken = f"{self.path} is closed: catcher is stopping"
            self._queue.append(change)
            self._recorded += 1
            self._work.notify()

    def wait(self) -> None:
        """Return once everything recorded so far is committed; DatabaseError when the
        commit that held any of it failed."""
        with self._lock:
            ticket = self._recorded
            self._done.wait_for(lambda: self._committed >= ticket or self._broken is not None)
            failed = self._broken
        if failed is not None:
            raise DatabaseError(failed)

    async def synced(self) -> None:
        """``wait`` for a coroutine: the event loop goes on while the file is written."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            ticket = self._recorded
            if self._broken is not None:
                raise DatabaseError(self._broken)
            if self._committed >= ticket:
                return
            self._futures.append((ticket, loop, future))
        await future

    # -- the writer thread -----------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                self._work.wait_for(lambda: bool(self._queue) or self._closing)
                if not self._queue:
                    return
                batch, self._queue = self._queue, []
                last = self._recorded
                broken = self._broken
            if broken is None:
                try:
                    self._write(batch)
                except Exception as exc:  # whatever it is, the writer must go on answering
                    broken = f"could not write {self.path}: {exc}"
                    try:
                        if self._conn.in_transaction:
                            self._conn.rollback()
                    except Exception:  # the file is what the last commit left
                        pass
            with self._lock:
                self._committed = last
                if broken is not None and self._broken is None:
                    self._broken = broken
                failed = self._broken
                ready = [f for f in self._futures if f[0] <= last or failed is not None]
                self._futures = [f for f in self._futures if f not in ready]
                self._done.notify_all()
            for _ticket, loop, future in ready:
                try:
                    loop.call_soon_threadsafe(_settle, future, failed)
                except RuntimeError:  # that loop is closed: nobody waits any more
                    pass

    def _write(self, batch: list[Change]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        last_id = 0
        for change in batch:
            kind = change[0]
            if kind == "add":
                message, names = change[1], change[2]
                assert isinstance(message, Message) and isinstance(names, tuple)
                conn.execute(
                    "INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, 0, ?, NULL)",
                    (
                        message.id,
                        message.received_at.isoformat(),
                        _smtp_facts(message),
                        " ".join(names),
                        message.raw,
                    ),
                )
                last_id = max(last_id, message.id)
            elif kind == "read":
                conn.executemany(
                    "UPDATE messages SET read = ? WHERE id = ?",
                    ((int(bool(change[2])), i) for i in _ids(change[1])),
                )
            elif kind == "delete":
                conn.executemany(
                    "DELETE FROM messages WHERE id = ?", ((i,) for i in _ids(change[1]))
                )
            elif kind == "file":
                names = change[2]
                assert isinstance(names, tuple)
                conn.execute(
                    "UPDATE messages SET mailboxes = ? WHERE id = ?", (" ".join(names), change[1])
                )
            elif kind == "box":
                box = change[1]
                assert isinstance(box, Box)
                conn.execute("DELETE FROM mailboxes WHERE name = ?", (box.name,))
                conn.execute(
                    "INSERT INTO mailboxes (name, definition) VALUES (?, ?)",
                    (box.name, json.dumps(_box_fields(box))),
                )
            elif kind == "unbox":
                conn.execute("DELETE FROM mailboxes WHERE name = ?", (change[1],))
            elif kind == "clear":
                conn.execute("DELETE FROM messages")
            elif kind == "indexed":
                summary, search = change[2], change[3]
                assert isinstance(summary, Summary) and isinstance(search, SearchText)
                conn.execute(
                    "UPDATE messages SET indexed = ? WHERE id = ?",
                    (json.dumps(flatten(summary, search)), change[1]),
                )
        if last_id:
            conn.execute("UPDATE meta SET value = max(value, ?) WHERE key = 'last_id'", (last_id,))
        conn.execute("COMMIT")


def _index_entry(text: str | None) -> tuple[Summary, SearchText] | None:
    """A message's kept summary and search text; None (built again) when absent or not
    readable."""
    if not text:
        return None
    try:
        return unflatten(_tuples(json.loads(text)))
    except (ValueError, TypeError):
        return None


def _tuples(value: Any) -> Any:
    """JSON's lists as the tuples the index's records are made of."""
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def _settle(future: asyncio.Future[None], failed: str | None) -> None:
    if future.done():  # the session was cancelled (the client went away)
        return
    if failed is None:
        future.set_result(None)
    else:
        future.set_exception(DatabaseError(failed))


def _ids(value: object) -> Iterable[int]:
    assert isinstance(value, tuple)
    return value


# -- opening ---------------------------------------------------------------------------


def _lock(path: Path) -> int:
    """Check the file and its directory can be written, and take ``PATH.lock``
    exclusively (the kernel drops it when the process dies, even by kill -9)."""
    directory = path.parent
    if path.is_dir():
        raise DatabaseError(f"--db: {path} is a directory")
    if not directory.is_dir():
        raise DatabaseError(f"--db: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise DatabaseError(
            f"--db: directory {directory} is read-only (catcher writes its journal there)"
        )
    if path.exists() and not os.access(path, os.W_OK | os.R_OK):
        raise DatabaseError(f"--db: {path} is read-only")
    lock_path = f"{path}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DatabaseError(f"--db: cannot create {lock_path} ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        pid = f" (pid {holder})" if holder.isdigit() else ""
        raise DatabaseError(f"--db: {path} is in use by another catcher{pid}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _connect(path: Path) -> sqlite3.Connection:
    """Open the file, refusing one that is not catcher's, of another schema, or damaged;
    a new or empty file gets the tables."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise DatabaseError(f"--db: cannot open {path} ({exc})") from None
    try:
        _check(conn, path)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise DatabaseError(f"--db: {path} cannot use write-ahead logging ({mode})")
        conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise DatabaseError(_not_usable(path, exc)) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _check(conn: sqlite3.Connection, path: Path) -> None:
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if not tables and not version and not application_id:
        conn.executescript(
            f"BEGIN; {_TABLES} PRAGMA application_id = {APPLICATION_ID};"
            f" PRAGMA user_version = {SCHEMA}; COMMIT;"
        )
        return
    if application_id != APPLICATION_ID:
        raise DatabaseError(f"--db: {path} is a SQLite database, but not catcher's")
    if version != SCHEMA:
        age = "an older" if version < SCHEMA else "a newer"
        raise DatabaseError(
            f"--db: {path} was written by {age} catcher (schema {version}; "
            f"this catcher reads schema {SCHEMA})"
        )
    problems = [row[0] for row in conn.execute("PRAGMA quick_check(1)")]
    if problems != ["ok"]:
        found = " ".join(str(problems[0]).split())  # (one line)
        raise DatabaseError(f"--db: {path} is damaged (quick_check: {found})")


def _not_usable(path: Path, exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "not a database" in text:
        return f"--db: {path} is not a SQLite database"
    return f"--db: {path} is damaged ({' '.join(text.split())})"


# -- rows ------------------------------------------------------------------------------

# Text columns hold JSON with non-ASCII escaped: envelope addresses and HELO names are
# what a client sent, lone surrogates included, and must not fail a commit.


def _smtp_facts(message: Message) -> str:
    envelope, delivery = message.envelope, message.delivery
    return json.dumps(
        [
            envelope.mail_from,
            list(envelope.rcpt_tos),
            delivery.client_address,
            delivery.helo,
            delivery.tls,
            delivery.auth_user,
        ]
    )


def _message(message_id: int, received_at: str, smtp: str, raw: bytes) -> Message:
    mail_from, rcpt_tos, client, helo, tls, auth_user = json.loads(smtp)
    return Message(
        message_id,
        bytes(raw),
        datetime.fromisoformat(received_at),
        Envelope(mail_from, tuple(rcpt_tos)),
        Delivery(client, helo, bool(tls), auth_user),
    )


def _box_fields(box: Box) -> list[object]:
    return [
        box.name,
        box.created.isoformat(),
        box.origin,
        list(box.recipients),
        box.smtp_user,
        box.smtp_password,
    ]


_ORIGINS: dict[object, Origin] = {o: o for o in ("api", "login", "tag", "default")}


def _box(fields: list[object]) -> Box:
    name, created, origin, recipients, smtp_user, smtp_password = fields
    if not (
        isinstance(name, str)
        and isinstance(created, str)
        and isinstance(recipients, list)
        and origin in _ORIGINS
        and (smtp_user is None or isinstance(smtp_user, str))
        and (smtp_password is None or isinstance(smtp_password, str))
    ):
        raise ValueError(f"mailbox definition {fields!r:.80}")
    return Box(
        name,
        datetime.fromisoformat(created),
        _ORIGINS[origin],
        tuple(str(r) for r in recipients),
        smtp_user,
        smtp_password,
    )
