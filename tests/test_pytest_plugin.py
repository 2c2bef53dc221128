"""The pytest plugin, used as users use it: pytest run on generated test files (pytester).

The runs made here load only the plugins they use (``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` and
``-p``): autoloading every installed plugin (schemathesis, hypothesis, anyio) costs seconds
per run, each xdist worker again. ``test_the_entry_point_loads_the_plugin_and_starts_nothing``
lets pytest find catcher through its ``pytest11`` entry point, as users get it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from catcher.server import Catcher

pytest_plugins = ["pytester"]

DOCS = Path(__file__).resolve().parents[1] / "docs" / "testing.md"

# A helper the generated tests share: it sends like an application would, over SMTP.
SENDER = """
import smtplib
from email.message import EmailMessage


def send(mailbox, to="ada@example.com", subject="Welcome", text="Hello.\\n", html=None,
         attachments=(), **headers):
    message = EmailMessage()
    message["From"] = "Shop <noreply@shop.test>"
    message["To"] = to
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for filename, ctype, content in attachments:
        maintype, subtype = ctype.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    with smtplib.SMTP(mailbox.smtp_host, mailbox.smtp_port, timeout=30) as smtp:
        smtp.send_message(message)
"""


# What every run here is given: the plugin, explicitly (autoloading is off), and no cache.
PLUGIN = ("-p", "catcher.pytest_plugin", "-p", "no:cacheprovider")
# pytest-xdist, also explicitly, with two workers.
XDIST = ("-p", "xdist.plugin", "-n", "2")


@pytest.fixture(autouse=True)
def inner_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs made here are not xdist workers, even when this suite runs under xdist, and
    load only the plugins they name."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture
def project(pytester: pytest.Pytester, shared_catcher: Catcher) -> pytest.Pytester:
    """A pytester project with the ``send`` helper importable as ``sender``.

    In-process runs forget the modules they imported; cryptography's compiled core cannot
    be imported a second time, so the server stack is loaded out here first, by starting
    the suite's own catcher.
    """
    pytester.makepyfile(sender=SENDER)
    pytester.syspathinsert()
    return pytester


def docs_block(first_line: str) -> str:
    """The fenced code block in docs/testing.md that starts with ``first_line``."""
    blocks = re.findall(r"```\w*\n(.*?)```", DOCS.read_text(), re.DOTALL)
    found = [b for b in blocks if b.startswith(first_line)]
    assert len(found) == 1, f"docs/testing.md: one block starting {first_line!r} expected"
    return found[0]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CATCHER_"))}
    env.pop("CI", None)
    return env


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in this process (fast; the server stack is already imported)."""
    return pytester.runpytest_inprocess(*PLUGIN, *args)


