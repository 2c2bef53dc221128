"""Mail in files: mbox (written as mboxrd), Maildir and ``.eml``, read and written byte for byte.

mboxrd: each message follows a ``From `` line and ends with an empty line, and any line
of a message that starts with ``From `` after any number of ``>`` gets one more ``>``;
reading takes exactly one away, so a message comes back as it went in (line ends,
``From `` lines in the body and all), given that it ends with a line break, as every
message SMTP delivers does. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["Found", "entry", "find_mail", "read_mbox"]

_QUOTED = re.compile(rb"^(>*From )", re.MULTILINE)
_UNQUOTE = re.compile(rb"^>(>*From )", re.MULTILINE)
# What a sender may look like on a From_ line: no spaces or line breaks.
_SENDER = re.compile(r"[^\s]{1,254}")
# A file that starts with a header field is a message (.eml, a Maildir file).
_HEADER = re.compile(rb"[!-9;-~]{1,76}:")


def entry(raw: bytes, sender: str, when: datetime) -> bytes:
    """One message as an mboxrd entry: the ``From `` line, the quoted message, an empty line."""
    sender = sender if _SENDER.fullmatch(sender or "") else "MAILER-DAEMON"
    stamp = when.astimezone(UTC).strftime("%a %b %d %H:%M:%S %Y")
    body = _QUOTED.sub(rb">\1", raw)
    if not body.endswith(b"\n"):
        body += b"\n"
    return (
        b"From " + sender.encode("ascii", "replace") + b" " + stamp.encode() + b"\n" + body + b"\n"
    )


def read_mbox(data: bytes) -> Iterator[bytes]:
    """The messages of an mbox file (mboxrd, or mboxo read the same way), as written."""
    starts = [0] if data.startswith(b"From ") else []
    starts += [m.start() + 1 for m in re.finditer(rb"\nFrom ", data)]
    for index, start in enumerate(starts):
        stop = starts[index + 1] if index + 1 < len(starts) else len(data)
        chunk = data[start:stop]
        newline = chunk.find(b"\n")
        if newline < 0:
            continue
        body = chunk[newline + 1 :]
        # The empty line that ends an entry is the mbox's, not the message's (an mbox
        # written with CRLF ends it with CRLF; a last entry may lack it).
        if body.endswith(b"\r\n\r\n") and not body.endswith(b"\n\r\n\r\n"):
            body = body[:-2]
        elif body.endswith(b"\n\n"):
            body = body[:-1]
        yield _UNQUOTE.sub(rb"\1", body)


@dataclass(frozen=True, slots=True)
class Found:
    """A message found on disk: where it came from and its bytes."""

    source: str
    raw: bytes


def find_mail(paths: Iterable[Path]) -> Iterator[Found]:
    """Every message in these paths: mbox files, Maildirs (``cur`` and ``new``), ``.eml``
    files, and folders of any of them (searched recursively, in name order)."""
    for path in paths:
        if path.is_dir():
            if (path / "cur").is_dir() or (path / "new").is_dir():
                for sub in ("new", "cur"):
                    for file in sorted((path / sub).glob("*")) if (path / sub).is_dir() else []:
                        if file.is_file() and not file.name.startswith("."):
                            yield Found(str(file), file.read_bytes())
                continue
            yield from find_mail(sorted(p for p in path.iterdir() if not p.name.startswith(".")))
        elif path.is_file():
            data = path.read_bytes()
            if path.suffix.lower() == ".eml":
                yield Found(str(path), data)
            elif data.startswith(b"From "):
                for number, raw in enumerate(read_mbox(data), 1):
                    yield Found(f"{path}#{number}", raw)
            elif _HEADER.match(data):
                yield Found(str(path), data)
