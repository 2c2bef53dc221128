"""Real SMTP sessions over loopback against a running catcher."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.policy import SMTP

import pytest

from catcher.parsing import parse
from catcher.server import Catcher

from .conftest import make_email, send, smtp_client


def tls_client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def only(catcher: Catcher):  # type: ignore[no-untyped-def]
    page = catcher.store.query()
    assert page.total == 1, [parse(m.raw).subject for m in page.messages]
    return page.messages[0]


def test_plain_message_is_stored_exactly_with_its_smtp_facts(catcher: Catcher) -> None:
    message = make_email(subject="Plain", to="Bob <bob@example.org>", Cc="carol@example.org")
    with smtp_client(catcher) as client:
        client.ehlo("client.test")
        client.sendmail(
            "sender@example.com",
            ["bob@example.org", "carol@example.org", "hidden@example.net"],
            message.as_bytes(policy=SMTP),
        )
    stored = only(catcher)
    assert stored.raw == message.as_bytes(policy=SMTP)
    assert stored.envelope.mail_from == "sender@example.com"
    assert stored.envelope.rcpt_tos == (
        "bob@example.org",
        "carol@example.org",
        "hidden@example.net",
    )
    assert stored.delivery.helo == "client.test"
    assert stored.delivery.client_address == "127.0.0.1"
    assert stored.delivery.tls is False
    assert stored.delivery.auth_user is None
    assert stored.received_at.tzinfo is not None
    assert parse(stored.raw).subject == "Plain"
    assert [a.address for a in parse(stored.raw).to] == ["bob@example.org"]
    assert parse(stored.raw).to[0].name == "Bob"


def test_data_reply_says_queued_as_id_and_message_is_readable_at_once(catcher: Catcher) -> None:
    with smtp_client(catcher) as client:
        client.ehlo()
        client.mail("a@example.com")
        client.rcpt("b@example.com")
        code, reply = client.data(make_email(subject="first").as_bytes())
        assert code == 250
        stored = catcher.store.latest()
        assert stored is not None and parse(stored.raw).subject == "first"
        assert reply.decode().endswith(f"queued as {stored.id}")


def test_ehlo_advertises_extensions(catcher: Catcher) -> None:
    with smtp_client(catcher) as client:
        client.ehlo()
        assert client.has_extn("size")
        assert int(client.esmtp_features["size"]) == catcher.settings.max_message_size
        for extension in ("8bitmime", "smtputf8", "pipelining", "starttls"):
            assert client.has_extn(extension), extension
        assert set(client.esmtp_features["auth"].split()) >= {"PLAIN", "LOGIN"}


def test_starttls(catcher: Catcher) -> None:
    with smtp_client(catcher) as client:
        client.starttls(context=tls_client_context())
        client.ehlo()
        assert not client.has_extn("starttls")
        client.send_message(make_email(subject="over tls"))
    stored = only(catcher)
    assert stored.delivery.tls is True
    assert parse(stored.raw).subject == "over tls"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_any_login_is_accepted_and_kept(catcher: Catcher, mechanism: str) -> None:
    with smtp_client(catcher) as client:
        client.ehlo()
        client.user, client.password = "app-user", "whatever"
        code, _ = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        assert code == 235
        client.send_message(make_email())
    assert only(catcher).delivery.auth_user == "app-user"


def test_required_credentials(make_catcher: Callable[..., Catcher]) -> None:
    catcher = make_catcher(smtp_auth=("mailer", "s3cret:with:colons"))
    with smtp_client(catcher) as client:
        client.ehlo()
        with pytest.raises(smtplib_error("SMTPSenderRefused")) as refused:
            client.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\nx\r\n")
        assert refused.value.smtp_code == 530
        with pytest.raises(smtplib_error("SMTPAuthenticationError")) as wrong:
            client.login("mailer", "wrong")
        assert wrong.value.smtp_code == 535
    with smtp_client(catcher) as client:
        client.login("mailer", "s3cret:with:colons")
        client.send_message(make_email(subject="authorised"))
    stored = only(catcher)
    assert stored.delivery.auth_user == "mailer"
    assert parse(stored.raw).subject == "authorised"


def test_require_tls_refuses_mail_on_plain_connection(make_catcher: Callable[..., Catcher]) -> None:
    catcher = make_catcher(require_tls=True)
    with smtp_client(catcher) as client:
        client.ehlo()
        code, _ = client.mail("a@example.com")
        assert code == 530
        client.starttls(context=tls_client_context())
        client.send_message(make_email(subject="secure"))
    assert only(catcher).delivery.tls is True


def test_implicit_tls_port(make_catcher: Callable[..., Catcher]) -> None:
    import smtplib

    catcher = make_catcher(smtps_port=0)
    assert catcher.smtps_address is not None
    host, port = catcher.smtps_address
    with smtplib.SMTP_SSL(host, port, context=tls_client_context(), timeout=30) as client:
        client.ehlo()
        assert not client.has_extn("starttls")
        client.login("anyone", "anything")
        client.send_message(make_email(subject="smtps"))
    stored = only(catcher)
    assert stored.delivery.tls is True
    assert stored.delivery.auth_user == "anyone"


def test_smtputf8_addresses_and_8bit_body(catcher: Catcher) -> None:
    message = EmailMessage()
    message["From"] = "Jörg <jörg@bücher.example>"
    message["To"] = "用户@例子.广告"
    message["Subject"] = "Grüße, 你好"
    message.set_content("Ünïcödé body ✓\n", cte="8bit")
    raw = message.as_bytes(policy=SMTP.clone(utf8=True))
    with smtp_client(catcher) as client:
        client.ehlo()
        client.sendmail("jörg@bücher.example", ["用户@例子.广告"], raw, mail_options=["SMTPUTF8"])
    stored = only(catcher)
    assert stored.raw == raw
    assert stored.envelope.mail_from == "jörg@bücher.example"
    assert stored.envelope.rcpt_tos == ("用户@例子.广告",)
    assert parse(stored.raw).subject == "Grüße, 你好"
    assert parse(stored.raw).text is not None and "Ünïcödé body ✓" in parse(stored.raw).text
    assert parse(stored.raw).sender[0].name == "Jörg"


def test_8bitmime_body(catcher: Catcher) -> None:
    raw = (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: latin\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n"
        b"\r\nCaf\xe9 cr\xe8me\r\n"
    )
    with smtp_client(catcher) as client:
        client.ehlo()
        client.sendmail("a@example.com", ["b@example.com"], raw, mail_options=["BODY=8BITMIME"])
    stored = only(catcher)
    assert stored.raw == raw
    assert parse(stored.raw).text is not None and "Café crème" in parse(stored.raw).text


def test_null_sender(catcher: Catcher) -> None:
    with smtp_client(catcher) as client:
        client.sendmail("<>", ["postmaster@example.com"], b"Subject: bounce\r\n\r\nreturned\r\n")
    stored = only(catcher)
    assert stored.envelope.mail_from == "<>"
    assert parse(stored.raw).subject == "bounce"


def test_hundred_recipients(catcher: Catcher) -> None:
    recipients = [f"user{i}@example{i % 7}.com" for i in range(100)]
    send(catcher, make_email(to="list@example.com"), to_addrs=recipients)
    assert only(catcher).envelope.rcpt_tos == tuple(recipients)


def test_recipient_cap(make_catcher: Callable[..., Catcher]) -> None:
    catcher = make_catcher(max_recipients=3)
    with smtp_client(catcher) as client:
        client.ehlo()
        client.mail("a@example.com")
        assert [client.rcpt(f"r{i}@example.com")[0] for i in range(5)] == [250, 250, 250, 452, 452]
        code, _ = client.data(b"Subject: capped\r\n\r\nx\r\n")
        assert code == 250
    assert only(catcher).envelope.rcpt_tos == ("r0@example.com", "r1@example.com", "r2@example.com")


def test_pipelined_commands(catcher: Catcher) -> None:
    host, port = catcher.smtp_address
    with socket.create_connection((host, port), timeout=30) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220")
        sock.sendall(b"EHLO pipe.test\r\n")
        lines = [reader.readline()]
        while lines[-1][3:4] == b"-":
            lines.append(reader.readline())
        assert b"250-PIPELINING\r\n" in lines
        # MAIL, RCPT, RCPT and DATA in one write, as RFC 2920 allows.
        sock.sendall(
            b"MAIL FROM:<p@example.com>\r\nRCPT TO:<x@example.com>\r\n"
            b"RCPT TO:<y@example.com>\r\nDATA\r\n"
        )
        replies = [reader.readline()[:3] for _ in range(4)]
        assert replies == [b"250", b"250", b"250", b"354"]
        sock.sendall(b"Subject: piped\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n")
        assert reader.readline().startswith(b"250")
        assert reader.readline().startswith(b"221")
    stored = only(catcher)
    assert stored.envelope.rcpt_tos == ("x@example.com", "y@example.com")
    assert stored.raw == b"Subject: piped\r\n\r\n.leading dot\r\n"


def test_oversize_message_is_refused_and_session_goes_on(
    make_catcher: Callable[..., Catcher],
) -> None:
    catcher = make_catcher(max_message_size=64 * 1024)
    big = make_email(subject="too big")
    big.set_content(("y" * 76 + "\n") * 1000)
    with smtp_client(catcher) as client:
        client.ehlo()
        with pytest.raises(smtplib_error("SMTPSenderRefused")) as declared:
            client.sendmail("a@example.com", ["b@example.com"], big.as_bytes(policy=SMTP))
        assert declared.value.smtp_code == 552  # refused at MAIL by SIZE=
        client.rset()
        # Without SIZE= the cap is found while reading DATA.
        client.mail("a@example.com")
        client.rcpt("b@example.com")
        code, _ = client.data(big.as_bytes(policy=SMTP))
        assert code == 552
        client.send_message(make_email(subject="small"))
    stored = only(catcher)
    assert parse(stored.raw).subject == "small"


def test_several_messages_in_one_session(catcher: Catcher) -> None:
    with smtp_client(catcher) as client:
        for i in range(5):
            client.send_message(make_email(subject=f"msg {i}"))
    page = catcher.store.query()
    assert [parse(m.raw).subject for m in page.messages] == [f"msg {i}" for i in reversed(range(5))]
    ids = [m.id for m in page.messages]
    assert ids == sorted(ids, reverse=True)


def test_long_lines_and_bare_line_ends_are_kept(catcher: Catcher) -> None:
    long_line = b"<p>" + b"w" * 5000 + b"</p>"
    raw = b"Subject: long\r\nContent-Type: text/html\r\n\r\n" + long_line + b"\r\nbare\nlf\rcr\r\n"
    with smtp_client(catcher) as client:
        client.sendmail("a@example.com", ["b@example.com"], raw)
    stored = only(catcher)
    assert stored.raw == raw
    assert parse(stored.raw).html is not None and long_line.decode() in parse(stored.raw).html


def test_bare_lf_from_a_raw_client_is_kept_byte_for_byte(catcher: Catcher) -> None:
    host, port = catcher.smtp_address
    with socket.create_connection((host, port), timeout=30) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        for command in (b"HELO raw\r\n", b"MAIL FROM:<a@x>\r\n", b"RCPT TO:<b@x>\r\n", b"DATA\r\n"):
            sock.sendall(command)
            reader.readline()
        sock.sendall(b"Subject: lf\nX-Bare: yes\n\nbody\n.\n\r\n.\r\n")
        assert reader.readline().startswith(b"250")
    # Only CRLF.CRLF ends the data: taking "\n.\n" as the end would allow SMTP smuggling.
    assert only(catcher).raw == b"Subject: lf\nX-Bare: yes\n\nbody\n.\n\r\n"


def test_command_line_cap(make_catcher: Callable[..., Catcher]) -> None:
    catcher = make_catcher(max_command_length=600)
    with smtp_client(catcher) as client:
        client.ehlo()
        code, reply = client.docmd("MAIL FROM:<" + "a" * 700 + "@example.com>")
        assert code == 500 and b"too long" in reply
        code, _ = client.mail("short@example.com")
        assert code == 250


def test_concurrent_senders_lose_and_duplicate_nothing(
    make_catcher: Callable[..., Catcher],
) -> None:
    catcher = make_catcher(max_messages=0)
    senders, per_sender = 50, 20
    barrier = threading.Barrier(senders)

    def run(sender: int) -> None:
        barrier.wait()
        with smtp_client(catcher) as client:
            for n in range(per_sender):
                client.send_message(make_email(subject=f"s{sender}-m{n}", body=f"{sender}/{n}\n"))

    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(run, range(senders)))
    page = catcher.store.query(limit=10_000)
    subjects = [parse(m.raw).subject for m in page.messages]
    assert page.total == senders * per_sender
    assert sorted(subjects) == sorted(
        f"s{s}-m{n}" for s in range(senders) for n in range(per_sender)
    )
    assert len({m.id for m in page.messages}) == senders * per_sender
    assert catcher.status().smtp_accepted == senders * per_sender


def test_ipv6_loopback(make_catcher: Callable[..., Catcher]) -> None:
    if not socket.has_ipv6:
        pytest.skip("this machine has no IPv6")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("::1 is not configured on this machine")
    catcher = make_catcher(smtp_host="::1", http_host="::1")
    assert catcher.smtp_address[0] == "::1"
    send(catcher, make_email(subject="v6"))
    stored = only(catcher)
    assert stored.delivery.client_address == "::1"
    assert catcher.url.startswith("http://[::1]:")


def test_raw_base64_auth_exchange(catcher: Catcher) -> None:
    host, port = catcher.smtp_address
    with socket.create_connection((host, port), timeout=30) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        sock.sendall(b"EHLO raw\r\n")
        while reader.readline()[3:4] == b"-":
            pass
        token = base64.b64encode(b"\0someone\0pw")
        sock.sendall(b"AUTH PLAIN " + token + b"\r\n")
        assert reader.readline().startswith(b"235")


def smtplib_error(name: str) -> type[Exception]:
    import smtplib

    error: type[Exception] = getattr(smtplib, name)
    return error


@pytest.mark.parametrize(
    ("fragments", "stored"),
    [
        # A lone dot after CRLF ends the data even when it arrives in its own write.
        ([b"Subject: a\r\n\r\nbody\r\n", b".", b"\r\n"], b"Subject: a\r\n\r\nbody\r\n"),
        ([b"Subject: b\r\n\r\nbody\r", b"\n.\r", b"\n"], b"Subject: b\r\n\r\nbody\r\n"),
        # Dots at the end of lines, stuffed dots and a stuffed lone dot.
        (
            [b"Subject: c\r\n\r\nend.\r\n..start\r\n..\r\nx.\r\n.\r\n"],
            b"Subject: c\r\n\r\nend.\r\n.start\r\n.\r\nx.\r\n",
        ),
        # An empty message, and one whose first line is stuffed.
        ([b".\r\n"], b""),
        ([b"..x\r\n.\r\n"], b".x\r\n"),
        # LF.CRLF and CR.CRLF are not the end: only CRLF.CRLF is.
        (
            [b"Subject: d\r\n\r\na\n.\r\nb\r.\r\n\r\n.\r\n"],
            b"Subject: d\r\n\r\na\n.\r\nb\r.\r\n\r\n",
        ),
    ],
)
def test_data_end_and_dot_unstuffing_across_writes(
    catcher: Catcher, fragments: list[bytes], stored: bytes
) -> None:
    host, port = catcher.smtp_address
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        reader.readline()
        for command in (b"HELO raw\r\n", b"MAIL FROM:<a@x>\r\n", b"RCPT TO:<b@x>\r\n", b"DATA\r\n"):
            sock.sendall(command)
            reader.readline()
        for fragment in fragments:
            sock.sendall(fragment)
        assert reader.readline().startswith(b"250")
        sock.sendall(b"NOOP\r\n")
        assert reader.readline().startswith(b"250")
    assert only(catcher).raw == stored


def test_unusual_addresses_take_the_full_parser(catcher: Catcher) -> None:
    with smtp_client(catcher) as client:
        client.ehlo()
        for sender in ('"quoted local"@example.com', "plain@example.com"):
            client.mail(sender)
            assert client.rcpt("<user+tag@sub.example.org>")[0] == 250
            assert client.rcpt("bare@example.net")[0] == 250
            assert client.data(b"Subject: addr\r\n\r\nx\r\n")[0] == 250
    envelopes = [m.envelope for m in reversed(catcher.store.query().messages)]
    assert [e.mail_from for e in envelopes] == ['"quoted local"@example.com', "plain@example.com"]
    assert envelopes[0].rcpt_tos == ("user+tag@sub.example.org", "bare@example.net")


def test_stats_count_each_session_once_even_across_starttls(
    make_catcher: Callable[..., Catcher],
) -> None:
    catcher = make_catcher()
    with smtp_client(catcher) as client:
        client.ehlo()
        # STARTTLS makes aiosmtpd call connection_made a second time on the same session.
        client.starttls(context=tls_client_context())
        client.ehlo()
        assert client.rcpt("b@example.com")[0] == 503
        assert client.docmd("NOSUCH")[0] == 500
        client.send_message(make_email(subject="counted"))
    with smtp_client(catcher) as client:
        assert client.mail("a@example.com")[0] == 503  # no HELO yet
    status = catcher.status()
    counts = (status.smtp_connections, status.smtp_rejected, status.smtp_accepted)
    assert counts == (2, 3, 1)


@pytest.mark.parametrize("greeting", ["HELO", "EHLO"])
def test_command_line_cap_is_catchers_own_after_helo_and_ehlo(
    make_catcher: Callable[..., Catcher], greeting: str
) -> None:
    # aiosmtpd's own caps are 512 (548 for MAIL after EHLO) and, through its stream limit,
    # 1001; catcher's is its setting (plus 36 for MAIL after EHLO), held per session
    # rather than in aiosmtpd's class-wide dict.
    catcher = make_catcher(max_command_length=2000)
    with smtp_client(catcher) as client:
        assert client.docmd(greeting, "client.test")[0] == 250
        assert client.docmd("MAIL FROM:<" + "a" * 1970 + "@example.com>")[0] == 250
        client.rset()
        assert client.docmd("MAIL FROM:<" + "a" * 2100 + "@example.com>")[0] == 500


@pytest.mark.parametrize("event_loop", ["asyncio", "auto"])
def test_stop_tells_open_sessions_and_closes_them(
    make_catcher: Callable[..., Catcher], event_loop: str
) -> None:
    # uvloop closes a closed loop's connections itself; asyncio leaves them open.
    catcher = make_catcher(event_loop=event_loop)
    with socket.create_connection(catcher.smtp_address, timeout=10) as sock:
        with sock.makefile("rb") as replies:
            assert replies.readline().startswith(b"220")
            sock.sendall(b"EHLO idle.test\r\n")
            while replies.readline()[3:4] == b"-":
                pass
            catcher.stop()
            # Told why (RFC 5321 3.8), then closed by the server, not left to time out.
            assert replies.read() == b"421 4.3.2 catcher Shutting down, try again later\r\n"


def test_a_stop_waits_for_a_message_being_received_not_for_its_connection(
    make_catcher: Callable[..., Catcher],
) -> None:
    catcher = make_catcher()
    with socket.create_connection(catcher.smtp_address, timeout=10) as sock:
        with sock.makefile("rb") as replies:
            assert replies.readline().startswith(b"220")
            sock.sendall(b"HELO c.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n")
            for expected in (b"250", b"250", b"250", b"354"):
                assert replies.readline().startswith(expected)
            sock.sendall(b"Subject: in flight\r\n\r\nhalf")
            assert catcher.close() == 1  # one message being received: it may finish
            sock.sendall(b" and the rest\r\n.\r\n")
            assert replies.readline().startswith(b"250 2.0.0 OK queued as")
            # The client keeps its connection open; the stop does not wait for it to go.
            stopping = threading.Thread(target=catcher.stop, kwargs={"grace": 30})
            stopping.start()
            assert replies.readline() == b"421 4.3.2 catcher Shutting down, try again later\r\n"
            stopping.join(timeout=20)
            assert not stopping.is_alive()
    assert [m.raw for m in catcher.store.query().messages] == [
        b"Subject: in flight\r\n\r\nhalf and the rest\r\n"
    ]


def test_help_lists_every_command_data_included(catcher: Catcher) -> None:
    with smtp_client(catcher) as client:
        code, text = client.docmd("HELP")
        assert code == 250
        assert set(text.decode().split(":", 1)[1].split()) >= {"DATA", "EHLO", "MAIL", "RCPT"}
        assert client.docmd("HELP DATA") == (250, b"Syntax: DATA")