def run_subprocess(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in a fresh interpreter: for xdist, Django, imports and standard input."""
    return pytester.runpytest_subprocess(*PLUGIN, *args)


# -- the documented example ------------------------------------------------------------------


def test_docs_pytest_example_runs(project: pytest.Pytester) -> None:
    project.makepyfile(test_signup=docs_block("# test_signup.py"))
    result = run(project)
    result.assert_outcomes(passed=1)


def test_readme_pytest_example_runs(project: pytest.Pytester) -> None:
    readme = DOCS.parents[1] / "README.md"
    blocks = re.findall(r"```python\n(# (test_\w+)\.py\n.*?)```", readme.read_text(), re.DOTALL)
    assert blocks, "README.md has no pytest example (a ```python block starting '# test_x.py')"
    for source, name in blocks:
        project.makepyfile(**{name: source})
    result = run(project)
    result.assert_outcomes(passed=len(blocks))


def test_docs_fault_example_runs(project: pytest.Pytester) -> None:
    project.makepyfile(test_retry=docs_block("# test_retry.py"))
    run(project).assert_outcomes(passed=2)


def test_docs_lint_example_runs(project: pytest.Pytester) -> None:
    project.makepyfile(test_receipt_template=docs_block("# test_receipt_template.py"))
    run(project).assert_outcomes(passed=2)


def test_docs_django_example_runs(pytester: pytest.Pytester) -> None:
    pytest.importorskip("django")
    conftest = docs_block("# conftest.py")
    # What a Django project's settings module (or pytest-django) would have done.
    setup = textwrap.dedent(
        """
        import django
        from django.conf import settings

        settings.configure(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
        django.setup()
        """
    )
    pytester.makeconftest(setup + conftest)
    pytester.makepyfile(test_password_reset=docs_block("# test_password_reset.py"))
    result = run_subprocess(pytester)
    result.assert_outcomes(passed=1)


# -- fixtures and messages ----------------------------------------------------------------------


def test_messages_addresses_bodies_headers_and_attachments(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        from sender import send

        def test_message(mailbox):
            assert mailbox.messages == [] and len(mailbox) == 0
            send(mailbox, to="Ada <ada@example.com>", subject="Your invoice", Cc="bo@example.com",
                 Reply_To="help@shop.test", X_Tag="billing", text="Invoice attached.\\n",
                 html="<p>Invoice <b>attached</b></p>",
                 attachments=[("invoice.pdf", "application/pdf", b"%PDF-1.4 fake"),
                              ("data.bin", "application/octet-stream", bytes(range(256)))])
            [email] = mailbox.messages
            assert email.sender == "noreply@shop.test"
            assert email.to == ("ada@example.com",)
            assert email.cc == ("bo@example.com",)
            assert email.reply_to == ("help@shop.test",)
            assert set(email.recipients) == {"ada@example.com", "bo@example.com"}
            assert email.mail_from == "noreply@shop.test"
            assert email.subject == "Your invoice"
            # (rstrip: the parser keeps the line break that belongs to the MIME boundary)
            assert email.text.rstrip("\\n") == "Invoice attached."
            assert email.html.rstrip("\\n") == "<p>Invoice <b>attached</b></p>"
            assert "\\r" not in email.text + email.html  # line ends as in Python strings
            assert email.headers["x-tag"] == "billing"
            assert email.headers["SUBJECT"] == "Your invoice"
            assert "X-Tag" in email.headers and "X-Nope" not in email.headers
            assert email.headers.get_all("x-tag") == ["billing"]
            assert [(a.filename, a.content_type, a.content) for a in email.attachments] == [
                ("invoice.pdf", "application/pdf", b"%PDF-1.4 fake"),
                ("data.bin", "application/octet-stream", bytes(range(256))),
            ]
            assert email.raw.startswith(b"From: Shop <noreply@shop.test>")
            assert repr(email) == (
                f"<Email #{email.id} from noreply@shop.test to ada@example.com, bo@example.com"
                " 'Your invoice'>"
            )

        def test_no_html(mailbox):
            send(mailbox)
            [email] = mailbox.messages
            assert email.html == "" and email.attachments == () and email.cc == ()
        """
    )
    run(project).assert_outcomes(passed=2)


def test_each_test_starts_with_an_empty_mailbox(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest
        from sender import send

        @pytest.fixture
        def signed_up(catcher_server):
            # A fixture set up before ``mailbox`` that sends mail: its mail counts.
            class Box:
                smtp_host, smtp_port = catcher_server.smtp_address
            send(Box, subject="from a fixture")

        @pytest.mark.parametrize("n", [1, 2, 3])
        def test_isolated(signed_up, mailbox, n):
            for i in range(n):
                send(mailbox, subject=f"message {i}")
            assert [e.subject for e in mailbox.messages] == (
                ["from a fixture"] + [f"message {i}" for i in range(n)]
            )
        """
    )
    run(project).assert_outcomes(passed=3)


def test_links_and_codes(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest
        from catcher.testing import MailAssertionError
        from sender import send

        HTML = '''<html><head><title>https://title.example/</title></head><body>
        <p>Your code: <b>739164</b></p>
        <a href="https://shop.test/confirm?t=abc&amp;u=1">Confirm</a>
        <a href=" https://shop.test/help ">Help</a> <a href="#top">top</a>
        <a href="mailto:help@shop.test">mail us</a> <a href="cid:logo">x</a>
        <a href="https://shop.test/confirm?t=abc&amp;u=1">again</a></body></html>'''
        TEXT = (
            "Confirm at https://shop.test/confirm?t=abc&u=1.\\n"
            "Docs (https://en.wikipedia.org/wiki/Foo_(bar)), or https://shop.test/unsubscribe!\\n"
        )

        def test_links(mailbox):
            send(mailbox, text=TEXT, html=HTML)
            email = mailbox.wait_for()
            assert email.links == (
                "https://shop.test/confirm?t=abc&u=1",
                "https://shop.test/help",
                "mailto:help@shop.test",
                "https://en.wikipedia.org/wiki/Foo_(bar)",
                "https://shop.test/unsubscribe",
            )
            assert email.link() == "https://shop.test/confirm?t=abc&u=1"
            assert email.link("UNSUBSCRIBE") == "https://shop.test/unsubscribe"
            assert email.link(pattern=r"wiki/\\w+") == "https://en.wikipedia.org/wiki/Foo_(bar)"
            with pytest.raises(MailAssertionError, match="no link containing 'reset'") as info:
                email.link("reset")
            assert "  https://shop.test/help" in str(info.value)

        def test_code_from_text(mailbox):
            send(mailbox, text="Hi,\\nyour sign-in code is 0421.\\nValid until 2099.\\n")
            email = mailbox.wait_for()
            assert email.code() == "0421"
            assert email.code(r"until (\\d+)") == "2099"
            with pytest.raises(MailAssertionError, match=r"no match for /PIN-\\\\d\\+/"):
                email.code(r"PIN-\\d+")

        def test_code_from_html_only(mailbox):
            # A text part without the code: the HTML's visible text is searched next,
            # and markup (the 123456 in the style) is not text.
            send(mailbox, text="See the HTML part.\\n",
                 html="<style>.c123456 {}</style><p>Code: <b>5819</b>22</p>")
            assert mailbox.wait_for().code() == "581922"
        """
    )
    run(project).assert_outcomes(passed=3)


def test_wait_for_walks_through_arrivals(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import threading
        from sender import send

        def test_waits_return_successive_messages(mailbox):
            send(mailbox, to="ada@example.com", subject="first")
            # Sent from another thread while the test waits, as a background job would.
            later = threading.Thread(target=lambda: [
                send(mailbox, to="bob@example.com", subject="second"),
                send(mailbox, to="ada@example.com", subject="third"),
            ])
            later.start()
            try:
                assert mailbox.wait_for(to="bob", timeout=10).subject == "second"
                assert mailbox.wait_for(to="ada", timeout=10).subject == "first"
                assert mailbox.wait_for(to="ada", timeout=10).subject == "third"
            finally:
                later.join()

        def test_returned_messages_are_not_returned_again(mailbox):
            send(mailbox, subject="only one")
            assert mailbox.wait_for(subject="only").subject == "only one"
            try:
                mailbox.wait_for(subject="only", timeout=0.2)
            except AssertionError as error:
                assert "1 message matched but was already returned" in str(error)
            else:
                raise AssertionError("the second wait returned the same message")

        def test_assert_sent_waits_for_background_mail(mailbox):
            worker = threading.Thread(
                target=lambda: [send(mailbox, subject=f"bulk {i}") for i in range(3)]
            )
            worker.start()
            try:
                first = mailbox.assert_sent(subject="bulk", count=3, timeout=10)
            finally:
                worker.join()
            assert first.subject == "bulk 0"
        """
    )
    run(project).assert_outcomes(passed=3)


def test_assert_sent_and_not_sent(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest
        from sender import send

        def test_pass(mailbox):
            mailbox.assert_not_sent()
            send(mailbox, to="ada@example.com", subject="Receipt #1", text="Thanks for order 77")
            send(mailbox, to="ada@example.com", subject="Receipt #2")
            email = mailbox.assert_sent(to="ADA@example.com", subject="receipt")
            assert email.subject == "Receipt #1"
            mailbox.assert_sent(to="ada", count=2)
            mailbox.assert_sent(text="order 77", sender="shop.test")
            mailbox.assert_not_sent(to="bob@example.com")
            assert [e.subject for e in mailbox.filter(subject="#2")] == ["Receipt #2"]
            with pytest.raises(ValueError, match="assert_not_sent"):
                mailbox.assert_sent(count=0)
        """
    )
    run(project).assert_outcomes(passed=1)


def test_settings_helpers(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import smtplib

        def test_helpers(mailbox, catcher_server):
            assert (mailbox.smtp_host, mailbox.smtp_port) == catcher_server.smtp_address
            assert mailbox.smtp_host == "127.0.0.1" and mailbox.smtp_port > 0
            assert mailbox.smtp_url == f"smtp://127.0.0.1:{mailbox.smtp_port}"
            assert mailbox.url == catcher_server.url
            assert mailbox.django_settings == {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": mailbox.smtp_port,
                "EMAIL_HOST_USER": "",
                "EMAIL_HOST_PASSWORD": "",
                "EMAIL_USE_TLS": False,
                "EMAIL_USE_SSL": False,
            }
            flask = mailbox.flask_mail_config
            assert (flask["MAIL_SERVER"], flask["MAIL_PORT"]) == ("127.0.0.1", mailbox.smtp_port)
            assert flask["MAIL_SUPPRESS_SEND"] is False and flask["MAIL_USE_TLS"] is False
            with smtplib.SMTP(flask["MAIL_SERVER"], flask["MAIL_PORT"]) as smtp:
                smtp.sendmail("a@x.test", ["b@x.test"], b"Subject: via flask\\r\\n\\r\\nhi\\r\\n")
            assert mailbox.assert_sent(subject="via flask").recipients == ("b@x.test",)
        """
    )
    run(project).assert_outcomes(passed=1)


def test_catcher_settings_can_be_overridden(project: pytest.Pytester) -> None:
    project.makeconftest(
        """
        import dataclasses
        import pytest

        @pytest.fixture(scope="session")
        def catcher_settings(catcher_settings):
            return dataclasses.replace(catcher_settings, smtp_auth=("app", "s3cret"))
        """
    )
    project.makepyfile(
        """
        import smtplib

        def test_login_required(mailbox):
            with smtplib.SMTP(mailbox.smtp_host, mailbox.smtp_port) as smtp:
                try:
                    smtp.login("app", "wrong")
                except smtplib.SMTPAuthenticationError:
                    pass
                else:
                    raise AssertionError("a wrong login was accepted")
                smtp.login("app", "s3cret")
                smtp.sendmail("a@x.test", ["b@x.test"], b"Subject: authed\\r\\n\\r\\nhi\\r\\n")
            mailbox.assert_sent(subject="authed")
        """
    )
    run(project).assert_outcomes(passed=1)


# -- failure output -------------------------------------------------------------------------------


def test_wait_for_timeout_says_what_is_in_the_mailbox(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_signup="""
        from sender import send

        def test_welcome(mailbox):
            send(mailbox, to="ada@example.com", subject="Welcome")
            send(mailbox, to="cy@example.com", subject="Your receipt")
            mailbox.wait_for(to="bob@example.com", subject="Welcome", timeout=0.2)
        """
    )
    result = run(project)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>*mailbox.wait_for(to="bob@example.com", subject="Welcome", timeout=0.2)',
            "E*MailTimeout: no message to='bob@example.com', subject='Welcome' arrived within 0.2 s",  # noqa: E501
            "E*the mailbox holds 2 messages:",
            "E*#* from noreply@shop.test to ada@example.com 'Welcome'",
            "E*#* from noreply@shop.test to cy@example.com 'Your receipt'",
            "test_signup.py:6: MailTimeout",
        ]
    )
    # The traceback stops at the test: catcher's own frames are hidden.
    assert "catcher/testing.py" not in result.stdout.str()
    # The error already lists the mailbox, so no "Captured mail" section repeats it.
    assert "Captured mail" not in result.stdout.str()


def test_assert_failures_are_readable(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        from sender import send

        def test_sent_none(mailbox):
            mailbox.assert_sent(to="ada@example.com")

        def test_sent_wrong_count(mailbox):
            send(mailbox, subject="Receipt")
            send(mailbox, subject="Receipt again")
            mailbox.assert_sent(subject="receipt", count=1)

        def test_not_sent(mailbox):
            send(mailbox, to="bob@example.com", subject="Secret")
            mailbox.assert_not_sent(to="bob")
        """
    )
    result = run(project)
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "E*MailAssertionError: expected a message to='ada@example.com', but none was sent",
            "E*the mailbox is empty",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E*MailAssertionError: expected 1 message subject='receipt', but 2 matched",
            "E*the matches:",
            "E*#* from noreply@shop.test to ada@example.com 'Receipt'",
            "E*#* from noreply@shop.test to ada@example.com 'Receipt again'",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E*MailAssertionError: expected no message to='bob', but 1 message was sent:",
            "E*#* from noreply@shop.test to bob@example.com 'Secret'",
        ]
    )


