"""``catcher sendmail`` run as a command (``python -m catcher sendmail``) against a real catcher."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from catcher.message import Message
from catcher.parsing import parse
from catcher.server import Catcher

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "testing.md"
COMMAND = [sys.executable, "-m", "catcher", "sendmail"]

MESSAGE = (
    b"From: Shop <noreply@shop.test>\n"
    b"To: Ada <ada@example.com>\n"
    b"Cc: bo@example.com\n"
    b"Bcc: hidden@example.com,\n"
    b"  also-hidden@example.com\n"
    b"Subject: Your order\n"
    b"Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
    b"Message-ID: <order-1@shop.test>\n"
    b"\n"
    b"Thanks for your order.\n"
    b".\n"
    b"This line comes after a lone dot.\n"
)


def run(
    catcher: Catcher | None,
    *args: str,
    stdin: bytes = MESSAGE,
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the command with the catcher's port in the environment, as a user would set it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CATCHER_")}
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    if catcher is not None:
        clean["CATCHER_SENDMAIL_PORT"] = str(catcher.smtp_port)
    result = subprocess.run(
        [*(command or COMMAND), *args],
        input=stdin,
        env={**clean, **(env or {})},
        capture_output=True,
        timeout=60,
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


def only(catcher: Catcher) -> Message:
    messages = catcher.store.query().messages
    assert len(messages) == 1, [m.envelope for m in messages]
    return messages[0]


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connections are refused."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def test_recipients_as_arguments(catcher: Catcher) -> None:
    result = run(catcher, "ada@example.com", "Bo <bo@example.com>, cy@example.com")
    assert (result.returncode, result.stderr) == (0, "")
    message = only(catcher)
    assert message.envelope.rcpt_tos == ("ada@example.com", "bo@example.com", "cy@example.com")
    # Without -t the message goes as it is (Bcc included), up to the lone dot, in CRLF.
    assert message.raw == MESSAGE.split(b"\n.\n")[0].replace(b"\n", b"\r\n") + b"\r\n"
    # The envelope sender defaults to the From header's address.
    assert message.envelope.mail_from == "noreply@shop.test"


def test_t_takes_recipients_from_the_headers_and_drops_bcc(catcher: Catcher) -> None:
    result = run(catcher, "-t", "-i", "extra@example.com")
    assert (result.returncode, result.stderr) == (0, "")
    message = only(catcher)
    assert message.envelope.rcpt_tos == (
        "extra@example.com",
        "ada@example.com",
        "bo@example.com",
        "hidden@example.com",
        "also-hidden@example.com",
    )
    assert b"Bcc" not in message.raw and b"hidden" not in message.raw
    # -i: the lone dot is text; everything else arrives byte for byte (in CRLF).
    expected = re.sub(rb"Bcc: .*\n  .*\n", b"", MESSAGE).replace(b"\n", b"\r\n")
    assert message.raw == expected
    assert parse(message.raw).bcc == ()


def test_resent_headers_win_with_t(catcher: Catcher) -> None:
    resent = b"Resent-To: re@example.com\nResent-Bcc: secret@example.com\n" + MESSAGE
    assert run(catcher, "-t", "-oi", stdin=resent).returncode == 0
    message = only(catcher)
    assert message.envelope.rcpt_tos == ("re@example.com", "secret@example.com")
    assert b"secret@" not in message.raw and b"Bcc: hidden" not in message.raw


@pytest.mark.parametrize(
    ("flags", "ends_at_dot"),
    [((), True), (("-i",), False), (("-oi",), False), (("-t", "-oi"), False), (("-t",), True)],
)
def test_a_lone_dot_ends_the_message_unless_i(
    catcher: Catcher, flags: tuple[str, ...], ends_at_dot: bool
) -> None:
    assert run(catcher, *flags, "ada@example.com").returncode == 0
    text = parse(only(catcher).raw).text or ""
    assert "Thanks for your order." in text
    assert ("after a lone dot" in text) is not ends_at_dot
    # A line that merely starts with a dot survives SMTP's dot-stuffing either way.
    catcher.store.clear()
    assert run(catcher, *flags, "ada@example.com", stdin=b"Subject: d\n\n..x\n.y\n").returncode == 0
    assert only(catcher).raw.endswith(b"\r\n\r\n..x\r\n.y\r\n")


def test_sender_name_and_missing_headers(catcher: Catcher) -> None:
    bare = b"To: ada@example.com\nSubject: from cron\n\nok\n"
    assert (
        run(catcher, "-t", "-f", "cron@host.test", "-F", "Cron Daemon", stdin=bare).returncode == 0
    )
    message = only(catcher)
    assert message.envelope.mail_from == "cron@host.test"
    parsed = parse(message.raw)
    assert [(a.name, a.address) for a in parsed.sender] == [("Cron Daemon", "cron@host.test")]
    assert parsed.date is not None
    assert parsed.message_id is not None and parsed.message_id.endswith("@host.test")
    # Headers the message had are kept as they were, and nothing is added twice.
    assert message.raw.startswith(b"To: ada@example.com\r\nSubject: from cron\r\nFrom: ")
    assert message.raw.endswith(b"\r\n\r\nok\r\n")
    catcher.store.clear()
    assert run(catcher, "-f", "<>", "ada@example.com").returncode == 0
    message = only(catcher)
    assert message.envelope.mail_from in ("", "<>")  # the null sender
    assert message.raw.count(b"Date:") == 1 and message.raw.count(b"Message-ID:") == 1


def test_headers_without_a_blank_line_and_an_mbox_from_line(catcher: Catcher) -> None:
    odd = b"From someone Mon Jan  1 10:00:00 2024\nSubject: odd\nbody right after\n"
    assert run(catcher, "ada@example.com", stdin=odd).returncode == 0
    message = only(catcher)
    assert parse(message.raw).subject == "odd"
    assert (parse(message.raw).text or "").strip() == "body right after"


def test_eight_bit_mail_arrives_intact(catcher: Catcher) -> None:
    body = "Subject: caf\u00e9\nContent-Type: text/plain; charset=utf-8\n\n"
    body += "Cr\u00e8me br\u00fbl\u00e9e\n"
    assert run(catcher, "ada@example.com", stdin=body.encode()).returncode == 0
    message = only(catcher)
    assert message.raw.startswith(body.encode().replace(b"\n", b"\r\n").split(b"\r\n\r\n")[0])
    assert "Cr\u00e8me br\u00fbl\u00e9e" in (parse(message.raw).text or "")


@pytest.mark.parametrize(
    "args",
    [
        ["-t", "-i"],  # PHP's sendmail_path
        ["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "ada@example.com"],  # cron
        ["-i", "-f", "dev@example.com", "--", "ada@example.com"],  # git send-email
        ["-oi", "-odb", "-oem", "-bm", "-U", "-G", "-n", "-m", "-N", "never", "ada@example.com"],
        ["-R", "hdrs", "-V", "envid", "-X", "/dev/null", "-L", "tag", "-h", "3", "-t"],
        ["-O", "DeliveryMode=b", "-C", "/etc/mail/sendmail.cf", "-p", "local", "-d0.1", "-t"],
        ["ada@example.com", "-oi"],  # options after recipients, as GNU getopt allows
    ],
)
def test_common_flags_are_accepted(catcher: Catcher, args: list[str]) -> None:
    result = run(catcher, *args)
    assert (result.returncode, result.stderr) == (0, "")
    assert "ada@example.com" in only(catcher).envelope.rcpt_tos


def test_verbose_shows_the_smtp_conversation(catcher: Catcher) -> None:
    result = run(catcher, "-v", "ada@example.com")
    assert result.returncode == 0
    assert "send: 'mail FROM:<noreply@shop.test>" in result.stderr
    assert "reply: b'250 " in result.stderr


def test_host_and_port_from_options_and_environment(catcher: Catcher) -> None:
    port = str(catcher.smtp_port)
    assert run(None, "--port", port, "ada@example.com").returncode == 0
    assert run(None, "--host", "127.0.0.1", "--port", port, "ada@example.com").returncode == 0
    assert run(None, "ada@example.com", env={"CATCHER_SMTP_PORT": port}).returncode == 0
    # The sendmail-specific variable wins over the server's; the option over both.
    env = {"CATCHER_SENDMAIL_PORT": port, "CATCHER_SMTP_PORT": "1"}
    assert run(None, "ada@example.com", env=env).returncode == 0
    env = {"CATCHER_SENDMAIL_PORT": "1", "CATCHER_SENDMAIL_HOST": "127.0.0.1"}
    assert run(None, "--port", port, "ada@example.com", env=env).returncode == 0
    assert len(catcher.store) == 5


def test_usage_errors_exit_64(catcher: Catcher) -> None:
    for args, error in [
        (["-q", "ada@example.com"], "catcher sendmail: option -q not recognized (see --help)\n"),
        (["-bs"], "catcher sendmail: -bs is not supported; only -bm (send a message)\n"),
        ([], "catcher sendmail: no recipients: name them as arguments, or use -t"),
        (["--port", "smtp", "a@x.test"], "catcher sendmail: --port: expected a port from 1"),
    ]:
        result = run(catcher, *args)
        assert result.returncode == 64, (args, result)
        assert result.stderr.startswith(error), (args, result.stderr)
    result = run(None, "a@x.test", env={"CATCHER_SENDMAIL_PORT": "70000"})
    assert result.returncode == 64
    assert "CATCHER_SENDMAIL_PORT: expected a port from 1 to 65535, got '70000'" in result.stderr
    assert len(catcher.store) == 0


def test_help(catcher: Catcher) -> None:
    result = run(catcher, "--help", stdin=b"")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: catcher sendmail [options] [recipient ...] < message")


def test_unreachable_catcher_exits_69(refusing_port: int) -> None:
    result = run(None, "--port", str(refusing_port), "ada@example.com")
    assert result.returncode == 69
    assert result.stderr.startswith(
        f"catcher sendmail: cannot connect to a catcher at 127.0.0.1:{refusing_port}: "
        "Connection refused (is it running?"
    )


def test_unknown_host_exits_68() -> None:
    result = run(None, "--host", "no-such-host.invalid", "ada@example.com")
    assert result.returncode == 68
    assert result.stderr.startswith("catcher sendmail: cannot find host 'no-such-host.invalid'")


def test_refused_recipients_exit_75_and_say_which(make_catcher: Callable[..., Catcher]) -> None:
    small = make_catcher(max_recipients=1)
    result = run(small, "ada@example.com", "bo@example.com")
    assert result.returncode == 75
    assert result.stderr.startswith("catcher sendmail: recipient refused: bo@example.com: 452 ")
    # The recipient that was accepted got the message.
    assert only(small).envelope.rcpt_tos == ("ada@example.com",)


def test_smtp_auth(make_catcher: Callable[..., Catcher]) -> None:
    guarded = make_catcher(smtp_auth=("app", "s3cret"))
    result = run(guarded, "ada@example.com")
    assert result.returncode == 69
    assert re.match(r"catcher sendmail: 127\.0\.0\.1:\d+ refused the message: 530 ", result.stderr)
    result = run(guarded, "--auth", "app:wrong", "ada@example.com")
    assert result.returncode == 69
    assert "refused the login: 535" in result.stderr
    result = run(guarded, "ada@example.com", env={"CATCHER_SENDMAIL_AUTH": "app:s3cret"})
    assert (result.returncode, result.stderr) == (0, "")
    assert only(guarded).delivery.auth_user == "app"


def test_docs_php_sendmail_path(catcher: Catcher) -> None:
    line = re.search(r'^sendmail_path = "(.*)"$', DOCS.read_text(), re.MULTILINE)
    assert line is not None, "docs/testing.md lost its php.ini line"
    words = shlex.split(line.group(1))
    assert words[:2] == ["catcher", "sendmail"]
    # What PHP's mail("ada@example.com", "Hello", "Hi Ada", "From: app@example.com") writes.
    php = b"To: ada@example.com\nSubject: Hello\nFrom: app@example.com\n\nHi Ada\n"
    result = run(catcher, *words[2:], stdin=php)
    assert (result.returncode, result.stderr) == (0, "")
    message = only(catcher)
    assert message.envelope.rcpt_tos == ("ada@example.com",)
    assert message.envelope.mail_from == "app@example.com"
    assert parse(message.raw).subject == "Hello"


def test_docs_wrapper_script(catcher: Catcher, tmp_path: Path) -> None:
    script = re.search(r"```sh\n(#!/bin/sh\n.*?)```", DOCS.read_text(), re.DOTALL)
    assert script is not None, "docs/testing.md lost its wrapper script"
    # The script calls ``catcher``; make that name this checkout's command.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "catcher").write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m catcher "$@"\n'
    )
    (bin_dir / "sendmail").write_text(script.group(1))
    for name in ("catcher", "sendmail"):
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = run(
        catcher,
        "-FCronDaemon",
        "-i",
        "-B8BITMIME",
        "-oem",
        "root",
        command=[str(bin_dir / "sendmail")],
        env=env,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert only(catcher).envelope.rcpt_tos == ("root",)
