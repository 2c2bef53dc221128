"""The ``Mailbox`` a test sees: the mail its code sent to a catcher, with waits and assertions."""

from __future__ import annotations

import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Unpack

from catcher.faults import FaultRule, rule_spec
from catcher.mail import (
    LISTED,
    Attachment,
    Criteria,
    CriteriaArgs,
    Email,
    Headers,
    MailAssertionError,
    MailTimeout,
    describe,
    listing,
    plural,
)

if TYPE_CHECKING:
    from catcher.client import Client
    from catcher.message import Message
    from catcher.server import Catcher
    from catcher.store import MessageStore

__all__ = [
    "Attachment",
    "Email",
    "Headers",
    "MailAssertionError",
    "MailTimeout",
    "Mailbox",
    "RemoteMailbox",
]

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


class _Mail:
    """What every mailbox a test sees offers: where to send, waits and assertions.

    Criteria (``to``, ``sender``, ``subject``, ``text``) match as the API's filters do:
    case-insensitive substrings of the recipients (envelope and headers), the sender,
    the subject; ``text`` needs each of its words somewhere in the message.
    """

    smtp_user: str | None = None
    smtp_password: str | None = None
    name: str | None = None  # the mailbox's name on the catcher, when it has one

    def __init__(self) -> None:
        self._waited: set[int] = set()
        self._faults: list[FaultRule] = []

    # -- where to send (the backends say where the catcher is)

    @property
    def smtp_host(self) -> str:
        raise NotImplementedError

    @property
    def smtp_port(self) -> int:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The web inbox (and the API under ``/api``)."""
        raise NotImplementedError

    @property
    def smtp_url(self) -> str:
        host = f"[{self.smtp_host}]" if ":" in self.smtp_host else self.smtp_host
        return f"smtp://{host}:{self.smtp_port}"

    def address(self, local: str = "user", domain: str = "example.com") -> str:
        """An address whose mail lands here: ``local+NAME@domain`` for a named mailbox."""
        return f"{local}+{self.name}@{domain}" if self.name else f"{local}@{domain}"

    @property
    def django_settings(self) -> dict[str, object]:
        """Django settings that send through this catcher (set them with pytest-django's
        ``settings`` fixture, which otherwise leaves Django's in-memory backend in place)."""
        return {
            "EMAIL_BACKEND": SMTP_BACKEND,
            "EMAIL_HOST": self.smtp_host,
            "EMAIL_PORT": self.smtp_port,
            "EMAIL_HOST_USER": self.smtp_user or "",
            "EMAIL_HOST_PASSWORD": self.smtp_password or "",
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
        }

    @property
    def flask_mail_config(self) -> dict[str, object]:
        """Flask-Mail (and Flask-Mailman) config that sends through this catcher, even when
        ``app.testing`` is on (Flask-Mail then suppresses sending unless told otherwise)."""
        return {
            "MAIL_SERVER": self.smtp_host,
            "MAIL_PORT": self.smtp_port,
            "MAIL_USE_TLS": False,
            "MAIL_USE_SSL": False,
            "MAIL_USERNAME": self.smtp_user,
            "MAIL_PASSWORD": self.smtp_password,
            "MAIL_SUPPRESS_SEND": False,
            "MAIL_BACKEND": "smtp",
        }

    # -- reading

    @property
    def messages(self) -> list[Email]:
        """Every message in the mailbox, in the order they arrived."""
        return self._query(Criteria())

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[Email]:
        return iter(self.messages)

    def filter(self, **criteria: Unpack[CriteriaArgs]) -> list[Email]:
        """The messages that match, in the order they arrived."""
        return self._query(Criteria.of(criteria))

    def clear(self) -> None:
        self._clear()
        self._waited.clear()

    # -- failures on purpose

    def fault(self, stage: str, **rule: Any) -> FaultRule:
        """Make the catcher fail on purpose: ``with mailbox.fault("rcpt", to="ada@example.com",
        reply="451 4.3.0 Try later", times=1): ...``. The keywords are
        ``catcher.faults.rule_spec``'s; the rule is removed on leaving the ``with``, or at
        the end of the test."""
        made = self._fault(rule_spec(stage, **rule))
        self._faults.append(made)
        return made

    def remove_faults(self) -> None:
        """Remove every rule this mailbox made."""
        for made in self._faults:
            made.remove()
        self._faults.clear()

    def _fault(self, spec: dict[str, Any]) -> FaultRule:
        raise NotImplementedError

    # -- waiting and asserting

    def wait_for(self, *, timeout: float = 10.0, **criteria: Unpack[CriteriaArgs]) -> Email:
        """The oldest matching message no earlier ``wait_for`` returned, waiting for it to arrive.

        So consecutive waits walk through matching messages in arrival order. Fails with
        ``MailTimeout``, listing the mailbox, when none arrives within ``timeout`` seconds.
        """
        __tracebackhide__ = True
        wanted = Criteria.of(criteria)
        deadline = time.monotonic() + timeout
        cursor = 0
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            found = self._wait(wanted, cursor, remaining)
            if found is None:
                raise MailTimeout(self._timeout_text(wanted, timeout))
            if found.id not in self._waited:
                self._waited.add(found.id)
                return found
            cursor = found.id

    def assert_sent(
        self,
        *,
        count: int | None = None,
        timeout: float = 0.0,
        **criteria: Unpack[CriteriaArgs],
    ) -> Email:
        """Assert a matching message was sent (exactly ``count`` of them, if given); the first.

        With a ``timeout``, mail sent in the background has that long to arrive.
        """
        __tracebackhide__ = True
        if count is not None and count < 1:
            raise ValueError(f"count: must be 1 or more, got {count}; use assert_not_sent()")
        wanted = Criteria.of(criteria)
        least = count or 1
        matches = self._settle(wanted, lambda found: len(found) >= least, timeout)
        if not matches or (count is not None and len(matches) != count):
            what = str(wanted)
            expected = plural(count) if count is not None else "a message"
            got = f"{len(matches)} matched" if matches else "none was sent"
            lines = [f"expected {expected}{' ' + what if what else ''}, but {got}"]
            if matches:
                lines.append("the matches:")
                lines.extend(f"  {describe(e)}" for e in matches[-LISTED:])
            lines.append(self.describe())
            raise MailAssertionError("\n".join(lines))
        return matches[0]

    def assert_not_sent(self, **criteria: Unpack[CriteriaArgs]) -> None:
        """Assert no matching message was sent (with no criteria: that the mailbox is empty)."""
        __tracebackhide__ = True
        wanted = Criteria.of(criteria)
        matches = self._query(wanted)
        if matches:
            what = str(wanted)
            raise MailAssertionError(
                f"expected no message{' ' + what if what else ''}, but {plural(len(matches))} "
                f"{'was' if len(matches) == 1 else 'were'} sent:\n"
                + "\n".join(f"  {describe(e)}" for e in matches[-LISTED:])
            )

    def describe(self) -> str:
        """The mailbox as failure messages show it."""
        return listing(self.messages, f"mailbox {self.name!r}" if self.name else "the mailbox")

    # -- what a backend provides

    def _query(self, wanted: Criteria) -> list[Email]:
        """Every match, oldest first."""
        raise NotImplementedError

    def _wait(self, wanted: Criteria, since: int, timeout: float) -> Email | None:
        """The oldest match after ``since``, waiting up to ``timeout`` s for one."""
        raise NotImplementedError

    def _newest_id(self) -> int:
        """The newest message's id (0 for none)."""
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError

    # -- shared

    def _settle(
        self, wanted: Criteria, enough: Callable[[list[Email]], bool], timeout: float
    ) -> list[Email]:
        """The matches once ``enough`` says so or ``timeout`` passes, re-checking on arrivals."""
        deadline = time.monotonic() + timeout
        while True:
            # The newest id before matching, so an arrival in between ends the wait below.
            newest = self._newest_id()
            matches = self._query(wanted)
            remaining = deadline - time.monotonic()
            if enough(matches) or remaining <= 0:
                return matches
            self._wait(Criteria(), newest, remaining)

    def _timeout_text(self, wanted: Criteria, timeout: float) -> str:
        what = str(wanted)
        lines = [f"no message{' ' + what if what else ''} arrived within {timeout:g} s"]
        seen = [e for e in self._query(wanted) if e.id in self._waited]
        if seen:
            lines.append(
                f"({plural(len(seen))} matched but {'was' if len(seen) == 1 else 'were'} "
                "already returned by an earlier wait_for)"
            )
        lines.append(self.describe())
        return "\n".join(lines)


class Mailbox(_Mail):
    """The mail a test's code has sent to a catcher running in this process (the default
    ``mailbox`` fixture): emptied before each test, read straight from its store."""

    def __init__(self, catcher: Catcher) -> None:
        super().__init__()
        self.catcher = catcher
        self._emails: dict[int, Email] = {}

    @property
    def store(self) -> MessageStore:
        return self.catcher.store

    @property
    def smtp_host(self) -> str:
        host = self.catcher.smtp_host
        # A catcher listening on every address is reached on loopback.
        return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)

    @property
    def smtp_port(self) -> int:
        return self.catcher.smtp_port

    @property
    def url(self) -> str:
        return self.catcher.url

    def __len__(self) -> int:
        return len(self.store)

    def _clear(self) -> None:
        self.store.clear()

    def _email(self, message: Message) -> Email:
        email = self._emails.get(message.id)
        if email is None:
            parsed = self.store.parsed(message)
            email = self._emails[message.id] = Email.from_message(message, parsed)
        return email

    def _query(self, wanted: Criteria) -> list[Email]:
        page = self.store.query(wanted.filter(), limit=sys.maxsize)
        return [self._email(m) for m in reversed(page.messages)]

    def _wait(self, wanted: Criteria, since: int, timeout: float) -> Email | None:
        found = self.store.wait_for(wanted.filter(since=since), timeout=timeout)
        return None if found is None else self._email(found)

    def _newest_id(self) -> int:
        newest = self.store.latest()
        return newest.id if newest is not None else 0

    def _fault(self, spec: dict[str, Any]) -> FaultRule:
        faults = self.catcher.faults
        rule_id = int(faults.add(spec)["id"])
        return FaultRule(
            rule_id,
            lambda: faults.remove(rule_id),
            lambda: faults.get(rule_id) or faults.finished(rule_id),
        )

    def __repr__(self) -> str:
        return f"<Mailbox {self.url} smtp={self.smtp_host}:{self.smtp_port} {plural(len(self))}>"