def test_a_failing_test_shows_its_mail(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        from sender import send

        def test_wrong_text(mailbox):
            send(mailbox, subject="Welcome", text="Hello Ada")
            assert "Hello Bob" in mailbox.messages[0].text

        def test_passes(mailbox):
            send(mailbox, subject="Not shown")
        """
    )
    result = run(project)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured mail -*",
            "the mailbox holds 1 message:",
            "  #* from noreply@shop.test to ada@example.com 'Welcome'",
        ]
    )
    assert "Not shown" not in result.stdout.str()


# -- lightness, xdist, options ---------------------------------------------------------------------


def test_importing_the_plugin_imports_no_server() -> None:
    code = (
        "import sys, catcher.pytest_plugin\n"
        "heavy = ('flask', 'aiosmtpd', 'h11', 'catcher.server')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=clean_env())


def test_the_entry_point_loads_the_plugin_and_starts_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Autoloading on, as for users; only other distributions' plugins are turned off, so
    # what is imported is catcher's doing (and the run is not seconds slower).
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    others = [
        ("-p", f"no:{entry.name}")
        for entry in importlib.metadata.entry_points(group="pytest11")
        if entry.dist is None or entry.dist.name != "catcher"
    ]
    pytester.makepyfile(
        """
        import sys, threading

        def test_plain(pytestconfig):
            # Registered under its pytest11 entry point's name, not loaded by -p.
            plugin = pytestconfig.pluginmanager.get_plugin("catcher")
            assert plugin is sys.modules["catcher.pytest_plugin"], plugin
            # Loaded, but nothing started.
            assert not [m for m in ("flask", "aiosmtpd", "h11") if m in sys.modules]
            assert not [t.name for t in threading.enumerate() if t.name.startswith("catcher")]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *sum(others, ()))
    result.assert_outcomes(passed=1)


