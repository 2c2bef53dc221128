"""Fault rules, driven with smtplib and nodemailer: each stage and action gives exactly the
code and text asked for, ``times``, ``every``, ``rate`` and a seeded ``probability`` count
as they say, a dropped message is not stored, and the session log tells what happened."""

from __future__ import annotations

import base64
import json
import shutil
import smtplib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from catcher.server import Catcher
from tests.conftest import Http, smtp_client, wait_until

PEERS = Path(__file__).parent / "peers"
NODE = shutil.which("node")


def add(http: Http, rule: dict[str, Any], path: str = "/api/faults") -> dict[str, Any]:
    status, created = http.json("POST", path, rule)
    assert status == 201, created
    return created


def message(subject: str = "Hello", to: str = "ada@example.com") -> bytes:
    return f"From: app@shop.test\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nBody\r\n".encode()


def subjects(catcher: Catcher) -> list[str]:
    page = catcher.store.query(limit=1000)
    return sorted(catcher.store.summary(m).subject for m in page.messages)


# -- each stage, with smtplib -----------------------------------------------------------------


def test_connect_replies_instead_of_the_greeting(catcher: Catcher, http: Http) -> None:
    add(http, {"stage": "connect", "reply": "421 4.3.2 Down for maintenance", "times": 1})
    client = smtplib.SMTP(timeout=30)
    try:
        assert client.connect(*catcher.smtp_address) == (421, b"4.3.2 Down for maintenance")
    finally:
        client.close()
    with smtp_client(catcher) as again:  # the rule was used up
        assert again.noop()[0] == 250


def test_helo_auth_mail_and_rcpt_reply_with_what_the_rule_says(
    catcher: Catcher, http: Http
) -> None:
    add(http, {"stage": "helo", "reply": "554 5.7.1 Not you", "times": 1})
    add(http, {"stage": "auth", "match": {"login": "job-*"}, "reply": "535 5.7.8 Bad credentials"})
    add(
        http,
        {"stage": "mail", "match": {"from": "*@spam.test"}, "reply": "550 5.7.1 Sender refused"},
    )
    add(http, {"stage": "rcpt", "match": {"to": "ada@*"}, "reply": "452 4.2.2 Mailbox full"})
    with smtp_client(catcher) as client:
        assert client.ehlo() == (554, b"5.7.1 Not you")
        assert client.ehlo()[0] == 250
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login("job-7", "secret")
        assert (refused.value.smtp_code, refused.value.smtp_error) == (
            535,
            b"5.7.8 Bad credentials",
        )
        client.login("someone", "else")  # another login is not matched
        assert client.mail("x@spam.test") == (550, b"5.7.1 Sender refused")
        assert client.mail("x@shop.test")[0] == 250
        assert client.rcpt("ada@example.com") == (452, b"4.2.2 Mailbox full")
        assert client.rcpt("bob@example.com")[0] == 250
        code, reply = client.data(message("to bob only", "bob@example.com"))
        assert code == 250 and reply.startswith(b"2.0.0 OK queued as")
    assert subjects(catcher) == ["to bob only"]
    stored = catcher.store.latest()
    assert stored is not None and stored.envelope.rcpt_tos == ("bob@example.com",)


def test_data_reply_stores_nothing(catcher: Catcher, http: Http) -> None:
    add(http, {"stage": "data", "reply": "554 5.6.0 Message rejected"})
    with smtp_client(catcher) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@shop.test", ["ada@example.com"], message())
    assert (refused.value.smtp_code, refused.value.smtp_error) == (554, b"5.6.0 Message rejected")
    assert len(catcher.store) == 0


@pytest.mark.parametrize("action", ["drop", "disconnect"])
def test_a_connection_cut_at_data_stores_nothing(catcher: Catcher, http: Http, action: str) -> None:
    add(http, {"stage": "data", "action": action, "times": 1})
    with smtp_client(catcher) as client:
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.sendmail("a@shop.test", ["ada@example.com"], message("cut"))
    assert len(catcher.store) == 0
    with smtp_client(catcher) as client:
        client.sendmail("a@shop.test", ["ada@example.com"], message("after"))
    assert subjects(catcher) == ["after"]


