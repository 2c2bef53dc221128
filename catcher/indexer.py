"""Builds the store's summaries and search text in the background: in a worker process
while mail pours in, in this process for a trickle."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from catcher import memory
from catcher.index_worker import Job, Record, read_frame, unflatten, write_frame
from catcher.store import MessageStore

__all__ = ["Indexer"]

log = logging.getLogger("catcher.indexer")

# A backlog this long starts the worker process (a trickle never needs it, so test
# suites that start many catchers never pay for one).
WORKER_BACKLOG = 200
# One hand-over to the worker: at most this many messages, or this many bytes.
BATCH = 256
BATCH_BYTES = 8 * 1024 * 1024
# How often an idle indexer looks for new mail; polling rather than waking on every
# message leaves a burst of mail the GIL.
POLL = 0.05
# Without a worker, a small backlog is indexed here once intake has been quiet this long.
QUIET = 0.2
# Once no mail has arrived for this long, what the collector could not reach since the
# last freeze is swept (catcher.memory; only when the command line freezes).
SWEEP_AFTER = 2.0


class _Worker:
    """``python -m catcher.index_worker`` behind two pipes."""

    def __init__(self) -> None:
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "catcher.index_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def index(self, jobs: list[Job]) -> list[Record | None] | None:
        """The records for the jobs (None for one it could not index), or None when the
        worker has died."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            write_frame(self.process.stdin, jobs)
            records: list[Record | None] | None = read_frame(self.process.stdout)
        except (OSError, ValueError, EOFError):
            return None
        if records is None or len(records) != len(jobs):
            return None
        return records

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Indexer:
    """Indexes what the store says is not indexed yet.

    While mail trickles in, it waits for intake to go quiet and indexes here, newest
    first. Once a burst comes (a long backlog, or many arrivals within a second), a worker
    process takes over for good: messages go to it in batches, newest first, as they
    arrive, so indexing keeps up with intake on the other core; a search meanwhile waits
    for the worker rather than parsing the backlog itself. A worker that dies is replaced
    and its batch sent again.
    """

    def __init__(
        self, store: MessageStore, *, use_worker: bool = True, worker_after: int = WORKER_BACKLOG
    ) -> None:
        self.store = store
        self.use_worker = use_worker
        self.worker_after = worker_after
        self._stop = threading.Event()
        self._worker: _Worker | None = None
        self._thread = threading.Thread(target=self._run, name="catcher-indexer", daemon=True)

    @property
    def worker_pid(self) -> int | None:
        """The worker process's id while one runs."""
        worker = self._worker
        return worker.pid if worker is not None else None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and the worker; quick once the store is closed."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._end_worker()

    def _run(self) -> None:
        store = self.store
        arrivals: deque[tuple[float, int]] = deque()
        last_arrival = (time.monotonic(), store.received)
        try:
            while not self._stop.is_set() and not store.closed:
                # What arrived in the last second: a burst starts the worker even while
                # lists index the newest messages themselves and keep the backlog short.
                now, received = time.monotonic(), store.received
                arrivals.append((now, received))
                while arrivals[0][0] < now - 1.0:
                    arrivals.popleft()
                if received != last_arrival[1]:
                    last_arrival = (now, received)
                busy = max(store.unindexed, received - arrivals[0][1]) >= self.worker_after
                if not store.unindexed:
                    if now - last_arrival[0] >= SWEEP_AFTER:
                        memory.sweep()
                    self._stop.wait(POLL)
                elif self._worker is not None or (self.use_worker and busy):
                    self._hand_over()
                else:
                    self._index_when_quiet()
        except Exception:  # the store still answers every search, indexing inline
            log.exception("indexing stopped")
        finally:
            store.background_indexing = False

    def _index_when_quiet(self) -> None:
        store = self.store
        seq = store.seq
        if self._stop.wait(QUIET) or store.seq != seq:
            return
        while not self._stop.is_set() and store.seq == seq:
            if not store.index_newest(64):
                return

    def _hand_over(self) -> None:
        store = self.store
        # Newest first: those are what an open inbox lists, so it need not parse them.
        messages = store.unindexed_messages(BATCH, newest_first=True)
        size = 0
        for count, message in enumerate(messages):
            size += message.size
            if size > BATCH_BYTES and count:
                messages = messages[:count]
                break
        jobs = [(m.raw, m.envelope.mail_from, m.envelope.rcpt_tos) for m in messages]
        records = None
        for _attempt in range(2):
            if self._stop.is_set():
                return
            if self._worker is None:
                self._worker = _Worker()
                store.background_indexing = True
            records = self._worker.index(jobs)
            if records is not None:
                break
            log.warning("indexing worker %s ended; starting another", self._worker.pid)
            self._end_worker()
        for position, message in enumerate(messages):
            record = records[position] if records is not None else None
            if record is None:  # the worker could not: do it here
                store.index(message)
            else:
                store.put_index(message, *unflatten(record))

    def _end_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()