def test_each_xdist_worker_has_its_own_catcher(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    out = project.path / "ports"
    out.mkdir()
    project.makepyfile(
        f"""
        import os
        import pytest
        from pathlib import Path
        from sender import send

        @pytest.mark.parametrize("n", range(8))
        def test_send(mailbox, n):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            send(mailbox, to=f"user{{n}}@example.com", subject=f"test {{n}}")
            mailbox.wait_for(to=f"user{{n}}@example.com", timeout=10)
            assert [e.subject for e in mailbox.messages] == [f"test {{n}}"]
            line = f"{{worker}} {{mailbox.smtp_port}} {{mailbox.url}}"
            Path({str(out)!r}, str(n)).write_text(line)
        """
    )
    result = run_subprocess(project, *XDIST)
    result.assert_outcomes(passed=8)
    seen = {}
    for path in out.iterdir():
        worker, port, url = path.read_text().split()
        seen.setdefault(worker, set()).add((port, url))
    assert len(seen) == 2, seen
    # One catcher per worker: each worker saw one address, and no two workers shared one.
    assert all(len(addresses) == 1 for addresses in seen.values()), seen
    assert len(set.union(*seen.values())) == 2, seen


def test_fixed_ports_from_ini(project: pytest.Pytester) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    project.makeini(f"[pytest]\ncatcher_smtp_port = {free}\n")
    project.makepyfile(
        f"""
        def test_port(mailbox):
            assert mailbox.smtp_port == {free}
        """
    )
    run(project).assert_outcomes(passed=1)


def test_bad_or_shared_ports_are_refused(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\ncatcher_http_port = web\n")
    project.makepyfile("def test_port(mailbox):\n    pass\n")
    result = run(project)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*catcher_http_port: expected a port number from 0 to 65535, got 'web'*"]
    )

    pytest.importorskip("xdist")
    project.makeini("[pytest]\ncatcher_smtp_port = 2525\n")
    result = run_subprocess(project, *XDIST)
    result.stdout.fnmatch_lines(
        ["*catcher_smtp_port = 2525 cannot be shared by 2 pytest-xdist workers*"]
    )
    assert result.ret != 0


# -- keeping the catcher for a look -------------------------------------------------------------

FAILING = """
from sender import send

def test_fails(mailbox):
    send(mailbox, subject="Look at me")
    assert False, "failed on purpose"

def test_after(mailbox):
    assert len(mailbox) == 0
"""


def test_keep_on_failure_never_waits_without_a_terminal(project: pytest.Pytester) -> None:
    project.makepyfile(test_keep=FAILING)
    result = run_subprocess(project, "--catcher-keep-on-failure")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "catcher: test_keep.py::test_fails failed; its mail (1) is at http://127.0.0.1:*",
            "catcher: not waiting, standard input is not a terminal",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*- Captured mail -*", "*'Look at me'", "inbox: http://127.0.0.1:*"]
    )