def test_a_421_closes_the_connection_after_it(catcher: Catcher, http: Http) -> None:
    add(http, {"stage": "mail", "reply": "421 4.7.0 Too busy, come back later"})
    client = smtp_client(catcher)
    try:
        client.ehlo()
        assert client.mail("a@shop.test") == (421, b"4.7.0 Too busy, come back later")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()
    finally:
        client.close()


def test_a_delayed_reply_comes_late_then_as_normal(catcher: Catcher, http: Http) -> None:
    add(http, {"stage": "rcpt", "action": "delay", "delay": 0.5})
    with smtp_client(catcher) as client:
        client.ehlo()
        client.mail("a@shop.test")
        started = time.monotonic()
        assert client.rcpt("ada@example.com")[0] == 250
        assert time.monotonic() - started >= 0.45
        assert client.data(message("slow"))[0] == 250
    assert subjects(catcher) == ["slow"]


# -- how often -------------------------------------------------------------------------------


def _rcpt_codes(catcher: Catcher, count: int, login: str | None = None) -> list[int]:
    codes = []
    with smtp_client(catcher) as client:
        client.ehlo()
        if login:
            client.login(login, "pw")
        for _ in range(count):
            client.rset()
            client.mail("a@shop.test")
            codes.append(client.rcpt("ada@example.com")[0])
    return codes


def test_times_counts_down_and_the_rule_goes(catcher: Catcher, http: Http) -> None:
    rule = add(http, {"stage": "rcpt", "reply": "451 4.3.0 Later", "times": 2})
    assert _rcpt_codes(catcher, 4) == [451, 451, 250, 250]
    assert http.request("GET", f"/api/faults/{rule['id']}")[0] == 404
    assert http.get("/api/faults") == {"faults": [], "fired": 2}


def test_every_nth(catcher: Catcher, http: Http) -> None:
    rule = add(http, {"stage": "rcpt", "every": 3})
    assert _rcpt_codes(catcher, 7) == [250, 250, 451, 250, 250, 451, 250]
    assert http.get(f"/api/faults/{rule['id']}")["fired"] == 2


def test_a_rate_lets_exactly_that_many_through_per_login(catcher: Catcher, http: Http) -> None:
    add(http, {"stage": "rcpt", "rate": "3/min"})
    assert _rcpt_codes(catcher, 5, login="job-1") == [250, 250, 250, 451, 451]
    assert _rcpt_codes(catcher, 4, login="job-2") == [250, 250, 250, 451]  # its own count
    with smtp_client(catcher) as client:
        client.login("job-3", "pw")
        client.mail("a@shop.test")
        assert client.rcpt("x@example.com") == (250, b"OK")
        client.rset()
        for _ in range(2):
            client.mail("a@shop.test")
            client.rcpt("x@example.com")
            client.rset()
        client.mail("a@shop.test")
        assert client.rcpt("x@example.com") == (451, b"4.7.1 Too many messages, slow down")


def test_a_seeded_probability_repeats_itself(catcher: Catcher, http: Http) -> None:
    runs = []
    for _ in range(2):
        rule = add(http, {"stage": "rcpt", "probability": 0.5, "seed": 42})
        runs.append(_rcpt_codes(catcher, 20))
        http.request("DELETE", f"/api/faults/{rule['id']}")
    assert runs[0] == runs[1]
    assert 451 in runs[0] and 250 in runs[0]
    add(http, {"stage": "rcpt", "probability": 0, "seed": 1})
    assert set(_rcpt_codes(catcher, 10)) == {250}


def test_the_first_rule_that_fires_wins(catcher: Catcher, http: Http) -> None:
    add(http, {"stage": "rcpt", "match": {"to": "ada@*"}, "reply": "550 5.1.1 First", "times": 1})
    add(http, {"stage": "rcpt", "reply": "450 4.2.0 Second"})
    with smtp_client(catcher) as client:
        client.ehlo()
        client.mail("a@shop.test")
        assert client.rcpt("ada@example.com") == (550, b"5.1.1 First")
        assert client.rcpt("ada@example.com") == (450, b"4.2.0 Second")


# -- what apps see -----------------------------------------------------------------------------


