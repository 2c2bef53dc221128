"""Start-up with ``--db``: ``python -m bench.reopen [--messages 100000]``.

Writes a database file holding N messages of the 2 KB corpus (through catcher's own
writer, in one go), then starts ``python -m catcher --db FILE`` and reports the seconds
from process start until the API answers (the banner is printed once HTTP listens, and
``/api/stats`` is asked), until the inbox's first page answers, and until a free-text
search answers, which needs every message
indexed (a search waits for the background indexer's backlog).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import servers
from bench.http import Client
from bench.mail import Corpus
from catcher.database import Database
from catcher.message import Delivery, Envelope, Message, index


def write(path: Path, count: int, *, indexed: bool = True) -> None:
    """N messages as a catcher leaves them: each with its index entry once indexed (the
    background indexer's records), unless ``indexed`` is False."""
    corpus = Corpus("2k")
    database = Database(path)
    database.start()
    now = datetime.now(UTC)
    for i in range(1, count + 1):
        sender, rcpt, raw = corpus.message(i)
        message = Message(
            i, raw, now, Envelope(sender, (rcpt,)), Delivery("127.0.0.1", "bench", False, None)
        )
        database.record(("add", message, ("default",)))
        if indexed:
            database.record(("indexed", i, *index(raw, message.envelope)))
        if i % 10_000 == 0:
            database.wait()
    database.close()


def measure(path: Path) -> dict[str, float]:
    command = [
        sys.executable, "-m", "catcher", "--db", str(path),
        "--smtp-port", "0", "--http-port", "0", "--max-messages", "0", "--max-bytes", "0",
    ]  # fmt: skip
    began = time.monotonic()
    process = subprocess.Popen(
        command, env=servers.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            if line.strip().startswith("HTTP"):
                url = line.split()[1]
                break
        client = Client(url)
        count = client.json("/api/stats")["messages"]
        api = time.monotonic() - began
        client.json("/api/messages?limit=50")
        listed = time.monotonic() - began
        client.json("/api/messages?q=zzzyzzy&limit=1")
        indexed = time.monotonic() - began
        client.close()
    finally:
        process.terminate()
        process.communicate()
    return {
        "messages": count,
        "api_s": round(api, 2),
        "first_page_s": round(listed, 2),
        "index_s": round(indexed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--without-index",
        action="store_true",
        help="write no index entries (a file from before they were kept): all rebuilt at start",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="catcher-bench-reopen-") as directory:
        path = Path(directory) / "mail.db"
        began = time.monotonic()
        write(path, args.messages, indexed=not args.without_index)
        size = os.path.getsize(path)
        print(
            f"wrote {args.messages} messages, {size / 2**20:.0f} MB, "
            f"in {time.monotonic() - began:.1f} s on {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores"
        )
        for n in range(args.rounds):
            print(f"start {n + 1}: {measure(path)}")


if __name__ == "__main__":
    main()
