"""``Client``: the mail in a catcher running elsewhere (a CI service, a shared box), over its API.

Standard library only, so a CI script can use it wherever catcher is installed::

    from catcher import Client

    client = Client("http://catcher:8025")
    email = client.wait_for(to="ada@example.com", subject="Welcome", timeout=30)
    print(email.link("confirm"))

Messages come back as the same ``catcher.mail.Email`` values the pytest ``mailbox``
fixture gives: each is built from the exact bytes received (``/raw``), parsed locally by
the same parser, so the two behave identically.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Unpack

from catcher.faults import FaultRule, rule_spec
from catcher.mail import LISTED, Criteria, CriteriaArgs, Email, MailTimeout, listing

__all__ = ["Client", "ClientError"]

# Routes a mailbox scopes (the mailbox routes themselves name it in their path).
_SCOPED = ("/api/messages", "/api/stats", "/api/events", "/api/faults")
# The API caps one wait at 60 s; longer waits are made of several.
MAX_WAIT = 60.0
PAGE = 1000


class ClientError(Exception):
    """A request to the catcher failed; ``status`` is the HTTP status, None when unreachable."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class _Summary:
    """What a list entry says about a message: enough to name it and to fetch it."""

    id: int
    received_at: datetime
    mail_from: str
    rcpt_to: tuple[str, ...]
    sender: str
    to: tuple[str, ...]
    subject: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> _Summary:
        envelope = data.get("envelope") or {}
        sender = data.get("from") or {}
        return cls(
            id=int(data["id"]),
            received_at=datetime.fromisoformat(str(data["received_at"])),
            mail_from=str(envelope.get("mail_from", "")),
            rcpt_to=tuple(str(r) for r in envelope.get("rcpt_to", ())),
            sender=str(sender.get("address", "")),
            to=tuple(str(a.get("address", "")) for a in data.get("to") or ()),
            subject=str(data.get("subject", "")),
        )

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.rcpt_to


