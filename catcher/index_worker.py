"""The indexing worker process: ``python -m catcher.index_worker``.

It reads batches of raw messages on standard input and answers each batch's index
records (what lists show and searches match) on standard output, as length-prefixed
pickles. Parsing then runs on another core, off the server's GIL; the server only
hands over bytes and keeps what comes back.
"""

from __future__ import annotations

import pickle
import struct
import sys
from typing import IO, Any

from catcher.message import Envelope, SearchText, Summary, index
from catcher.parsing import Address

__all__ = ["Job", "Record", "flatten", "main", "read_frame", "unflatten", "write_frame"]

Job = tuple[bytes, str, tuple[str, ...]]  # raw bytes, MAIL FROM, RCPT TO
# Plain tuples of strings and numbers: a tenth of the time to pickle that dataclasses take.
Record = tuple[Any, ...]
_LENGTH = struct.Struct("<Q")


def flatten(summary: Summary, search: SearchText) -> Record:
    def people(addresses: tuple[Address, ...]) -> tuple[tuple[str, str], ...]:
        return tuple((a.name, a.address) for a in addresses)

    return (
        people(summary.sender),
        people(summary.to),
        people(summary.cc),
        summary.subject,
        summary.snippet,
        summary.attachments,
        summary.defects,
        summary.to_count,
        summary.cc_count,
        people(summary.bcc),
        people(summary.reply_to),
        summary.message_id,
        summary.inline,
        search.sender,
        search.recipients,
        search.subject,
        search.everything,
        search.signature,
    )


def unflatten(record: Record) -> tuple[Summary, SearchText]:
    def people(pairs: tuple[tuple[str, str], ...]) -> tuple[Address, ...]:
        return tuple(Address(name, address) for name, address in pairs)

    sender, to, cc, subject, snippet, attachments, defects, to_count, cc_count = record[:9]
    bcc, reply_to, message_id, inline = record[9:13]
    summary = Summary(
        people(sender), people(to), people(cc), subject, snippet, attachments, defects,
        to_count, cc_count, people(bcc), people(reply_to), message_id, inline,
    )  # fmt: skip
    return summary, SearchText(*record[13:])


def write_frame(stream: IO[bytes], payload: object) -> None:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next payload, or None at the end of the stream (a short read is the end too)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        return None
    return pickle.loads(data)


def main() -> int:
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while True:
        jobs: list[Job] | None = read_frame(source)
        if jobs is None:
            return 0
        write_frame(sink, [_record(*job) for job in jobs])


def _record(raw: bytes, sender: str, rcpts: tuple[str, ...]) -> Record | None:
    try:
        return flatten(*index(raw, Envelope(sender, rcpts)))
    except Exception:  # the server indexes this one itself, and reports what went wrong
        return None


if __name__ == "__main__":
    sys.exit(main())