def test_keep_on_failure_under_xdist_says_why_not(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    project.makepyfile(test_keep=FAILING)
    result = run_subprocess(project, *XDIST, "--catcher-keep-on-failure")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        ["inbox: http://127.0.0.1:* (not kept: an xdist worker cannot wait*"]
    )


def test_keep_on_failure_serves_the_failed_tests_mail_until_enter(project: pytest.Pytester) -> None:
    project.makepyfile(test_keep=FAILING)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *PLUGIN, "--catcher-keep-on-failure"],
        cwd=project.path,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={
            **clean_env(),
            "PYTHONPATH": str(project.path),
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        },
    )
    os.close(terminal)
    output = b""
    try:
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while b"press Enter" not in output:
            ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
            chunk = os.read(process.stdout.fileno(), 65536) if ready else b""
            assert chunk, f"pytest ended or stalled before waiting:\n{output.decode()}"
            output += chunk
        url = re.search(rb"is at (http://\S+)", output)
        assert url is not None, output.decode()
        # The catcher is still up, holding the failed test's message.
        with urllib.request.urlopen(url.group(1).decode() + "/api/messages", timeout=10) as reply:
            listed = json.load(reply)
        assert [m["subject"] for m in listed["messages"]] == ["Look at me"]
        os.write(controller, b"\n")
        rest, _ = process.communicate(timeout=60)
        output += rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    text = output.decode()
    assert process.returncode == 1, text
    assert "1 failed, 1 passed" in text, text