def test_a_retrying_sender_gets_through_on_the_second_try(catcher: Catcher, http: Http) -> None:
    add(
        http,
        {
            "stage": "rcpt",
            "match": {"to": "ada@example.com"},
            "reply": "451 4.3.0 Try again later",
            "times": 1,
        },
    )
    outcomes = []
    for _attempt in range(3):  # what a mail queue does, without its waiting
        try:
            with smtp_client(catcher) as client:
                client.sendmail("a@shop.test", ["ada@example.com"], message("retried"))
            outcomes.append("sent")
            break
        except smtplib.SMTPRecipientsRefused as refused:
            outcomes.append(refused.recipients["ada@example.com"][0])
    assert outcomes == [451, "sent"]
    assert subjects(catcher) == ["retried"]


def test_a_rule_for_one_recipient_leaves_the_others_alone_under_load(
    catcher: Catcher, http: Http
) -> None:
    add(
        http,
        {"stage": "rcpt", "match": {"to": "ada@example.com"}, "reply": "550 5.1.1 No such user"},
    )
    refused: list[int] = []

    def send(n: int) -> None:
        with smtp_client(catcher) as client:
            for k in range(10):
                to = "ada@example.com" if k % 2 else "bob@example.com"
                try:
                    client.sendmail("a@shop.test", [to], message(f"{n}-{k}", to))
                except smtplib.SMTPRecipientsRefused as error:
                    refused.append(error.recipients[to][0])

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert refused == [550] * 40
    stored = catcher.store.query(limit=1000).messages
    assert len(stored) == 40 and {m.envelope.rcpt_tos for m in stored} == {("bob@example.com",)}


def test_rules_scoped_to_a_mailbox(catcher: Catcher, http: Http) -> None:
    rule = add(http, {"stage": "data", "reply": "452 4.3.1 Full"}, "/api/faults?mailbox=w1")
    assert rule["match"] == {"mailbox": "w1"}
    with smtp_client(catcher) as client:
        with pytest.raises(smtplib.SMTPDataError):
            client.sendmail("a@shop.test", ["ann+w1@example.com"], message("w1"))
        client.sendmail("a@shop.test", ["ann+w2@example.com"], message("w2"))
    assert subjects(catcher) == ["w2"]
    assert [r["id"] for r in http.get("/api/faults?mailbox=w1")["faults"]] == [rule["id"]]
    assert http.get("/api/faults?mailbox=w2")["faults"] == []
    assert http.request("DELETE", f"/api/faults/{rule['id']}?mailbox=w2")[0] == 404
    assert http.json("DELETE", "/api/faults?mailbox=w1")[1] == {"deleted": 1, "ids": [rule["id"]]}


def test_the_session_log_says_what_happened(catcher: Catcher, http: Http) -> None:
    rule = add(
        http, {"stage": "rcpt", "match": {"to": "*@bounce.test"}, "reply": "550 5.1.1 No such user"}
    )
    with smtp_client(catcher) as client:
        client.login("job-9", "very-secret-password")
        client.sendmail("a@shop.test", ["ok@example.com", "gone@bounce.test"], message("logged"))
    [session] = http.get("/api/sessions?limit=1")["sessions"]
    lines = [(t["from"], t["line"]) for t in session["transcript"]]
    assert ("client", "AUTH PLAIN ****") in lines
    assert ("client", "RCPT TO:<gone@bounce.test>") in lines
    assert ("server", "550 5.1.1 No such user") in lines
    assert not any("very-secret" in line or "Body" in line for _, line in lines)
    assert session["login"] == "job-9" and session["faults"] == [rule["id"]]
    assert session["messages"] == [catcher.store.latest().id]  # type: ignore[union-attr]
    assert session["ended"] is not None
    stats = http.get("/api/stats")
    assert stats["faults"] == 1 and stats["faults_fired"] == 1


@pytest.mark.parametrize(
    ("rule", "complaint"),
    [
        ({}, "stage"),
        ({"stage": "quit"}, "stage"),
        ({"stage": "rcpt", "reply": "250 OK"}, "reply"),
        ({"stage": "rcpt", "reply": "451 two\r\nlines"}, "reply"),
        ({"stage": "rcpt", "action": "drop"}, "drop"),
        ({"stage": "rcpt", "action": "delay"}, "delay"),
        ({"stage": "rcpt", "every": 2, "rate": "1/min"}, "one at most"),
        ({"stage": "rcpt", "rate": "lots"}, "rate"),
        ({"stage": "rcpt", "match": {"subject": "x"}}, "match"),
        ({"stage": "rcpt", "times": 0}, "times"),
        ({"stage": "rcpt", "probability": 2}, "probability"),
        ({"stage": "rcpt", "seed": 3}, "seed"),
        ({"stage": "data", "action": "disconnect", "reply": "421 x"}, "reply"),
        ([], "JSON object"),
    ],
)
def test_a_bad_rule_is_a_400_that_says_why(
    catcher: Catcher, http: Http, rule: Any, complaint: str
) -> None:
    status, reply = http.json("POST", "/api/faults", rule)
    assert status == 400 and complaint in reply["error"], reply
    assert http.get("/api/faults")["faults"] == []


