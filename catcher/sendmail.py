"""``catcher sendmail``: a sendmail-compatible command that hands a message on stdin to a catcher.

For programs that send mail by running sendmail: PHP's ``sendmail_path``, cron's
``MAILTO``, ``git send-email``, mutt. It reads the message on standard input and submits
it over SMTP to a catcher (never anywhere else: the host and port are the catcher's)::

    printf 'Subject: hi\\n\\nhello\\n' | catcher sendmail ada@example.com
    catcher sendmail -t -i < message.eml            # recipients from To, Cc and Bcc

Like sendmail, it adds From, Date and Message-ID headers when the message lacks them,
and with ``-t`` it removes Bcc headers. Exit status follows sendmail's (sysexits.h).
"""

from __future__ import annotations

import getopt
import os
import re
import smtplib
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formataddr, formatdate, getaddresses, make_msgid
from typing import BinaryIO, TextIO

__all__ = ["main", "run"]

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOUSER = 67
EX_NOHOST = 68
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_TEMPFAIL = 75

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1025
TIMEOUT = 30.0
NAME = "catcher sendmail"

# Every sendmail option that takes a value, and the flags, so that the command lines
# programs were written for parse; only -f/-r, -F, -t, -i (-oi) and -v change anything.
_SHORT = "A:B:b:C:d:F:f:Gh:iL:mN:nO:o:p:R:r:tUV:vX:"
_LONG = ["host=", "port=", "auth=", "help"]
_HEADER_NAME = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:")

USAGE = f"""\
usage: {NAME} [options] [recipient ...] < message

Send the message on standard input to a catcher's SMTP port, like sendmail.

  -t              also take recipients from the To, Cc and Bcc headers (Bcc is removed)
  -f SENDER       envelope sender (default: the From header's address); -r is the same
  -F NAME         sender's full name, for a From header added when the message has none
  -i, -oi         a line holding only "." does not end the message
  -v              show the SMTP conversation on stderr
  --host HOST     catcher's SMTP host  (env CATCHER_SENDMAIL_HOST, default {DEFAULT_HOST})
  --port PORT     catcher's SMTP port  (env CATCHER_SENDMAIL_PORT, else CATCHER_SMTP_PORT,
                  default {DEFAULT_PORT})
  --auth USER:PASSWORD  log in first   (env CATCHER_SENDMAIL_AUTH)

Accepted and ignored: -bm, -oem and other -o/-O options, -odb, -B, -C, -d, -G, -h, -L,
-m, -n, -N, -R, -U, -V, -X. Exit status: 0 sent, 64 usage, 67 recipient refused,
68 unknown host, 69 catcher unreachable or message refused, 75 temporary failure.
"""