# -- failures on purpose ----------------------------------------------------------------------

# A message as an app builds it, for the runs that send their own (module ``mailer``).
MAILER = """
from email.message import EmailMessage

def mail(subject, to):
    message = EmailMessage()
    message["From"] = "app@shop.test"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("hello")
    return message
"""

FAULT_TESTS = """
import smtplib
import pytest
from mailer import mail

def send(mailbox, subject, to):
    with smtplib.SMTP(mailbox.smtp_host, mailbox.smtp_port) as smtp:
        if mailbox.smtp_user:
            smtp.login(mailbox.smtp_user, mailbox.smtp_password)
        smtp.send_message(mail(subject, to))

@pytest.mark.parametrize("n", range(4))
def test_a_retry_after_451(mailbox, n):
    to = mailbox.address("ada")
    with mailbox.fault("rcpt", to=to, reply="451 4.3.0 Try later", times=1) as rule:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            send(mailbox, f"first {n}", to)
        assert refused.value.recipients[to] == (451, b"4.3.0 Try later")
        send(mailbox, f"second {n}", to)
        assert rule.fired == 1
    mailbox.assert_sent(subject=f"second {n}", count=1)

@pytest.mark.parametrize("n", range(4))
def test_a_rule_left_on_is_gone_after_the_test(mailbox, n):
    mailbox.fault("data", reply="554 5.6.0 Rejected")
    with pytest.raises(smtplib.SMTPDataError):
        send(mailbox, f"refused {n}", mailbox.address("bob"))
    mailbox.assert_not_sent()
"""


