"""Mailboxes: mail routed by login, recipient pattern and plus tag, each mailbox seeing only
its own through every route, and All mail seeing everything once."""

from __future__ import annotations

import http.client
import json
import smtplib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from catcher.client import Client, ClientError
from catcher.server import Catcher

from .conftest import Http, make_email, smtp_client, wait_until

SENDERS = 10


def send(catcher: Catcher, rcpts: list[str], subject: str, login: str | None = None) -> None:
    with smtp_client(catcher) as client:
        if login is not None:
            client.login(login, "any password")
        client.send_message(make_email(subject=subject, to=rcpts[0]), to_addrs=rcpts)


def subjects(http: Http, query: str = "") -> list[str]:
    return sorted(m["subject"] for m in http.get(f"/api/messages?limit=1000&{query}")["messages"])


def events(catcher: Catcher, mailbox: str | None, count: int) -> list[tuple[str, Any]]:
    """The first ``count`` events after the hello on a stream of one mailbox (of All mail
    for None)."""
    connection = http.client.HTTPConnection(*catcher.http_address, timeout=30)
    connection.request("GET", "/api/events" + (f"?mailbox={mailbox}" if mailbox else ""))
    response = connection.getresponse()
    assert response.status == 200, response.read()
    found: list[tuple[str, Any]] = []
    kind = ""
    try:
        while len(found) < count + 1:
            raw = response.readline()
            assert raw, "the stream ended"
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                found.append((kind, json.loads(line[6:])))
    finally:
        connection.close()
    return found[1:]


def test_each_mailbox_sees_only_its_own_and_all_mail_sees_everything(
    catcher: Catcher, http: Http
) -> None:
    status, made = http.json("POST", "/api/mailboxes", {"name": "pat", "recipients": ["*@w2.test"]})
    assert status == 201 and made["routing"]["recipients"] == ["*@w2.test"]
    ready = threading.Barrier(3 * SENDERS)

    def run(kind: str, n: int) -> None:
        ready.wait()
        if kind == "login":
            send(catcher, [f"any{n}@example.com"], f"login {n}", login="job-1")
        elif kind == "pattern":
            send(catcher, [f"person{n}@w2.test"], f"pattern {n}")
        else:
            send(catcher, ["ada+tagged@example.org"], f"tag {n}")

    with ThreadPoolExecutor(3 * SENDERS) as pool:
        list(pool.map(run, ["login", "pattern", "tag"] * SENDERS, list(range(SENDERS)) * 3))
    expect = {
        "job-1": sorted(f"login {n}" for n in range(SENDERS)),
        "pat": sorted(f"pattern {n}" for n in range(SENDERS)),
        "tagged": sorted(f"tag {n}" for n in range(SENDERS)),
    }
    for name, wanted in expect.items():
        assert subjects(http, f"mailbox={name}") == wanted
        page = http.get(f"/api/messages?mailbox={name}")
        assert (page["total"], page["unread"]) == (SENDERS, SENDERS)
        assert all(m["mailboxes"] == [name] for m in page["messages"])
        # Search and field filters stay inside the mailbox.
        found = http.get(f"/api/messages?mailbox={name}&q=3")["messages"]
        assert [m["subject"] for m in found] == [w for w in wanted if "3" in w]
        assert http.get(f"/api/messages?mailbox={name}&subject=login")["matched"] == (
            SENDERS if name == "job-1" else 0
        )
        assert http.get(f"/api/stats?mailbox={name}")["messages"] == SENDERS
    assert subjects(http) == sorted(sum(expect.values(), []))
    listed = {m["name"]: m for m in http.get("/api/mailboxes")["mailboxes"]}
    assert {n: listed[n]["messages"] for n in expect} == dict.fromkeys(expect, SENDERS)
    assert listed["job-1"]["routing"]["origin"] == "login"
    assert listed["tagged"]["routing"]["origin"] == "tag"
    # A message of another mailbox is not there; latest is the mailbox's own.
    other = http.get("/api/messages?mailbox=pat&limit=1")["messages"][0]["id"]
    assert http.json("GET", f"/api/messages/{other}?mailbox=job-1")[0] == 404
    assert http.get("/api/messages/latest?mailbox=job-1")["subject"].startswith("login")
    # Deleting all in one mailbox leaves the others.
    assert http.json("DELETE", "/api/messages?mailbox=pat")[1]["deleted"] == SENDERS
    assert subjects(http, "mailbox=pat") == []
    assert subjects(http) == sorted(expect["job-1"] + expect["tagged"])