class RemoteMailbox(_Mail):
    """A mailbox of its own on a catcher shared with others (``pytest --catcher-url``):
    made for one test and deleted after it, read over the API.

    Mail reaches it when the code under test logs in with ``smtp_user`` and
    ``smtp_password`` (``django_settings`` and ``flask_mail_config`` do that) or sends to
    ``address(...)``; nobody else's mail is seen here, nor this one's elsewhere.
    """

    def __init__(self, client: Client) -> None:
        super().__init__()
        if client.mailbox_name is None:
            raise ValueError("RemoteMailbox needs a client for one mailbox (create_mailbox)")
        self.client = client
        self.name = client.mailbox_name
        self.smtp_user = client.smtp_user
        self.smtp_password = client.smtp_password
        self._smtp = client.smtp_address()

    @property
    def smtp_host(self) -> str:
        return self._smtp[0]

    @property
    def smtp_port(self) -> int:
        return self._smtp[1]

    @property
    def url(self) -> str:
        """The inbox, opened on this mailbox."""
        return f"{self.client.url}/#/box/{urllib.parse.quote(self.name or '', safe='')}"

    def _clear(self) -> None:
        self.client.clear()

    def _query(self, wanted: Criteria) -> list[Email]:
        return self.client.messages(limit=1_000_000, **wanted.args())

    def _wait(self, wanted: Criteria, since: int, timeout: float) -> Email | None:
        return self.client.wait_after(wanted, since, timeout)

    def _newest_id(self) -> int:
        return self.client.newest_id()

    def _fault(self, spec: dict[str, Any]) -> FaultRule:
        stage = spec.pop("stage")
        matched = spec.pop("match", {})
        sender = matched.pop("from", None)
        return self.client.fault(stage, sender=sender, **matched, **spec)

    def delete(self) -> None:
        """Delete the mailbox and its mail from the catcher."""
        self.client.delete_mailbox()

    def __repr__(self) -> str:
        return f"<RemoteMailbox {self.name!r} at {self.client.url}>"