class Client:
    """A catcher's messages over HTTP: ``Client("http://127.0.0.1:8025")``.

    Basic auth (``catcher --http-auth``) comes from the URL's ``user:password@`` or from
    ``username``/``password``. ``timeout`` bounds each request, waits aside. With
    ``mailbox``, everything is that mailbox's alone (see ``create_mailbox``).
    """

    smtp_user: str | None = None
    smtp_password: str | None = None

    def __init__(
        self,
        url: str = "http://127.0.0.1:8025",
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        mailbox: str | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url: expected http://host:port, got {url!r}")
        user = username if username is not None else parts.username
        secret = password if password is not None else parts.password
        netloc = parts.netloc.rpartition("@")[2]
        self.url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.timeout = timeout
        if mailbox is not None and not mailbox:
            raise ValueError("mailbox: empty (leave it out, or None, for All mail)")
        self.mailbox_name = mailbox
        self._headers = {"Accept": "application/json", "User-Agent": "catcher-client"}
        if user is not None:
            token = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(secret or '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
        # Messages returned by wait_for, keyed by id and arrival time: a restarted catcher
        # numbers its messages from 1 again.
        self._waited: set[tuple[int, datetime]] = set()

    def __repr__(self) -> str:
        scope = f", mailbox={self.mailbox_name!r}" if self.mailbox_name else ""
        return f"Client({self.url!r}{scope})"

    # -- failures on purpose

    def fault(self, stage: str, **rule: Any) -> FaultRule:
        """Add a fault rule (``catcher.faults.rule_spec``'s keywords: ``to``, ``sender``,
        ``login``, ``reply``, ``times``, ...), scoped to this client's mailbox when it has
        one; use it as a context manager to remove it on the way out."""
        created = self._json("POST", "/api/faults", body=rule_spec(stage, **rule))
        rule_id = int(created["id"])

        def remove() -> None:
            self._request("DELETE", f"/api/faults/{rule_id}", accept=(200, 404))

        def read() -> dict[str, Any] | None:
            status, body = self._request("GET", f"/api/faults/{rule_id}", accept=(200, 404))
            found: dict[str, Any] = json.loads(body)
            return found if status == 200 else found.get("finished")

        return FaultRule(rule_id, remove, read)

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules in force (this mailbox's, for a mailbox's client)."""
        rules: list[dict[str, Any]] = self._json("GET", "/api/faults")["faults"]
        return rules

    def clear_faults(self) -> int:
        """Remove every fault rule (this mailbox's); how many."""
        return int(self._json("DELETE", "/api/faults")["deleted"])

    def sessions(self, limit: int = 50) -> list[dict[str, Any]]:
        """The last SMTP conversations, newest first (see ``GET /api/sessions``)."""
        found: list[dict[str, Any]] = self._json(
            "GET", "/api/sessions", {"limit": limit}, scoped=False
        )["sessions"]
        return found

    # -- mailboxes

    def mailbox(self, name: str) -> Client:
        """A client for one mailbox of the same catcher."""
        scoped = Client(self.url, timeout=self.timeout, mailbox=name)
        scoped._headers = dict(self._headers)
        return scoped

    def create_mailbox(
        self,
        name: str | None = None,
        *,
        recipients: tuple[str, ...] | list[str] = (),
        smtp_user: str | None = None,
        smtp_password: str | None = None,
    ) -> Client:
        """Make a mailbox (a fresh unique name when none is given) and return a client for
        it. Mail reaches it when sent with its login (``smtp_user``/``smtp_password``,
        which default to its name and a fresh secret), to a recipient its patterns match,
        or to ``address()``, which tags the address with its name.
        """
        name = name or f"box-{secrets.token_hex(6)}"
        body = {
            "name": name,
            "recipients": list(recipients),
            "smtp_user": smtp_user or name,
            "smtp_password": smtp_password or secrets.token_urlsafe(12),
        }
        made = self._json("POST", "/api/mailboxes", body=body)
        scoped = self.mailbox(made["name"])
        scoped.smtp_user = made["routing"]["smtp_user"]
        scoped.smtp_password = made.get("smtp_password")
        return scoped

    def delete_mailbox(self, name: str | None = None) -> int:
        """Delete a mailbox (this client's, when none is named); how many messages went."""
        target = name or self.mailbox_name
        if target is None:
            raise ValueError("delete_mailbox: name a mailbox (this client has none)")
        result = self._json("DELETE", f"/api/mailboxes/{urllib.parse.quote(target, safe='')}")
        return int(result["messages"])

    def mailboxes(self) -> list[dict[str, Any]]:
        """Every mailbox: ``name``, ``messages``, ``unread`` and how mail is routed to it."""
        found: list[dict[str, Any]] = self._json("GET", "/api/mailboxes")["mailboxes"]
        return found

    def address(self, local: str = "user", domain: str = "example.com") -> str:
        """An address that routes to this client's mailbox: ``local+NAME@domain``."""
        if self.mailbox_name is None:
            return f"{local}@{domain}"
        return f"{local}+{self.mailbox_name}@{domain}"

    def smtp_address(self) -> tuple[str, int]:
        """Where to send mail: this URL's host and the catcher's SMTP port."""
        stats = self._json("GET", "/api/stats", scoped=False)
        port = int(str(stats["smtp_address"]).rpartition(":")[2])
        return urllib.parse.urlsplit(self.url).hostname or "127.0.0.1", port

    # -- reading

    def messages(self, *, limit: int = 50, **criteria: Unpack[CriteriaArgs]) -> list[Email]:
        """The newest ``limit`` matching messages, in the order they arrived.

        Criteria match as the API's filters do: case-insensitive substrings; ``text``
        needs each of its words somewhere in the message.
        """
        if limit < 1:
            raise ValueError(f"limit: must be 1 or more, got {limit}")
        query = Criteria.of(criteria).query()
        summaries: list[_Summary] = []
        while len(summaries) < limit:
            size = min(PAGE, limit - len(summaries))
            page = self._json(
                "GET", "/api/messages", {**query, "limit": size, "offset": len(summaries)}
            )
            found = [_Summary.of(m) for m in page["messages"]]
            summaries.extend(found)
            if len(found) < size:
                break
        emails = []
        for summary in reversed(summaries):
            raw = self._raw_or_none(summary.id)
            if raw is not None:  # deleted since it was listed
                emails.append(_email(summary, raw))
        return emails

    def newest_id(self) -> int:
        """The id of the newest message (0 when there is none): for ``since``."""
        page = self._json("GET", "/api/messages", {"limit": 1})
        return int(page["messages"][0]["id"]) if page["messages"] else 0

    def search(self, query: str, *, limit: int = 50) -> list[Email]:
        """Messages with every word of ``query`` in their subject, addresses, text or file names."""
        return self.messages(text=query, limit=limit)

    def get(self, message_id: int | str) -> Email:
        """One message by id (``"latest"`` for the newest)."""
        summary = _Summary.of(self._json("GET", f"/api/messages/{_ident(message_id)}"))
        return _email(summary, self.raw(summary.id))

    def raw(self, message_id: int | str) -> bytes:
        """The exact bytes the catcher received."""
        return self._request("GET", f"/api/messages/{_ident(message_id)}/raw")[1]

    def wait_for(
        self, *, since: int | None = None, timeout: float = 10.0, **criteria: Unpack[CriteriaArgs]
    ) -> Email:
        """The oldest matching message no earlier ``wait_for`` of this client returned.

        Waits on the server (``GET /api/messages/wait``) until one arrives, so there is no
        polling. ``since`` skips messages with that id or lower. On timeout raises
        ``MailTimeout`` (an ``AssertionError``) listing what the catcher holds.
        """
        wanted = Criteria.of(criteria)
        found = self.wait_after(wanted, since or 0, timeout, skip=self._waited)
        if found is None:
            raise MailTimeout(self._timeout_text(wanted, timeout))
        self._waited.add((found.id, found.received_at))
        return found

    def wait_after(
        self,
        wanted: Criteria,
        since: int,
        timeout: float,
        skip: Set[tuple[int, datetime]] = frozenset(),
    ) -> Email | None:
        """The oldest message ``wanted`` matches after id ``since`` (and not in ``skip``),
        waiting on the server up to ``timeout`` s; None if none comes."""
        query = wanted.query()
        deadline = time.monotonic() + timeout
        cursor = since
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            wait = min(remaining, MAX_WAIT)
            status, body = self._request(
                "GET",
                "/api/messages/wait",
                {**query, "since": cursor, "timeout": f"{wait:.3f}"},
                timeout=wait + self.timeout,
                accept=(200, 408),
            )
            if status == 200:
                summary = _Summary.of(json.loads(body))
                if (summary.id, summary.received_at) not in skip:
                    raw = self._raw_or_none(summary.id)
                    if raw is not None:
                        return _email(summary, raw)
                cursor = summary.id
            elif time.monotonic() >= deadline:
                return None

    # -- deleting

    def delete(self, message_id: int | str) -> None:
        """Delete one message."""
        self._json("DELETE", f"/api/messages/{_ident(message_id)}")

    def clear(self, **criteria: Unpack[CriteriaArgs]) -> int:
        """Delete every message (only the matching ones, given criteria); how many went."""
        result = self._json("DELETE", "/api/messages", Criteria.of(criteria).query())
        return int(result["deleted"])

    # -- HTTP

    def _raw_or_none(self, message_id: int) -> bytes | None:
        try:
            return self.raw(message_id)
        except ClientError as error:
            if error.status == 404:
                return None
            raise

    def _json(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        *,
        body: Any = None,
        scoped: bool = True,
    ) -> Any:
        accept = (200, 201)
        return json.loads(
            self._request(method, path, query, body=body, scoped=scoped, accept=accept)[1]
        )

    def _request(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        accept: tuple[int, ...] = (200,),
        body: Any = None,
        scoped: bool = True,
    ) -> tuple[int, bytes]:
        if scoped and self.mailbox_name is not None and path.startswith(_SCOPED):
            query = {**(query or {}), "mailbox": self.mailbox_name}
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = dict(self._headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                if response.status not in accept:
                    raise ClientError(f"{method} {url}: {response.status}", response.status)
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            body = error.read()
            if error.code in accept:
                return error.code, body
            raise ClientError(
                f"{method} {url}: {error.code} {_error_text(body) or error.reason}", error.code
            ) from None
        except urllib.error.URLError as error:
            reason = error.reason
            text = (reason.strerror if isinstance(reason, OSError) else None) or str(reason)
            raise ClientError(f"cannot reach catcher at {self.url}: {text}") from None
        except TimeoutError:
            raise ClientError(f"no answer from catcher at {self.url} ({method} {path})") from None
        except OSError as error:
            raise ClientError(f"lost the connection to catcher at {self.url}: {error}") from None

    def _timeout_text(self, wanted: Criteria, timeout: float) -> str:
        what = str(wanted)
        lines = [f"no message{' ' + what if what else ''} arrived within {timeout:g} s"]
        try:
            page = self._json("GET", "/api/messages", {"limit": LISTED})
        except ClientError as error:
            lines.append(f"(could not list the catcher's messages: {error})")
            return "\n".join(lines)
        summaries = [_Summary.of(m) for m in reversed(page["messages"])]
        lines.append(listing(summaries, f"the catcher at {self.url}", int(page["total"])))
        return "\n".join(lines)


def _ident(message_id: int | str) -> str:
    return urllib.parse.quote(str(message_id), safe="")


def _email(summary: _Summary, raw: bytes) -> Email:
    return Email.from_raw(
        raw,
        id=summary.id,
        received_at=summary.received_at,
        mail_from=summary.mail_from,
        rcpt_to=summary.rcpt_to,
    )


def _error_text(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip()
    return str(data.get("error", "")) if isinstance(data, dict) else ""