def test_a_message_for_two_mailboxes_is_in_both_and_stored_once(
    catcher: Catcher, http: Http
) -> None:
    http.json("POST", "/api/mailboxes", {"name": "one", "recipients": ["*@one.test"]})
    send(catcher, ["a@one.test", "b+two@two.test"], "shared")
    page = http.get("/api/messages")
    assert page["total"] == 1 and page["messages"][0]["mailboxes"] == ["one", "two"]
    raw_size = page["messages"][0]["size"]
    assert http.get("/api/stats")["bytes"] == raw_size, "stored once"
    ident = page["messages"][0]["id"]
    for name in ("one", "two"):
        assert http.get(f"/api/messages?mailbox={name}")["messages"][0]["id"] == ident
    # Read in one is read in the other (the flag is the message's).
    http.json("PATCH", f"/api/messages/{ident}?mailbox=one", {"read": True})
    assert http.get("/api/stats?mailbox=two")["unread"] == 0
    # Deleted in one, it lives on in the other; deleted there too, it is gone.
    assert http.json("DELETE", f"/api/messages/{ident}?mailbox=one")[0] == 200
    assert subjects(http, "mailbox=one") == [] and subjects(http, "mailbox=two") == ["shared"]
    assert subjects(http) == ["shared"]
    http.json("DELETE", f"/api/messages/{ident}?mailbox=two")
    assert subjects(http) == []


def test_waits_and_event_streams_are_scoped(catcher: Catcher, http: Http) -> None:
    result: dict[str, Any] = {}

    def wait() -> None:
        # The mailbox does not exist yet: a wait waits for the login that makes it.
        result["wait"] = http.json("GET", "/api/messages/wait?mailbox=late&timeout=30")

    def stream() -> None:
        result["events"] = events(catcher, "late", 1)

    threads = [threading.Thread(target=wait), threading.Thread(target=stream)]
    for thread in threads:
        thread.start()
    wait_until(lambda: catcher.status().http_parked >= 2, what="the wait and stream parked")
    send(catcher, ["x@example.com"], "not for it", login="someone-else")
    send(catcher, ["x@example.com"], "for it", login="late")
    for thread in threads:
        thread.join(30)
    status, found = result["wait"]
    assert status == 200 and found["subject"] == "for it" and found["mailboxes"] == ["late"]
    ((kind, data),) = result["events"]
    assert kind == "message" and data["subject"] == "for it"


def test_bad_mailbox_requests_get_clear_errors(catcher: Catcher, http: Http) -> None:
    for body in ({"name": ""}, {"name": "a b"}, {"name": "x" * 65}, {"name": "é"}, {}, []):
        status, payload = http.json("POST", "/api/mailboxes", body)
        assert status == 400 and payload["error"], body
    assert http.json("POST", "/api/mailboxes", {"name": "dup"})[0] == 201
    status, payload = http.json("POST", "/api/mailboxes", {"name": "dup"})
    assert status == 409 and "exists" in payload["error"]
    status, payload = http.json("POST", "/api/mailboxes", {"name": "x", "recipients": "*@x"})
    assert status == 400 and "recipients" in payload["error"]
    status, payload = http.json("POST", "/api/mailboxes", {"name": "x", "colour": "red"})
    assert status == 400 and "colour" in payload["error"]
    for path in ("/api/messages?mailbox=nope", "/api/stats?mailbox=nope", "/api/mailboxes/nope"):
        status, payload = http.json("GET", path)
        assert status == 404 and "nope" in payload["error"], path
    status, payload = http.json("GET", "/api/messages?mailbox=bad%20name")
    assert status == 400 and "mailbox" in payload["error"]
    assert http.json("DELETE", "/api/mailboxes/nope")[0] == 404