def test_mailbox_fault_in_process(project: pytest.Pytester) -> None:
    project.makepyfile(mailer=MAILER, test_faults=FAULT_TESTS)
    run(project).assert_outcomes(passed=8)


def test_mailbox_fault_on_a_shared_catcher(
    project: pytest.Pytester, make_catcher: Callable[..., Catcher]
) -> None:
    pytest.importorskip("xdist")
    shared = make_catcher(max_messages=0)
    project.makepyfile(mailer=MAILER, test_faults=FAULT_TESTS)
    result = run_subprocess(project, *XDIST, f"--catcher-url={shared.url}")
    result.assert_outcomes(passed=8)
    # Each test's rules, scoped to its own mailbox, left with it.
    assert len(shared.faults) == 0 and shared.faults.fired == 8


# -- a shared catcher ------------------------------------------------------------------------


def test_shared_server_mode_isolates_tests_under_xdist(
    project: pytest.Pytester, make_catcher: Callable[..., Catcher]
) -> None:
    pytest.importorskip("xdist")
    shared = make_catcher(max_messages=0)
    project.makepyfile(
        mailer=MAILER,
        test_shared="""
        import smtplib
        import pytest
        from mailer import mail

        @pytest.mark.parametrize("n", range(12))
        def test_by_login(mailbox, n):
            assert mailbox.name and mailbox.smtp_user and mailbox.smtp_password
            with smtplib.SMTP(mailbox.smtp_host, mailbox.smtp_port) as smtp:
                smtp.login(mailbox.smtp_user, mailbox.smtp_password)
                smtp.send_message(mail(f"login {n}", "ada@example.com"))
            assert mailbox.wait_for(to="ada@example.com", timeout=20).subject == f"login {n}"
            mailbox.assert_sent(count=1)
            assert [e.subject for e in mailbox.messages] == [f"login {n}"]
            assert mailbox.django_settings["EMAIL_HOST_USER"] == mailbox.smtp_user

        @pytest.mark.parametrize("n", range(12))
        def test_by_address(mailbox, n):
            with smtplib.SMTP(mailbox.smtp_host, mailbox.smtp_port) as smtp:
                smtp.send_message(mail(f"tag {n}", mailbox.address("bob")))
            mailbox.assert_sent(subject=f"tag {n}", timeout=20)
            mailbox.assert_not_sent(subject="login")
            assert len(mailbox) == 1
        """,
    )
    result = run_subprocess(project, "-p", "xdist.plugin", "-n", "4", f"--catcher-url={shared.url}")
    result.assert_outcomes(passed=24)
    # Every test's mailbox was deleted after it, with its mail.
    assert shared.store.mailboxes() == []
    assert len(shared.store) == 0
    assert shared.store.stats().received == 24


def test_docs_shared_example_runs(
    project: pytest.Pytester, make_catcher: Callable[..., Catcher]
) -> None:
    shared = make_catcher()
    project.makepyfile(test_shared=docs_block("# test_shared.py"))
    result = run_subprocess(project, *XDIST, f"--catcher-url={shared.url}")
    result.assert_outcomes(passed=1)
    assert shared.store.stats().received == 1 and shared.store.mailboxes() == []


def test_a_shared_catcher_that_is_not_there_is_reported_plainly(project: pytest.Pytester) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    project.makepyfile("def test_sends(mailbox):\n    assert False, 'never reached'\n")
    result = run_subprocess(project, f"--catcher-url=http://127.0.0.1:{port}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*catcher at http://127.0.0.1:{port}:*"])
    result.stdout.no_fnmatch_line("*never reached*")
    result.stdout.no_fnmatch_line("*Traceback*")
