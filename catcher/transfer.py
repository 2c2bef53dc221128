"""``catcher export`` and ``catcher import``: mail out of a running catcher into files, and
files into a running catcher (over SMTP, so routing and fault rules apply, or over HTTP).

Standard library only, like ``catcher.client``; the file formats are ``catcher.mbox``'s.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from catcher.mbox import Found, find_mail
from catcher.message import envelope_of
from catcher.parsing import parse

__all__ = [
    "TransferError",
    "deliver",
    "envelope",
    "export_eml",
    "export_mbox",
    "filter_query",
    "found_in",
    "progress_wanted",
    "with_login",
]

PAGE = 1000
CHUNK = 64 * 1024
TIMEOUT = 60
# When a message names nobody, it is still delivered, to this address.
NOBODY = "undisclosed-recipients@catcher.invalid"
_LINE_END = re.compile(rb"\r?\n|\r")


class TransferError(Exception):
    """A catcher could not be reached or refused the request; the message says why."""


def filter_query(**filters: Any) -> dict[str, str]:
    """The API's list filters from the command line's (``None`` left out)."""
    names = {"to": "to", "sender": "from", "subject": "subject", "query": "q"}
    names |= {"mailbox": "mailbox", "since": "since"}
    return {names[k]: str(v) for k, v in filters.items() if v is not None}


def with_login(request: urllib.request.Request) -> urllib.request.Request:
    """The request with ``CATCHER_HTTP_AUTH``'s login, when that is set (``--http-auth``)."""
    login = os.environ.get("CATCHER_HTTP_AUTH", "")
    if ":" in login:
        request.add_header("Authorization", "Basic " + b64encode(login.encode()).decode())
    return request


def _open(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    method = "POST" if data is not None else "GET"
    request = with_login(
        urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    )
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as error:
        try:
            reason = json.loads(error.read()).get("error") or error.reason
        except ValueError:
            reason = error.reason
        raise TransferError(f"{url}: {error.code} {reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise TransferError(f"{url}: {getattr(error, 'reason', error)}") from None


def export_mbox(base: str, query: dict[str, str], output: Path) -> int:
    """Write the matching messages to ``output`` as mboxrd; how many were written. The file
    appears whole or not at all (written beside it, then renamed)."""
    params = urllib.parse.urlencode({**query, "format": "mbox"})
    url = f"{base.rstrip('/')}/api/messages/export?{params}"
    count = 0
    previous = b"\n"  # (the file starts at a line start)
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    try:
        with _open(url) as response, os.fdopen(handle, "wb") as out:
            while chunk := response.read(CHUNK):
                # Each entry starts with "From " at a line start; bodies never do (quoted).
                seen = previous[-5:] + chunk  # "\nFrom " may be split between two reads
                count += len(re.findall(rb"\nFrom ", seen)) - len(
                    re.findall(rb"\nFrom ", previous[-5:])
                )
                previous = chunk
                out.write(chunk)
        os.replace(scratch, output)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return count


def export_eml(base: str, query: dict[str, str], output: Path) -> int:
    """Write each matching message to ``output/<id>.eml``, byte for byte; how many."""
    base = base.rstrip("/")
    ids: list[int] = []
    offset = 0
    while True:
        page = {**query, "limit": str(PAGE), "offset": str(offset)}
        with _open(f"{base}/api/messages?{urllib.parse.urlencode(page)}") as response:
            found = json.load(response)
        ids += [int(m["id"]) for m in found["messages"]]  # a number: it names a file
        offset += PAGE
        if offset >= found["matched"] or not found["messages"]:
            break
    output.mkdir(parents=True, exist_ok=True)
    written = 0
    for message_id in reversed(ids):  # oldest first, as an mbox is written
        try:
            with _open(f"{base}/api/messages/{message_id}/raw") as response:
                raw = response.read()
        except TransferError:
            continue  # deleted since it was listed
        (output / f"{message_id}.eml").write_bytes(raw)
        written += 1
    return written


def envelope(raw: bytes, sender: str | None, recipients: Iterable[str]) -> tuple[str, list[str]]:
    """MAIL FROM and RCPT TO for a message: those given, else its From, To, Cc and Bcc
    (else ``NOBODY``, so that it is still delivered)."""
    chosen = list(recipients)
    if sender is None or not chosen:
        implied = envelope_of(parse(raw))
        sender = implied.mail_from if sender is None else sender
        chosen = chosen or list(implied.rcpt_tos) or [NOBODY]
    return sender, chosen


def deliver(
    messages: Iterable[Found],
    *,
    smtp: tuple[str, int] | None = None,
    url: str | None = None,
    sender: str | None = None,
    recipients: Iterable[str] = (),
    done: Callable[[Found, str | None], None] = lambda found, error: None,
) -> tuple[int, int]:
    """Deliver each message to a catcher, over SMTP (line ends made CRLF, as SMTP wants) or
    with ``url`` over HTTP (the bytes exactly); ``done`` hears of each, with the error when
    it failed. (delivered, failed)."""
    recipients = list(recipients)
    delivered = failed = 0
    client: smtplib.SMTP | None = None
    try:
        for found in messages:
            try:
                if url is not None:
                    _post(url, found.raw, sender, recipients)
                else:
                    assert smtp is not None
                    if client is None:
                        client = _connect(smtp)
                    try:
                        _send(client, found.raw, sender, recipients)
                    except smtplib.SMTPServerDisconnected:
                        client = _connect(smtp)  # a fault rule or the idle timeout closed it
                        _send(client, found.raw, sender, recipients)
            except (TransferError, smtplib.SMTPException, OSError, ValueError) as error:
                failed += 1
                done(found, str(error) or type(error).__name__)
                if isinstance(error, smtplib.SMTPServerDisconnected):
                    client = None
                continue
            delivered += 1
            done(found, None)
    finally:
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                pass
    return delivered, failed


def _connect(smtp: tuple[str, int]) -> smtplib.SMTP:
    try:
        return smtplib.SMTP(smtp[0], smtp[1], timeout=TIMEOUT)
    except OSError as error:
        raise TransferError(f"SMTP {smtp[0]}:{smtp[1]}: {error}") from None


def _send(client: smtplib.SMTP, raw: bytes, sender: str | None, recipients: list[str]) -> None:
    mail_from, rcpt_to = envelope(raw, sender, recipients)
    body = _LINE_END.sub(b"\r\n", raw)
    wide = not all(address.isascii() for address in [mail_from, *rcpt_to])
    client.sendmail(mail_from, rcpt_to, body, mail_options=["SMTPUTF8"] if wide else ())


def _post(base: str, raw: bytes, sender: str | None, recipients: list[str]) -> None:
    params: list[tuple[str, str]] = [("from", sender)] if sender is not None else []
    params += [("to", r) for r in recipients]
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with _open(
        f"{base.rstrip('/')}/api/messages{query}",
        data=raw,
        headers={"Content-Type": "message/rfc822"},
    ):
        pass


def found_in(paths: Iterable[Path]) -> Iterator[Found]:
    """The messages in these files and folders (see ``catcher.mbox.find_mail``)."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise TransferError(f"no such file or folder: {', '.join(missing)}")
    return find_mail(paths)


def progress_wanted() -> bool:
    return sys.stderr.isatty()