def test_logins_and_tags_outside_the_name_rule_are_mapped(catcher: Catcher, http: Http) -> None:
    send(catcher, ["x@example.com"], "odd login", login="ci job#7 (main)")
    send(catcher, ["ada+feature/42@example.com"], "odd tag")
    send(catcher, ["ada+@example.com"], "empty tag")
    boxes = {m["name"]: m["messages"] for m in http.get("/api/mailboxes")["mailboxes"]}
    assert boxes["ci-job-7-main"] == 1
    assert boxes["feature-42"] == 1
    assert boxes["default"] == 1  # nothing usable in the tag: the default mailbox


def test_a_mailbox_with_credentials_checks_its_password(catcher: Catcher, http: Http) -> None:
    made = http.json(
        "POST", "/api/mailboxes", {"name": "locked", "smtp_user": "app", "smtp_password": "s3cret"}
    )[1]
    assert made["smtp_password"] == "s3cret"
    assert "smtp_password" not in http.get("/api/mailboxes/locked")
    with smtp_client(catcher) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("app", "wrong")
    send(catcher, ["x@example.com"], "no login")
    with smtp_client(catcher) as client:
        client.login("app", "s3cret")
        client.send_message(make_email(subject="app mail"))
    assert subjects(http, "mailbox=locked") == ["app mail"]


def test_per_mailbox_cap_evicts_its_oldest_and_a_wait_says_so(
    make_catcher: Callable[..., Catcher],
) -> None:
    catcher = make_catcher(mailbox_max_messages=3)
    http = Http(catcher.url)
    for n in range(5):
        send(catcher, ["ada+capped@example.com"], f"capped {n}")
    send(catcher, ["bob@example.com"], "elsewhere")
    assert subjects(http, "mailbox=capped") == ["capped 2", "capped 3", "capped 4"]
    assert http.get("/api/mailboxes/capped")["evicted"] == 2
    assert subjects(http, "mailbox=default") == ["elsewhere"]
    result: dict[str, Any] = {}

    def wait() -> None:
        result["wait"] = http.json(
            "GET", "/api/messages/wait?mailbox=capped&subject=never&timeout=3"
        )

    waiter = threading.Thread(target=wait)
    waiter.start()
    wait_until(lambda: catcher.status().http_parked >= 1, what="the wait parked")
    for n in range(5, 7):
        send(catcher, ["ada+capped@example.com"], f"capped {n}")
    waiter.join(30)
    status, payload = result["wait"]
    assert status == 408
    assert "2 messages of mailbox 'capped' were evicted meanwhile" in payload["error"]


def test_deleting_a_mailbox_deletes_what_only_it_held(catcher: Catcher, http: Http) -> None:
    send(catcher, ["ada+gone@example.com"], "only there")
    send(catcher, ["ada+gone@example.com", "bob+kept@example.com"], "in both")
    status, result = http.json("DELETE", "/api/mailboxes/gone")
    assert status == 200 and result["messages"] == 2
    assert http.json("GET", "/api/mailboxes/gone")[0] == 404
    assert subjects(http) == ["in both"]
    assert http.get("/api/messages")["messages"][0]["mailboxes"] == ["kept"]


def test_mark_all_read_in_one_mailbox(catcher: Catcher, http: Http) -> None:
    for n in range(3):
        send(catcher, ["ada+mine@example.com"], f"mine {n}")
    send(catcher, ["bob@example.com"], "theirs")
    status, result = http.json("PATCH", "/api/messages?mailbox=mine", {"read": True})
    assert status == 200 and (result["matched"], result["changed"]) == (3, 3)
    assert http.get("/api/stats?mailbox=mine")["unread"] == 0
    assert http.get("/api/stats")["unread"] == 1
    assert http.json("PATCH", "/api/messages", {"read": "yes"})[0] == 400


def test_the_client_scopes_everything_to_its_mailbox(catcher: Catcher) -> None:
    client = Client(catcher.url)
    box = client.create_mailbox(recipients=["*@ci.test"])
    assert box.mailbox_name and box.smtp_user == box.mailbox_name and box.smtp_password
    assert box.address("ada") == f"ada+{box.mailbox_name}@example.com"
    send(catcher, [box.address("ada")], "tagged for the box")
    send(catcher, ["someone@ci.test"], "by pattern")
    with smtp_client(catcher) as smtp:
        smtp.login(box.smtp_user, box.smtp_password)
        smtp.send_message(make_email(subject="by login"))
    send(catcher, ["nobody@example.com"], "not the box's")
    assert sorted(e.subject for e in box.messages()) == [
        "by login",
        "by pattern",
        "tagged for the box",
    ]
    assert box.wait_for(subject="login").subject == "by login"
    assert box.clear() == 3
    assert [e.subject for e in client.messages()] == ["not the box's"]
    assert any(m["name"] == box.mailbox_name for m in client.mailboxes())
    box.delete_mailbox()
    with pytest.raises(ClientError) as raised:
        box.messages()
    assert raised.value.status == 404