class _Fail(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class _Options:
    recipients: list[str] = field(default_factory=list)
    from_headers: bool = False
    sender: str | None = None
    full_name: str | None = None
    ignore_dots: bool = False
    verbose: bool = False
    host: str | None = None
    port: str | None = None
    auth: str | None = None


def main(argv: Sequence[str] | None = None) -> int:
    """Run as a command: arguments, standard input and environment of this process."""
    args = list(sys.argv[1:] if argv is None else argv)
    return run(args, sys.stdin.buffer, sys.stdout, sys.stderr, os.environ)


def run(
    argv: Sequence[str],
    stdin: BinaryIO,
    stdout: TextIO,
    stderr: TextIO,
    environ: Mapping[str, str],
) -> int:
    """Send the message read from ``stdin``; the exit status (errors are written to ``stderr``)."""
    try:
        options = _parse(argv)
        if options is None:
            stdout.write(USAGE)
            return EX_OK
        host, port = _address(options, environ)
        data = stdin.read()
        message, header_recipients, from_header = _prepare(data, options)
        recipients = _unique([*_split(options.recipients), *header_recipients])
        if not recipients:
            raise _Fail(
                EX_USAGE,
                "no recipients: name them as arguments, or use -t to take them from the headers",
            )
        sender = options.sender if options.sender is not None else from_header or _login()
        auth = options.auth or environ.get("CATCHER_SENDMAIL_AUTH") or None
        _submit(host, port, sender, recipients, message, auth, options.verbose)
    except _Fail as failure:
        stderr.write(f"{NAME}: {failure}\n")
        return failure.status
    except Exception as error:  # a bug of ours: say so, with sendmail's status for it
        stderr.write(f"{NAME}: internal error: {type(error).__name__}: {error}\n")
        return EX_SOFTWARE
    return EX_OK


# --- the command line ----------------------------------------------------------------------


def _parse(argv: Sequence[str]) -> _Options | None:
    try:
        pairs, recipients = getopt.gnu_getopt(list(argv), _SHORT, _LONG)
    except getopt.GetoptError as error:
        raise _Fail(EX_USAGE, f"{error} (see --help)") from None
    options = _Options(recipients=recipients)
    for flag, value in pairs:
        if flag == "--help":
            return None
        if flag == "-t":
            options.from_headers = True
        elif flag in ("-f", "-r"):
            options.sender = "" if value.strip() in ("", "<>") else value.strip()
        elif flag == "-F":
            options.full_name = value
        elif flag == "-i" or (flag == "-o" and value == "i"):
            options.ignore_dots = True
        elif flag == "-O" and value.lower().replace(" ", "") in ("ignoredots", "ignoredots=true"):
            options.ignore_dots = True
        elif flag == "-v":
            options.verbose = True
        elif flag == "-b" and value != "m":
            # -bs (SMTP on stdin), -bp (mailq), -bi (newaliases) and friends are a real MTA's.
            raise _Fail(EX_USAGE, f"-b{value} is not supported; only -bm (send a message)")
        elif flag == "--host":
            options.host = value
        elif flag == "--port":
            options.port = value
        elif flag == "--auth":
            options.auth = value
    return options


def _address(options: _Options, environ: Mapping[str, str]) -> tuple[str, int]:
    host = options.host or environ.get("CATCHER_SENDMAIL_HOST") or ""
    if not host:
        # The catcher's own bind address, when set, says where it is; "all" means here.
        bound = environ.get("CATCHER_SMTP_HOST", "")
        host = {"": DEFAULT_HOST, "0.0.0.0": DEFAULT_HOST, "::": "::1"}.get(bound, bound)
    for text, source in (
        (options.port, "--port"),
        (environ.get("CATCHER_SENDMAIL_PORT"), "CATCHER_SENDMAIL_PORT"),
        (environ.get("CATCHER_SMTP_PORT"), "CATCHER_SMTP_PORT"),
    ):
        if text is None or not text.strip():
            continue
        text = text.strip()
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise _Fail(EX_USAGE, f"{source}: expected a port from 1 to 65535, got {text!r}")
        if source == "CATCHER_SMTP_PORT" and int(text) == 0:
            continue  # "any free port" says nothing about where a catcher is
        return host, int(text)
    return host, DEFAULT_PORT


def _login() -> str:
    try:
        import getpass

        user = getpass.getuser()
    except Exception:  # no login name in a bare container
        user = "sendmail"
    return f"{user}@localhost"


# --- the message ---------------------------------------------------------------------------


def _prepare(data: bytes, options: _Options) -> tuple[bytes, list[str], str]:
    """The message to send (CRLF line ends), recipients from its headers when -t, and the
    address in its From header."""
    if not options.ignore_dots:
        end = re.search(rb"(?m)^\.\r?(?:\n|\Z)", data)
        if end is not None:
            data = data[: end.start()]
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if lines and lines[0].startswith(b"From ") and not _HEADER_NAME.match(lines[0]):
        lines.pop(0)  # an mbox "From " line: an envelope, not a header
    fields, body = _split_headers(lines)

    recipients: list[str] = []
    if options.from_headers:
        resent = any(_name(f) in (b"resent-to", b"resent-cc", b"resent-bcc") for f in fields)
        wanted = (b"resent-to", b"resent-cc", b"resent-bcc") if resent else (b"to", b"cc", b"bcc")
        for header in fields:
            if _name(header) in wanted:
                recipients.extend(_split([_value(header)]))
        # Bcc recipients must not see each other, nor be seen: the header goes.
        fields = [f for f in fields if _name(f) not in (b"bcc", b"resent-bcc")]

    names = {_name(f) for f in fields}
    from_value = next((_value(f) for f in fields if _name(f) == b"from"), "")
    from_address = next((a for _, a in getaddresses([from_value]) if a), "")
    added: list[bytes] = []
    if b"from" not in names:
        address = options.sender or from_address or _login()
        added.append(b"From: " + formataddr((options.full_name or "", address)).encode())
    if b"date" not in names:
        added.append(b"Date: " + formatdate(localtime=True).encode())
    if b"message-id" not in names:
        domain = (options.sender or from_address or "localhost").rpartition("@")[2]
        domain = domain if re.fullmatch(r"[A-Za-z0-9.-]+", domain or "") else "localhost"
        added.append(b"Message-ID: " + make_msgid(domain=domain).encode())

    head = [line for header in fields for line in header] + added
    message = b"\r\n".join([*head, b"", *body]) + b"\r\n"
    return message, recipients, from_address


def _split_headers(lines: list[bytes]) -> tuple[list[list[bytes]], list[bytes]]:
    """The header fields (each its lines, continuations included) and the body lines."""
    fields: list[list[bytes]] = []
    for index, line in enumerate(lines):
        if line in (b"", b"\r"):
            return fields, lines[index + 1 :]
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        elif _HEADER_NAME.match(line):
            fields.append([line])
        else:
            # Not a header: the headers ended without their blank line; it is added.
            return fields, lines[index:]
    return fields, []


def _name(header: list[bytes]) -> bytes:
    return header[0].split(b":", 1)[0].strip().lower()


def _value(header: list[bytes]) -> str:
    joined = b" ".join(line.strip() for line in header).split(b":", 1)[1]
    return joined.decode("utf-8", "replace").strip()


def _split(values: Sequence[str]) -> list[str]:
    """Addresses out of arguments or header values (``a@x, Name <b@y>``)."""
    return [address for _, address in getaddresses(list(values)) if address]


def _unique(addresses: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.lower(), address)
    return list(seen.values())


# --- SMTP ----------------------------------------------------------------------------------


def _submit(
    host: str,
    port: int,
    sender: str,
    recipients: list[str],
    message: bytes,
    auth: str | None,
    verbose: bool,
) -> None:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        with smtplib.SMTP(host, port, timeout=TIMEOUT) as smtp:
            if verbose:
                smtp.set_debuglevel(1)
            smtp.ehlo()
            if auth:
                user, _, password = auth.partition(":")
                smtp.login(user, password)
            options = []
            if not message.isascii() and smtp.has_extn("8bitmime"):
                options.append("BODY=8BITMIME")
            if not (sender + "".join(recipients)).isascii():
                options.append("SMTPUTF8")
            refused = smtp.sendmail(sender, recipients, message, mail_options=options)
    except socket.gaierror as error:
        raise _Fail(EX_NOHOST, f"cannot find host {host!r}: {error.strerror}") from None
    except smtplib.SMTPRecipientsRefused as error:
        raise _refused(error.recipients) from None
    except smtplib.SMTPResponseException as error:
        text = _text(error.smtp_error)
        status = EX_TEMPFAIL if 400 <= error.smtp_code < 500 else EX_UNAVAILABLE
        what = "the login" if isinstance(error, smtplib.SMTPAuthenticationError) else "the message"
        raise _Fail(status, f"{where} refused {what}: {error.smtp_code} {text}") from None
    except smtplib.SMTPServerDisconnected as error:
        raise _Fail(EX_TEMPFAIL, f"{where} closed the connection: {error}") from None
    except smtplib.SMTPException as error:  # e.g. SMTPUTF8 or AUTH not offered
        raise _Fail(EX_UNAVAILABLE, f"{where}: {error}") from None
    except TimeoutError:
        raise _Fail(EX_TEMPFAIL, f"{where} did not answer within {TIMEOUT:g} s") from None
    except OSError as error:
        raise _Fail(
            EX_UNAVAILABLE,
            f"cannot connect to a catcher at {where}: {error.strerror or error} "
            "(is it running? set --host/--port or CATCHER_SENDMAIL_HOST/CATCHER_SENDMAIL_PORT)",
        ) from None
    if refused:
        raise _refused(refused)


def _refused(refused: Mapping[str, tuple[int, bytes]]) -> _Fail:
    lines = [f"{rcpt}: {code} {_text(text)}" for rcpt, (code, text) in refused.items()]
    temporary = all(400 <= code < 500 for code, _ in refused.values())
    return _Fail(EX_TEMPFAIL if temporary else EX_NOUSER, "recipient refused: " + "; ".join(lines))


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
