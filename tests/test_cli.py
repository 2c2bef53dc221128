"""The ``catcher`` command, run as a real process."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from catcher import __version__
from catcher.cli import peer_environment

from .conftest import Http, make_email

COMMAND = [sys.executable, "-m", "catcher"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


class Running:
    """A ``catcher`` process; its banner lines are read to learn the bound ports."""

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.process = subprocess.Popen(
            [*COMMAND, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        assert self.process.stdout is not None
        self.banner: list[str] = []
        for line in self.process.stdout:
            self.banner.append(line)
            if "HTTP" in line:
                break
        text = "".join(self.banner)
        smtp = re.search(r"SMTP\s+(\S+):(\d+)", text)
        http = re.search(r"HTTP\s+(http://\S+)", text)
        if not (smtp and http):
            self.process.kill()
            _, err = self.process.communicate()
            raise AssertionError(text + err)
        self.smtp = (smtp.group(1), int(smtp.group(2)))
        self.url = http.group(1)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(sig)
        out, self.err = self.process.communicate(timeout=30)
        return self.process.returncode, out


@pytest.fixture
def running() -> Iterator[Running]:
    process = Running("--smtp-port", "0", "--http-port", "0")
    try:
        yield process
    finally:
        if process.process.poll() is None:
            process.process.kill()
            process.process.communicate()


def test_runs_receives_and_stops_cleanly_on_sigterm(running: Running) -> None:
    assert running.smtp[1] != 0
    with smtplib.SMTP(*running.smtp, timeout=30) as client:
        client.send_message(make_email(subject="from the cli test"))
    status, health = Http(running.url).json("GET", "/api/health")
    assert status == 200 and health["status"] == "ok"
    code, out = running.stop(signal.SIGTERM)
    assert code == 0
    assert "catcher stopped" in out


def test_ctrl_c_stops_cleanly(running: Running) -> None:
    code, out = running.stop(signal.SIGINT)
    assert code == 0 and "Traceback" not in out


def test_environment_variables_configure_it() -> None:
    process = Running(
        env={"CATCHER_SMTP_PORT": "0", "CATCHER_HTTP_PORT": "0", "CATCHER_SMTP_AUTH": "u:p"}
    )
    try:
        assert "AUTH required" in "".join(process.banner)
        with smtplib.SMTP(*process.smtp, timeout=30) as client:
            client.ehlo()
            assert client.mail("a@example.com")[0] == 530
    finally:
        assert process.stop()[0] == 0


def test_mailpits_and_mailhogs_variables_configure_it() -> None:
    """A container set up for Mailpit or MailHog starts catcher the same way."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    process = Running(
        env={
            "MP_SMTP_BIND_ADDR": "127.0.0.1:0",
            "MH_API_BIND_ADDR": f"127.0.0.1:{free}",
            "MP_SMTP_AUTH": "job:secret other:pw",
            "CATCHER_HTTP_PORT": "0",  # catcher's own variable wins
            "CATCHER_COMPAT": "mailhog",
        }
    )
    try:
        assert process.url != f"http://127.0.0.1:{free}"
        with smtplib.SMTP(*process.smtp, timeout=30) as client:
            client.login("job", "secret")
            client.send_message(make_email(subject="from a Mailpit setup"))
        listed = Http(process.url).get("/api/v2/messages")
        assert listed["items"][0]["Content"]["Headers"]["Subject"] == ["from a Mailpit setup"]
        assert Http(process.url).request("GET", "/api/v1/search?query=x")[0] == 404
    finally:
        assert process.stop()[0] == 0


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        (
            {"MP_SMTP_BIND_ADDR": "0.0.0.0:1025"},
            {"CATCHER_SMTP_HOST": "0.0.0.0", "CATCHER_SMTP_PORT": "1025"},
        ),
        (
            {"MH_SMTP_BIND_ADDR": ":2525"},
            {"CATCHER_SMTP_HOST": "0.0.0.0", "CATCHER_SMTP_PORT": "2525"},
        ),
        (
            {"MP_UI_BIND_ADDR": "[::]:8025"},
            {"CATCHER_HTTP_HOST": "::", "CATCHER_HTTP_PORT": "8025"},
        ),
        (
            {"MH_UI_BIND_ADDR": "0.0.0.0:8026", "MH_API_BIND_ADDR": "0.0.0.0:8025"},
            {"CATCHER_HTTP_HOST": "0.0.0.0", "CATCHER_HTTP_PORT": "8025"},
        ),
        (
            {"MP_MAX_MESSAGES": "500", "MH_HOSTNAME": "mail.test"},
            {"CATCHER_MAX_MESSAGES": "500", "CATCHER_HOSTNAME": "mail.test"},
        ),
        ({"MP_UI_AUTH": "ann:pw bob:pw2"}, {"CATCHER_HTTP_AUTH": "ann:pw"}),
        ({"MP_WEBROOT": "mail"}, {"CATCHER_BASE_PATH": "/mail"}),
        ({"MP_WEBROOT": "/mail/"}, {"CATCHER_BASE_PATH": "/mail"}),
        ({"MP_UI_AUTH": " ", "MP_SMTP_BIND_ADDR": "nonsense"}, {}),
        ({"MP_MAX_MESSAGES": "500", "CATCHER_MAX_MESSAGES": "9"}, {}),  # catcher's own wins
    ],
)
def test_peer_variables_map_onto_catchers(peer: dict[str, str], expected: dict[str, str]) -> None:
    assert peer_environment(peer) == expected