def test_all_mail_hears_when_a_mailbox_alone_changes(catcher: Catcher, http: Http) -> None:
    send(catcher, ["a+left@example.com", "b+right@example.com"], "in both")
    ident = http.get("/api/messages")["messages"][0]["id"]
    heard: dict[str, Any] = {}

    def listen() -> None:
        heard["events"] = events(catcher, None, 1)  # All mail's stream

    listener = threading.Thread(target=listen)
    listener.start()
    wait_until(lambda: catcher.status().http_parked >= 1, what="the stream parked")
    # Out of one mailbox only: All mail still has it, but a mailbox's count moved.
    http.json("DELETE", f"/api/messages/{ident}?mailbox=left")
    listener.join(30)
    ((kind, data),) = heard["events"]
    assert kind == "mailbox" and data["names"] == ["left"] and data["exists"]
    overview = http.get("/api/mailboxes")
    assert overview["all"] == {"messages": 1, "unread": 1}
    counts = {m["name"]: m["messages"] for m in overview["mailboxes"]}
    assert counts == {"left": 0, "right": 1}


def test_without_plus_tags_a_tag_routes_nowhere(make_catcher: Callable[..., Catcher]) -> None:
    catcher = make_catcher(plus_tags=False)
    http = Http(catcher.url)
    http.json("POST", "/api/mailboxes", {"name": "w9"})
    send(catcher, ["ada+w9@example.com"], "tagged")
    assert subjects(http, "mailbox=default") == ["tagged"]
    assert subjects(http, "mailbox=w9") == []
    assert http.get("/api/mailboxes/w9")["routing"]["plus_tag"] is None


def test_unique_tags_on_every_message_do_not_pile_up_mailboxes(
    make_catcher: Callable[..., Catcher],
) -> None:
    # A mailer that tags each message uniquely (VERP, reply tokens): the caps evict the
    # mail, and the mailboxes routing made for it go with it.
    catcher = make_catcher(max_messages=20)
    with smtp_client(catcher) as client:
        for n in range(200):
            client.sendmail("app@shop.test", [f"reply+tok{n}@app.test"], b"Subject: t\r\n\r\nx\r\n")
    assert len(catcher.store) == 20
    assert catcher.store.mailbox_count == 20
    names = {m.box.name for m in catcher.store.mailboxes()}
    assert names == {f"tok{n}" for n in range(180, 200)}


def test_deleting_a_mailbox_while_its_mail_arrives_leaves_nothing_behind(
    catcher: Catcher, http: Http
) -> None:
    stop = threading.Event()

    def sender() -> None:
        with smtp_client(catcher) as client:
            client.login("racer", "pw")
            n = 0
            while not stop.is_set():
                client.send_message(make_email(subject=f"race {n}"))
                n += 1

    def deleter() -> None:
        while not stop.is_set():
            catcher.store.delete_mailbox("racer")

    threads = [threading.Thread(target=sender) for _ in range(3)] + [
        threading.Thread(target=deleter)
    ]
    target = catcher.store.received + 300  # (the shared catcher's count goes on across tests)
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: catcher.store.received >= target, 60, "300 sent while deleting")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    names = {m.box.name for m in catcher.store.mailboxes()}
    for message in catcher.store.query(limit=10_000).messages:
        assert set(catcher.store.mailboxes_of(message.id)) <= names, "no orphans"
    # The last delete may have come after the last message: one more, into the mailbox
    # its login makes again.
    with smtp_client(catcher) as client:
        client.login("racer", "pw")
        client.send_message(make_email(subject="race after"))
    # Every message can be read, marked and deleted: no 500 from a mailbox that is gone.
    page = http.get("/api/messages?limit=1000")
    assert "race after" in [m["subject"] for m in page["messages"]]
    for entry in page["messages"][:20]:
        assert http.json("PATCH", f"/api/messages/{entry['id']}", {"read": True})[0] == 200
    assert http.json("DELETE", "/api/messages?subject=race")[0] == 200
    stats = http.get("/api/stats")
    assert (stats["messages"], stats["bytes"]) == (0, 0)


