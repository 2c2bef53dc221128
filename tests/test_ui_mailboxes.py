"""The inbox's mailboxes in headless Chromium: the switcher and its live counts, a list
scoped to one mailbox (search, live mail, delete all, mark all read), the address that
holds the mailbox, and a link to a mailbox that is not there.

Mail is routed the way applications route it: an SMTP login ``U`` lands in mailbox ``U``,
``anyone+TAG@...`` in mailbox ``TAG``, anything else in ``default``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from catcher.message import Delivery, Envelope
from catcher.server import Catcher
from tests.conftest import Http, make_email, send, smtp_client

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium fixture skips, or fails under CATCHER_REQUIRE_BROWSER=1
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from tests.browser import Inbox

pytest_plugins = ["tests.browser"]

UNREAD = re.compile(r"\bunread\b")


def send_as(catcher: Catcher, login: str, subject: str, to: str = "ada@example.com") -> None:
    """Send over SMTP after logging in as ``login``: the mail lands in that mailbox."""
    with smtp_client(catcher) as client:
        client.login(login, "any password")
        client.send_message(make_email(subject=subject, to=to))


def send_tagged(catcher: Catcher, tag: str, subject: str) -> None:
    """Send to ``ada+TAG@example.com``: the mail lands in mailbox ``TAG``."""
    send(catcher, make_email(subject=subject, to=f"ada+{tag}@example.com"))


def ident(http: Http, subject: str) -> int:
    listing = http.get(f"/api/messages?subject={quote(subject)}")
    assert listing["matched"] == 1, listing
    found: int = listing["messages"][0]["id"]
    return found


def box(page: Page, name: str | None) -> Locator:
    """A mailbox's entry in the sidebar (None: All mail)."""
    if name is None:
        return page.locator("#boxes a.box.all")
    return page.locator(f'#boxes a.box[data-name="{name}"]')


def count(page: Page, name: str | None) -> Locator:
    return box(page, name).locator(".box-count")


def subjects(inbox: Inbox) -> Locator:
    return inbox.page.locator("#list a.row .subject")


@pytest.mark.browser
def test_the_switcher_scopes_the_list_and_the_address_keeps_it(
    catcher: Catcher, open_inbox: Callable[..., Inbox], http: Http
) -> None:
    send_as(catcher, "w1", "W1 first")
    send_tagged(catcher, "w2", "W2 first")
    send(catcher, make_email(subject="Unrouted"))
    inbox = open_inbox()
    page = inbox.page

    # All mail, then the mailboxes in the order they were made, each with its unread count.
    expect(page.locator("#boxes a.box .box-name")).to_have_text(["All mail", "w1", "w2", "default"])
    expect(box(page, None)).to_have_attribute("aria-current", "page")
    expect(count(page, None)).to_have_text("3")
    expect(count(page, "w1")).to_have_text("1")
    expect(inbox.rows).to_have_count(3)

    # Counts follow mail that arrives while the page is open.
    send_as(catcher, "w1", "W1 second")
    expect(count(page, "w1")).to_have_text("2")
    expect(count(page, None)).to_have_text("4")

    # Choosing a mailbox shows only its mail, and says so in the address and the title.
    box(page, "w1").click()
    expect(page).to_have_url(re.compile(r"#/box/w1$"))
    expect(box(page, "w1")).to_have_attribute("aria-current", "page")
    expect(page.locator("#list-heading")).to_have_text("w1")
    expect(subjects(inbox)).to_have_text(["W1 second", "W1 first"])
    expect(page).to_have_title("(2) w1 · catcher")
    expect(page.locator("#unread")).to_have_text("2 unread")

    # Live: mail for this mailbox appears in the list; mail for another only in its count.
    send_tagged(catcher, "w2", "W2 second")
    expect(count(page, "w2")).to_have_text("2")
    send_as(catcher, "w1", "W1 live")
    expect(subjects(inbox)).to_have_text(["W1 live", "W1 second", "W1 first"])
    expect(count(page, "w1")).to_have_text("3")

    # A message in two mailboxes says so; its mailboxes are links to it there.
    send_as(catcher, "w1", "Both", to="ada+w2@example.com")
    both = ident(http, "Both")
    inbox.open("Both")
    expect(page).to_have_url(re.compile(rf"#/box/w1/m/{both}$"))
    mailboxes = page.locator("dl.fields div.field:has(dt:text-is('Mailboxes')) dd .chip")
    expect(mailboxes).to_have_text(["w1", "w2"])
    expect(mailboxes.last).to_have_attribute("href", f"#/box/w2/m/{both}")

    # A reload restores the mailbox and the open message; back and forward walk the views.
    page.reload()
    expect(page.locator("#message-subject")).to_have_text("Both")
    expect(box(page, "w1")).to_have_attribute("aria-current", "page")
    expect(subjects(inbox)).to_have_count(4)
    mailboxes.last.click()
    expect(page).to_have_url(re.compile(rf"#/box/w2/m/{both}$"))
    expect(subjects(inbox)).to_have_text(["Both", "W2 second", "W2 first"])
    expect(inbox.row("Both")).to_have_class(re.compile(r"\bopen\b"))
    box(page, None).click()
    expect(page).to_have_url(re.compile(r"#/$"))
    expect(inbox.rows).to_have_count(7)
    page.go_back()
    expect(page).to_have_url(re.compile(rf"#/box/w2/m/{both}$"))
    expect(subjects(inbox)).to_have_count(3)
    expect(page.locator("#message-subject")).to_have_text("Both")
    page.go_back()
    expect(page).to_have_url(re.compile(rf"#/box/w1/m/{both}$"))
    expect(subjects(inbox)).to_have_count(4)
    page.go_forward()
    expect(subjects(inbox)).to_have_count(3)

    # A deep link straight to a mailbox, loaded afresh.
    page.goto(f"{catcher.url}/#/box/w1")
    page.reload()
    expect(page.locator("#list-heading")).to_have_text("w1")
    expect(subjects(inbox)).to_have_count(4)
    expect(page.locator("#message-pane .placeholder")).to_be_visible()

    # m and Shift+M step through the switcher.
    keys = page.keyboard
    keys.press("m")
    expect(page).to_have_url(re.compile(r"#/box/w2$"))
    expect(subjects(inbox)).to_have_count(3)
    expect(page.locator("#list-heading")).to_have_text("w2")
    keys.press("Shift+M")
    expect(page).to_have_url(re.compile(r"#/box/w1$"))
    expect(page.locator("#list-heading")).to_have_text("w1")
    keys.press("Shift+M")
    expect(page).to_have_url(re.compile(r"#/$"))
    expect(inbox.rows).to_have_count(7)
    keys.press("Shift+M")
    expect(page).to_have_url(re.compile(r"#/box/default$"))
    expect(subjects(inbox)).to_have_text(["Unrouted"])

    # On a narrow screen a select picks the mailbox.
    page.set_viewport_size({"width": 700, "height": 800})
    expect(page.locator(".boxes-pane")).to_be_hidden()
    select = page.locator("#box-select")
    expect(select).to_have_value("default")
    select.select_option("w2")
    expect(page).to_have_url(re.compile(r"#/box/w2$"))
    expect(subjects(inbox)).to_have_count(3)
    expect(select.locator("option")).to_have_text(
        ["All mail (6)", "w1 (3)", "w2 (2)", "default (1)"]
    )