def test_rules_from_the_settings(make_catcher: Any) -> None:
    catcher = make_catcher(
        faults=(
            'rcpt to=*@bounce.test reply="550 5.1.1 No such user"',
            json.dumps({"stage": "mail", "match": {"from": "*@spam.test"}, "action": "disconnect"}),
        )
    )
    with smtp_client(catcher) as client:
        client.ehlo()
        client.mail("a@shop.test")
        assert client.rcpt("x@bounce.test") == (550, b"5.1.1 No such user")
    with smtp_client(catcher) as client:
        client.ehlo()
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.mail("a@spam.test")
    assert [r["stage"] for r in Http(catcher.url).get("/api/faults")["faults"]] == ["rcpt", "mail"]


# -- nodemailer -----------------------------------------------------------------------------------


def nodemailer(catcher: Catcher, to: str, subject: str, login: str = "") -> dict[str, Any]:
    if not (NODE and (PEERS / "node_modules" / "nodemailer").is_dir()):
        pytest.skip("nodemailer is not installed: npm ci --prefix tests/peers")
    host, port = catcher.smtp_address
    args = [NODE, str(PEERS / "send.mjs"), host, str(port), "app@shop.test", to, subject]
    if login:
        args += [login, "pw"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=PEERS)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_nodemailer_sees_the_codes_and_gets_through_on_retry(catcher: Catcher, http: Http) -> None:
    add(
        http, {"stage": "rcpt", "match": {"to": "*@bounce.test"}, "reply": "550 5.1.1 No such user"}
    )
    add(http, {"stage": "data", "reply": "451 4.3.0 Try again later", "times": 1})
    bounced = nodemailer(catcher, "gone@bounce.test", "bounced")
    assert bounced["ok"] is False and bounced["code"] == "EENVELOPE"
    assert bounced["responseCode"] == 550 and "No such user" in bounced["response"]
    later = nodemailer(catcher, "ada@example.com", "later")
    assert later["ok"] is False and later["responseCode"] == 451
    again = nodemailer(catcher, "ada@example.com", "later")
    assert again["ok"] is True and again["response"].startswith("250 2.0.0 OK queued as")
    assert subjects(catcher) == ["later"]


# -- edges ---------------------------------------------------------------------------------------


def test_a_mailbox_rule_before_rcpt_goes_by_the_login(catcher: Catcher, http: Http) -> None:
    add(http, {"stage": "mail", "reply": "451 4.3.0 Busy"}, "/api/faults?mailbox=job-1")
    with smtp_client(catcher) as client:
        client.ehlo()
        assert client.mail("a@shop.test")[0] == 250  # no login: no mailbox known yet
    with smtp_client(catcher) as client:
        client.login("job-1", "pw")
        assert client.mail("a@shop.test") == (451, b"4.3.0 Busy")
    with smtp_client(catcher) as client:
        client.login("job-2", "pw")
        assert client.mail("a@shop.test")[0] == 250


@pytest.mark.parametrize(
    ("rule", "complaint"),
    [
        ({"stage": "connect", "match": {"to": "a@b.test"}}, "not known at stage connect"),
        ({"stage": "helo", "match": {"from": "a@b.test"}}, "not known at stage helo"),
        ({"stage": "mail", "match": {"to": "a@b.test"}}, "not known at stage mail"),
    ],
)
def test_a_match_a_stage_cannot_know_is_refused(
    catcher: Catcher, http: Http, rule: dict[str, Any], complaint: str
) -> None:
    status, reply = http.json("POST", "/api/faults", rule)
    assert status == 400 and complaint in reply["error"]
    status, reply = http.json("POST", "/api/faults?mailbox=w1", {"stage": "connect"})
    assert status == 400 and "mailbox" in reply["error"]