def test_fault_rules_from_the_environment_fire_and_say_so() -> None:
    rules = (
        'rcpt to=*@bounce.test reply="550 5.1.1 No such user"; '
        "mail from=*@spam.test action=disconnect"
    )
    process = Running(
        env={"CATCHER_SMTP_PORT": "0", "CATCHER_HTTP_PORT": "0", "CATCHER_FAULT": rules}
    )
    try:
        listed = Http(process.url).get("/api/faults")["faults"]
        assert [(r["stage"], r["action"]) for r in listed] == [
            ("rcpt", "reply"),
            ("mail", "disconnect"),
        ]
        with smtplib.SMTP(*process.smtp, timeout=30) as client:
            client.ehlo()
            client.mail("a@shop.test")
            assert client.rcpt("gone@bounce.test") == (550, b"5.1.1 No such user")
    finally:
        assert process.stop()[0] == 0
    assert (
        "fault 1 fired at rcpt from 127.0.0.1 to gone@bounce.test: 550 5.1.1 No such user"
        in process.err
    )


def test_rules_in_the_environment_split_on_semicolons_outside_quotes() -> None:
    from catcher.cli import RuleText

    text = (
        'rcpt reply="550 no; really"; {"stage": "data", "reply": "451 say \\"hi; there\\""}; '
        "mail action=disconnect"
    )
    assert RuleText().split_envvar_value(text) == [
        'rcpt reply="550 no; really"',
        '{"stage": "data", "reply": "451 say \\"hi; there\\""}',
        "mail action=disconnect",
    ]


def test_a_console_nobody_reads_never_stalls_smtp() -> None:
    """Each firing is printed; with stderr a pipe nobody empties, SMTP must go on."""
    process = Running(
        env={"CATCHER_SMTP_PORT": "0", "CATCHER_HTTP_PORT": "0", "CATCHER_FAULT": "rcpt"}
    )
    try:
        with smtplib.SMTP(*process.smtp, timeout=30) as client:
            client.ehlo()
            client.mail("a@shop.test")
            for n in range(2000):  # about 150 KB of lines: past what a pipe holds
                assert client.rcpt(f"r{n}@example.com")[0] == 451
    finally:
        assert process.stop()[0] == 0