@pytest.mark.browser
def test_search_mark_all_read_and_delete_all_act_on_one_mailbox(
    catcher: Catcher, inbox: Inbox, http: Http
) -> None:
    page = inbox.page
    for n in (1, 2):
        send_as(catcher, "w1", f"Invoice {n}")
        send_as(catcher, "w1", f"Hello {n}")
        send_tagged(catcher, "w2", f"Invoice w2 {n}")
    send_as(catcher, "w1", "Shared invoice", to="ada+w2@example.com")
    expect(inbox.rows).to_have_count(7)
    box(page, "w1").click()
    expect(subjects(inbox)).to_have_count(5)

    # Search within the mailbox.
    search = page.locator("#search")
    search.fill("invoice")
    expect(subjects(inbox)).to_have_text(["Shared invoice", "Invoice 2", "Invoice 1"])
    expect(page.locator("#list-status")).to_have_text("3 matches of 5")

    # Mark the matching read: only these, only here.
    with page.expect_response(lambda r: r.request.method == "PATCH") as marked:
        page.locator("#mark-all-read").click()
    assert marked.value.url.endswith("/api/messages?q=invoice&mailbox=w1"), marked.value.url
    assert marked.value.json() == {"matched": 3, "changed": 3, "read": True}
    expect(page.locator("#list a.row.unread")).to_have_count(0)
    expect(count(page, "w1")).to_have_text("2")
    expect(count(page, "w2")).to_have_text("2")  # "Shared invoice" is read there too
    search.fill("")
    expect(subjects(inbox)).to_have_count(5)
    expect(inbox.row("Hello 1")).to_have_class(UNREAD)

    # Shift+I (out of the search box): everything in this mailbox, nothing elsewhere.
    page.keyboard.press("Escape")
    expect(search).not_to_be_focused()
    page.keyboard.press("Shift+I")
    expect(page.locator("#list a.row.unread")).to_have_count(0)
    expect(count(page, "w1")).to_be_hidden()
    expect(count(page, "w2")).to_have_text("2")
    assert http.get("/api/messages?mailbox=w2")["unread"] == 2

    # Delete all asks first, names the mailbox, and leaves other mailboxes' mail alone.
    page.locator("#delete-all").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog.locator("#confirm-title")).to_have_text("Delete all messages in w1?")
    expect(dialog).to_contain_text("All 5 messages in this mailbox will be deleted from it")
    page.locator("#confirm-ok").click()
    expect(page.locator(".empty-list")).to_contain_text("No mail in w1 yet.")
    expect(page).to_have_title("w1 · catcher")
    assert http.get("/api/messages?mailbox=w1")["total"] == 0
    w2 = [m["subject"] for m in http.get("/api/messages?mailbox=w2")["messages"]]
    assert w2 == ["Shared invoice", "Invoice w2 2", "Invoice w2 1"]
    box(page, None).click()
    expect(subjects(inbox)).to_have_text(w2)

    # A flood of mail refreshes the counts a few times, not once per message.
    refreshes: list[str] = []
    page.on("request", lambda r: refreshes.append(r.url) if "/api/mailboxes" in r.url else None)
    envelope = Envelope("flood@example.com", ("ada+w2@example.com",))
    delivery = Delivery("127.0.0.1", "localhost", False, None)
    for n in range(300):
        raw = f"From: flood@example.com\r\nSubject: Flood {n}\r\n\r\nBody {n}\r\n".encode()
        catcher.store.add(raw, envelope, delivery)
    expect(count(page, "w2")).to_have_text("302")
    expect(count(page, None)).to_have_text("302")
    assert len(refreshes) < 10, len(refreshes)