def test_auth_rules_see_the_login_however_it_is_sent(catcher: Catcher, http: Http) -> None:
    add(http, {"stage": "auth", "match": {"login": "job-*"}, "reply": "454 4.7.0 Try later"})
    for mechanism in ("LOGIN", "PLAIN"):
        with smtp_client(catcher) as client:
            client.ehlo()
            client.user, client.password = "job-4", "pw"
            # Without an initial response: the login comes on a line of its own.
            code, _ = client.docmd("AUTH", mechanism)
            assert code == 334
            if mechanism == "LOGIN":
                code, _ = client.docmd(base64.b64encode(b"job-4").decode())
                assert code == 334
                reply = client.docmd(base64.b64encode(b"pw").decode())
            else:
                reply = client.docmd(base64.b64encode(b"\x00job-4\x00pw").decode())
            assert reply == (454, b"4.7.0 Try later"), mechanism
    with smtp_client(catcher) as client:
        client.login("someone", "pw")  # not matched


def test_a_long_delay_is_not_taken_for_an_idle_client(make_catcher: Any) -> None:
    catcher = make_catcher(smtp_timeout=0.5)
    Http(catcher.url).json(
        "POST", "/api/faults", {"stage": "rcpt", "action": "delay", "delay": 0.9}
    )
    with smtp_client(catcher) as client:
        client.ehlo()
        client.mail("a@shop.test")
        assert client.rcpt("ada@example.com") == (250, b"OK")


def test_a_refused_greeting_ends_the_session(catcher: Catcher, http: Http) -> None:
    add(http, {"stage": "connect", "reply": "554 5.3.2 Not now"})
    client = smtplib.SMTP(timeout=30)
    try:
        assert client.connect(*catcher.smtp_address) == (554, b"5.3.2 Not now")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.ehlo()
    finally:
        client.close()


@pytest.mark.parametrize("action", ["disconnect", "delay"])
def test_connect_disconnect_and_delay(catcher: Catcher, http: Http, action: str) -> None:
    rule = {"stage": "connect", "action": action, "times": 1}
    add(http, {**rule, "delay": 0.3} if action == "delay" else rule)
    client = smtplib.SMTP(timeout=30)
    try:
        started = time.monotonic()
        if action == "disconnect":
            with pytest.raises(smtplib.SMTPServerDisconnected):
                client.connect(*catcher.smtp_address)
        else:
            assert client.connect(*catcher.smtp_address)[0] == 220
            assert time.monotonic() - started >= 0.25
    finally:
        client.close()


def test_a_refused_helo_takes_the_earlier_greeting_back(catcher: Catcher, http: Http) -> None:
    with smtp_client(catcher) as client:
        assert client.ehlo()[0] == 250
        add(http, {"stage": "helo", "reply": "550 5.7.1 Go away"})
        assert client.helo() == (550, b"5.7.1 Go away")
        assert client.mail("a@shop.test")[0] == 503