def test_a_mailbox_login_cannot_be_reached_another_way(
    make_catcher: Callable[..., Catcher],
) -> None:
    catcher = make_catcher(smtp_auth=("app", "apppass"))
    http = Http(catcher.url)
    assert http.json("POST", "/api/mailboxes", {"name": "w1", "smtp_password": "secret"})[0] == 201
    assert http.json("POST", "/api/mailboxes", {"name": "w2", "smtp_user": "bob"})[0] == 201
    # Logins that map onto w1's name, or name w2 whose login is bob, are refused.
    for user in ("w1 ", " w1", "w1#", "w2"):
        with smtp_client(catcher) as client:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login(user, "apppass")
    # w2 has no password of its own: the server's --smtp-auth password goes for it.
    with smtp_client(catcher) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("bob", "anything")
    with smtp_client(catcher) as client:
        client.login("bob", "apppass")
        client.send_message(make_email(subject="bob's"))
    assert subjects(http, "mailbox=w2") == ["bob's"]
    # The server's own login cannot be taken over by a mailbox.
    status, payload = http.json("POST", "/api/mailboxes", {"name": "evil", "smtp_user": "app"})
    assert status == 409 and "--smtp-auth" in payload["error"]
    with smtp_client(catcher) as client:
        client.login("app", "apppass")


def test_names_that_are_not_names(catcher: Catcher, http: Http) -> None:
    for name in ("A\n", ".", "..", "...", "a b", "", "x" * 65):
        assert http.json("POST", "/api/mailboxes", {"name": name})[0] == 400, name
    status, payload = http.json("GET", "/api/messages?mailbox=")
    assert status == 400 and "empty" in payload["error"]
    with pytest.raises(ValueError):
        Client(catcher.url, mailbox="")
    assert http.json("POST", "/api/mailboxes", {"name": ".a-b_c.1"})[0] == 201


def test_a_mailbox_stream_hears_only_its_own_ids(catcher: Catcher, http: Http) -> None:
    send(catcher, ["a+mine@example.com"], "mine")
    send(catcher, ["b+theirs@example.com"], "theirs 1")
    send(catcher, ["b+theirs@example.com"], "theirs 2")
    mine = http.get("/api/messages?mailbox=mine")["messages"][0]["id"]
    heard: dict[str, Any] = {}

    def listen() -> None:
        heard["events"] = events(catcher, "mine", 1)

    listener = threading.Thread(target=listen)
    listener.start()
    wait_until(lambda: catcher.status().http_parked >= 1, what="the stream parked")
    http.json("PATCH", "/api/messages", {"read": True})  # all three, in one event
    listener.join(30)
    ((kind, data),) = heard["events"]
    assert kind == "read" and data["ids"] == [mine] and data["read"] is True


def test_at_the_mailbox_cap_new_ones_are_refused_and_mail_still_lands(
    make_catcher: Callable[..., Catcher],
) -> None:
    from catcher.mailboxes import MAX_MAILBOXES

    catcher = make_catcher()
    http = Http(catcher.url)
    for n in range(MAX_MAILBOXES):  # (made through the store: 10,000 requests add nothing)
        catcher.store.create_mailbox(f"box{n}")
    status, payload = http.json("POST", "/api/mailboxes", {"name": "one-more"})
    assert status == 400 and f"at most {MAX_MAILBOXES} mailboxes" in payload["error"]
    # Routing makes no mailbox past the cap either: tagged mail goes to default, kept.
    send(catcher, ["ada+newtag@example.com"], "past the cap")
    assert subjects(http, "mailbox=default") == ["past the cap"]
    assert http.json("GET", "/api/mailboxes/newtag")[0] == 404
    # default, made past the cap, counts too: room again once two go.
    assert len(http.get("/api/mailboxes")["mailboxes"]) == MAX_MAILBOXES + 1
    for name in ("box0", "box1"):
        assert http.json("DELETE", f"/api/mailboxes/{name}")[0] == 200
    status, payload = http.json("POST", "/api/mailboxes", {"name": "one-more"})
    assert status == 201, payload