def test_port_in_use_is_one_clear_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--smtp-port", str(port), "--http-port", "0")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"SMTP port 127.0.0.1:{port}" in result.stderr and "in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_http_port_in_use_is_one_clear_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--smtp-port", "0", "--http-port", str(port))
    assert result.returncode == 1
    assert f"HTTP port 127.0.0.1:{port}" in result.stderr and "in use" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--smtp-port", "70000"], "70000 is not in the range"),
        (["--max-message-size", "lots"], "is not a size"),
        (["--smtp-auth", "nocolon"], "expected USER:PASSWORD"),
        (["--cors-origin", "not an origin"], "is not an origin"),
        (["--tls-cert", "/nonexistent/cert.pem"], "tls_cert and tls_key"),
        (["--compat", "mailpit,smtp4dev"], "smtp4dev is not one of"),
        (["--fault", "quit reply=550"], "stage: expected one of"),
        (["--fault", "rcpt reply=250"], "reply: expected a 4xx or 5xx"),
        (["--fault", "rcpt times=１"], "times: expected a whole number"),
    ],
)
def test_bad_options_name_the_problem(args: list[str], expected: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("not a certificate")
    key.write_text("not a key")
    result = run(
        "--smtp-port", "0", "--http-port", "0", "--tls-cert", str(cert), "--tls-key", str(key)
    )
    assert result.returncode == 1
    assert "cannot load" in result.stderr and str(cert) in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help() -> None:
    assert run("--version").stdout.strip() == f"catcher, version {__version__}"
    help_text = run("--help").stdout
    for option in (
        "--smtp-port",
        "--http-port",
        "--max-message-size",
        "--smtp-auth",
        "CATCHER_SMTP_PORT",
    ):
        assert option in help_text


def test_health_is_ok_for_a_running_catcher(running: Running) -> None:
    checked = run("health", "--url", running.url)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == f"catcher at {running.url}: ok (SMTP and HTTP up)"
    # Without --url: the address the catcher's own variables give (a container's).
    port = running.url.rsplit(":", 1)[1]
    derived = run("health", env={"CATCHER_HTTP_HOST": "0.0.0.0", "CATCHER_HTTP_PORT": port})
    assert derived.returncode == 0, derived.stderr
    assert f"http://127.0.0.1:{port}: ok" in derived.stdout


def test_health_asks_under_the_base_path_the_catcher_serves() -> None:
    process = Running("--smtp-port", "0", "--http-port", "0", env={"CATCHER_BASE_PATH": "/mail/"})
    try:
        port = process.url.split(":")[2].split("/")[0]
        checked = run("health", env={"CATCHER_HTTP_PORT": port, "CATCHER_BASE_PATH": "/mail/"})
        assert checked.returncode == 0, checked.stderr
        assert f"http://127.0.0.1:{port}/mail: ok" in checked.stdout
    finally:
        assert process.stop()[0] == 0


def test_health_fails_on_a_closed_port() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        result = run("health", env={"CATCHER_URL": url})
    assert result.returncode == 1
    assert f"catcher at {url}: not answering" in result.stderr and "refused" in result.stderr
    assert "Traceback" not in result.stderr


def test_health_sends_the_http_login_from_the_environment() -> None:
    login = {"CATCHER_HTTP_AUTH": "ops:secret"}
    process = Running("--smtp-port", "0", "--http-port", "0", env=login)
    try:
        assert run("health", "--url", process.url, env=login).returncode == 0
        refused = run("health", "--url", process.url, env={"CATCHER_HTTP_AUTH": ""})
        assert refused.returncode == 1
        assert "HTTP 401 login needed (CATCHER_HTTP_AUTH)" in refused.stderr
    finally:
        assert process.stop()[0] == 0


def test_sigterm_lets_a_message_in_flight_finish_and_tells_the_others() -> None:
    """On SIGTERM SMTP takes no new connections at once, an idle session gets 421, a client
    in the middle of DATA still gets its 250, and the process exits 0; a second SIGTERM
    while it waits changes nothing."""
    process = Running("--smtp-port", "0", "--http-port", "0")
    idle = smtplib.SMTP(*process.smtp, timeout=30)
    sending = smtplib.SMTP(*process.smtp, timeout=30)
    try:
        idle.ehlo()
        sending.ehlo()
        sending.mail("shop@example.com")
        sending.rcpt("ada@example.com")
        assert sending.docmd("DATA")[0] == 354
        sending.send(b"Subject: in flight\r\n\r\nthe first half, ")
        process.process.send_signal(signal.SIGTERM)
        assert process.process.stdout is not None
        for stopping in process.process.stdout:  # (after the rest of the banner)
            if stopping.startswith("catcher stopping"):
                break
        assert stopping.startswith("catcher stopping: no new mail")
        assert "for 1 message being received" in stopping
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(process.smtp, timeout=30).close()
        assert Http(process.url).request("GET", "/api/health")[0] == 503
        code, reply = idle.getreply()
        assert code == 421 and b"Shutting down" in reply
        process.process.send_signal(signal.SIGTERM)  # impatient: a second one
        sending.send(b"the second half.\r\n.\r\n")
        code, reply = sending.getreply()
        assert code == 250 and b"queued as 1" in reply
        # Its message stored and acknowledged, the session is told and closed at once:
        # a sender that keeps its connection open does not hold up the stop.
        code, reply = sending.getreply()
        assert code == 421 and b"Shutting down" in reply
        out, err = process.process.communicate(timeout=30)
    finally:
        idle.close()
        sending.close()
        if process.process.poll() is None:
            process.process.kill()
            process.process.communicate()
    assert process.process.returncode == 0
    assert out.strip().endswith("catcher stopped")
    assert "Traceback" not in err, err