def test_pipelined_commands_after_a_close_are_neither_run_nor_logged(
    catcher: Catcher, http: Http
) -> None:
    add(http, {"stage": "mail", "reply": "421 4.7.0 Closing"})
    with socket.create_connection(catcher.smtp_address, timeout=30) as raw:
        raw.recv(1024)
        raw.sendall(b"EHLO x\r\nMAIL FROM:<a@shop.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    assert received.endswith(b"421 4.7.0 Closing\r\n")
    [session] = http.get("/api/sessions?limit=1")["sessions"]
    lines = [t["line"] for t in session["transcript"]]
    assert lines[-1] == "421 4.7.0 Closing" and not any(line.startswith("RCPT") for line in lines)


def test_the_session_log_keeps_the_start_and_the_end(catcher: Catcher, http: Http) -> None:
    with smtp_client(catcher) as client:
        client.ehlo()
        for _ in range(300):
            client.noop()
        client.sendmail("a@shop.test", ["ada@example.com"], message("last"))
    [session] = http.get("/api/sessions?limit=1")["sessions"]
    lines = [t["line"] for t in session["transcript"]]
    assert lines[0].startswith("220 ") and len(lines) == 200
    assert session["lines_dropped"] > 0 and "QUIT" in lines[-2] and lines[-1].startswith("221")
    assert session["messages_stored"] == 1


def test_a_client_address_rule(catcher: Catcher, http: Http) -> None:
    add(http, {"stage": "mail", "match": {"client": "10.*"}, "reply": "550 5.7.1 Not you"})
    add(
        http,
        {"stage": "mail", "match": {"client": "127.0.0.*"}, "reply": "451 4.7.1 You", "times": 1},
    )
    with smtp_client(catcher) as client:
        client.ehlo()
        assert client.mail("a@shop.test") == (451, b"4.7.1 You")


def test_a_fault_rules_count_outlives_it_only_when_it_used_its_times(
    catcher: Catcher, http: Http
) -> None:
    from catcher import Client

    client = Client(catcher.url)
    used_up = client.fault("rcpt", times=1)
    cleared = client.fault("rcpt", to="nobody@example.com", times=5)
    _rcpt_codes(catcher, 1)
    client.clear_faults()
    assert used_up.fired == 1 and cleared.fired == 0


def test_rules_from_a_file(tmp_path: Path) -> None:
    rules = tmp_path / "faults.json"
    rules.write_text(json.dumps([{"stage": "rcpt", "reply": "452 4.2.2 Full"}]))
    bad = tmp_path / "bad.json"
    bad.write_text('{"stage": "rcpt"}')
    command = [sys.executable, "-m", "catcher", "--smtp-port", "0", "--http-port", "0"]
    refused = subprocess.run(
        [*command, "--faults-file", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and "expected a JSON list of rules" in refused.stderr
    process = subprocess.Popen(
        [*command, "--faults-file", str(rules)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        banner = "".join(process.stdout.readline() for _ in range(3))
        url = banner.split("HTTP", 1)[1].split()[0]
        assert [r["reply"] for r in Http(url).get("/api/faults")["faults"]] == ["452 4.2.2 Full"]
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_clients_that_leave_early_free_their_connection(make_catcher: Any) -> None:
    catcher = make_catcher(max_connections=3)
    Http(catcher.url).json(
        "POST", "/api/faults", {"stage": "connect", "action": "delay", "delay": 5}
    )
    for _ in range(3):  # gone while their greeting waits, or at once
        socket.create_connection(catcher.smtp_address, timeout=30).close()
    wait_until(lambda: catcher.status().smtp_sessions == 0, what="the sessions closed")
    Http(catcher.url).request("DELETE", "/api/faults")
    with smtp_client(catcher) as client:
        assert client.noop()[0] == 250


def test_a_mailbox_rule_tells_names_apart_by_case(catcher: Catcher, http: Http) -> None:
    add(http, {"stage": "rcpt", "reply": "450 4.0.0 w1 only"}, "/api/faults?mailbox=w1")
    with smtp_client(catcher) as client:
        client.ehlo()
        client.mail("a@shop.test")
        assert client.rcpt("ann+W1@example.com")[0] == 250
        assert client.rcpt("ann+w1@example.com") == (450, b"4.0.0 w1 only")


@pytest.mark.parametrize(
    ("rule", "complaint"),
    [
        ({"stage": "rcpt", "rate": "0/min"}, "at least 1"),
        ({"stage": "rcpt", "rate": "١٠/min"}, "rate"),
        ({"stage": "rcpt", "reply": "451 Grüße"}, "reply"),
        ({"stage": "rcpt", "probability": 0.5, "seed": 10**30}, "seed"),
    ],
)
def test_odd_rules_are_refused(catcher: Catcher, http: Http, rule: Any, complaint: str) -> None:
    status, reply = http.json("POST", "/api/faults", rule)
    assert status == 400 and complaint in reply["error"]


def test_a_peer_view_is_off_once_its_rules_are_gone(catcher: Catcher, http: Http) -> None:
    http.json("POST", "/api/v2/jim", {"RejectRecipientChance": 1})
    rules = http.get("/api/faults")["faults"]
    for rule in rules:
        http.request("DELETE", f"/api/faults/{rule['id']}")
    assert http.request("GET", "/api/v2/jim")[0] == 404
    for body in (b'{"LinkSpeedMin": NaN}', b"not json", b'{"AcceptChance": -1}'):
        status, _, reply = http.request("POST", "/api/v2/jim", body)
        assert status == 400 and b"error" in reply, body