@pytest.mark.browser
def test_links_to_mailboxes_that_are_not_there(
    catcher: Catcher, open_inbox: Callable[..., Inbox], http: Http
) -> None:
    send_as(catcher, "w1", "In w1")
    send_tagged(catcher, "w2", "In w2")
    in_w2 = ident(http, "In w2")
    inbox = open_inbox("/#/box/nope")
    page = inbox.page
    missing = page.locator("#list .empty-list.missing")
    expect(missing).to_contain_text("There is no mailbox nope.")
    expect(missing).to_contain_text("someone+nope@example.com")
    expect(page.locator("#boxes a.box[aria-current]")).to_have_count(0)

    # The first message routed there makes it, and the page shows it.
    send_as(catcher, "nope", "Now it exists")
    expect(subjects(inbox)).to_have_text(["Now it exists"])
    expect(count(page, "nope")).to_have_text("1")

    # A message that is not in the mailbox of the link.
    page.goto(f"{catcher.url}/#/box/w1/m/{in_w2}")
    expect(page.locator("#message-pane .placeholder")).to_contain_text(
        f"There is no message {in_w2} in w1"
    )
    expect(subjects(inbox)).to_have_text(["In w1"])

    # Made and deleted through the API while the page looks at it.
    status, _ = http.json("POST", "/api/mailboxes", {"name": "made", "recipients": ["*@made.test"]})
    assert status == 201
    expect(box(page, "made")).to_be_visible()
    box(page, "made").click()
    expect(page.locator(".empty-list")).to_contain_text("No mail in made yet.")
    send(catcher, make_email(subject="Made mail", to="x@made.test"))
    expect(subjects(inbox)).to_have_text(["Made mail"])
    status, _ = http.json("DELETE", "/api/mailboxes/made")
    assert status == 200
    expect(missing).to_contain_text("Mailbox made was deleted.")
    expect(box(page, "made")).to_have_count(0)

    # A name no mailbox can have is shown as text, never as markup.
    page.goto(f"{catcher.url}/#/box/{quote('<img src=x onerror=alert(1)>')}")
    expect(missing).to_contain_text("“<img src=x onerror=alert(1)>” is not a mailbox name.")
    expect(page.locator("#list img")).to_have_count(0)
    assert inbox.dialogs == []


@pytest.mark.browser
def test_screenshots_with_mailboxes(
    catcher: Catcher, open_inbox: Callable[..., Inbox], http: Http
) -> None:
    """Pictures of the inbox with a mailbox chosen, light, dark and narrow, to look at."""
    for login, subject in (
        ("signup-flow", "Confirm your email address"),
        ("signup-flow", "Welcome to Example"),
        ("billing", "Your invoice INV-2026-0042"),
    ):
        send_as(catcher, login, subject)
    send_tagged(catcher, "password-reset", "Reset your password")
    send(catcher, make_email(subject="Nightly report"))
    http.json("PATCH", f"/api/messages/{ident(http, 'Welcome to Example')}", {"read": True})
    inbox = open_inbox("/#/box/signup-flow")
    page = inbox.page
    expect(subjects(inbox)).to_have_count(2)
    inbox.open("Confirm your email address")
    expect(count(page, "signup-flow")).to_be_hidden()
    shots = [inbox.screenshot("mailboxes-light")]
    page.emulate_media(color_scheme="dark")
    shots.append(inbox.screenshot("mailboxes-dark"))
    page.set_viewport_size({"width": 390, "height": 800})
    page.locator(".back").click()
    expect(page.locator("#box-select")).to_be_visible()
    shots.append(inbox.screenshot("mailboxes-phone-dark"))
    for shot in shots:
        assert shot.stat().st_size > 10_000
