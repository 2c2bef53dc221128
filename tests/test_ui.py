"""The web inbox in headless Chromium: list, live updates, message view, preview, keys."""

from __future__ import annotations

import re
import smtplib
import struct
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import pytest

from catcher.message import Delivery, Envelope
from catcher.server import Catcher
from tests.conftest import Http, make_email, send, smtp_client

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium fixture skips, or fails under CATCHER_REQUIRE_BROWSER=1
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Request, Route

    from tests.browser import Inbox

# The browser fixtures (chromium, open_inbox, inbox) live in tests/browser.py.
pytest_plugins = ["tests.browser"]

STATIC = Path(__file__).resolve().parents[1] / "static"
REMOTE_IMAGE = "https://images.example.test/pixel.png"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, built here so the tests need no image files."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


LOGO = png(48, 24, (37, 99, 235))
PHOTO = png(120, 80, (200, 60, 60))
CSV = b"region,total\nnorth,12\nsouth,30\n"


def rich_email(subject: str = "Quarterly report", html_extra: str = "") -> EmailMessage:
    """Text and HTML bodies, an inline cid: image, two attachments, Cc and Reply-To."""
    message = EmailMessage()
    message["From"] = "Alice Sender <alice@example.com>"
    message["To"] = "Bob Receiver <bob@example.com>"
    message["Cc"] = "carol@example.com"
    message["Reply-To"] = "replies@example.com"
    message["Subject"] = subject
    message["Date"] = "Tue, 03 Mar 2026 10:15:00 +0000"
    message["X-Campaign"] = "spring-2026"
    message.set_content("Hello Bob,\nthe report is attached.\nhttps://example.com/report\n")
    message.add_alternative(
        "<html><head><style>body{font-family:sans-serif} h1{color:#0a6}</style></head><body>"
        '<h1 id="title">Quarterly report</h1>'
        '<p><img id="logo" alt="logo" src="cid:logo@example.com"></p>'
        '<p><a id="link" href="https://example.com/report">Read it online</a></p>'
        f"{html_extra}</body></html>",
        subtype="html",
    )
    message.get_payload()[1].add_related(LOGO, "image", "png", cid="<logo@example.com>")
    message.add_attachment(CSV, maintype="text", subtype="csv", filename="report.csv")
    message.add_attachment(PHOTO, maintype="image", subtype="png", filename="photo.png")
    return message


def send_rich(catcher: Catcher, subject: str = "Quarterly report", html_extra: str = "") -> None:
    recipients = ["bob@example.com", "carol@example.com", "secret@example.com"]
    send(catcher, rich_email(subject, html_extra), to_addrs=recipients)


def remote_email(subject: str) -> EmailMessage:
    message = make_email(subject=subject)
    message.add_alternative(
        f'<p>Tracked</p><img id="pixel" src="{REMOTE_IMAGE}?m={subject}" width="1" height="1">',
        subtype="html",
    )
    return message


def message_id(http: Http, subject: str) -> int:
    listing = http.get(f"/api/messages?subject={quote(subject)}")
    assert listing["matched"] == 1, listing
    ident: int = listing["messages"][0]["id"]
    return ident


# -- the pages' security, checked without a browser ------------------------------------------------


def test_ui_pages_forbid_inline_script(http: Http) -> None:
    for path in ("/", "/static/app.js", "/static/app.css"):
        status, headers, _ = http.request("GET", path)
        assert status == 200, path
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy


def test_ui_code_never_parses_mail_as_html() -> None:
    """Mail text reaches the DOM through textContent: no HTML-parsing sinks in the UI code."""
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|srcdoc|createContextualFragment"
        r"|DOMParser|\beval\(|new Function|setHTML|parseHTMLUnsafe"
    )
    scripts = sorted(STATIC.glob("*.js"))
    assert scripts
    for script in scripts:
        found = sinks.findall(script.read_text())
        assert not found, f"{script.name} uses {found}"
    index = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\ssrc=)", index), "inline <script> in index.html"
    assert not re.search(r"\sstyle\s*=|<style", index), "inline style in index.html"
    assert not re.search(r"\son[a-z]+\s*=", index), "inline event handler in index.html"
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", index), "a remote URL"


def test_preview_iframe_never_gets_scripts() -> None:
    preview = (STATIC / "preview.js").read_text()
    assert 'sandbox: "allow-popups allow-popups-to-escape-sandbox"' in preview
    assert "allow-scripts" not in preview
    assert "allow-same-origin" not in preview


# -- the list --------------------------------------------------------------------------------------


@pytest.mark.browser
def test_a_message_sent_over_smtp_shows_in_the_list(
    catcher: Catcher, open_inbox: Callable[..., Inbox]
) -> None:
    send(catcher, make_email(subject="Older one"))
    send(
        catcher,
        make_email(
            subject="Welcome aboard",
            sender="Alice Example <alice@example.com>",
            to="bob@example.com, Carol <carol@example.com>",
            body="First line of the body.\n",
        ),
    )
    inbox = open_inbox()
    row = inbox.row("Welcome aboard")
    expect(row).to_be_visible()
    expect(inbox.rows.first).to_contain_text("Welcome aboard")  # newest first
    expect(inbox.rows.nth(1)).to_contain_text("Older one")
    expect(row.locator(".from")).to_have_text("Alice Example")
    expect(row.locator(".to")).to_have_text("To bob@example.com, Carol")
    expect(row.locator(".snippet")).to_contain_text("First line of the body.")
    expect(row.locator(".size")).to_have_text(re.compile(r"^\d+ B$"))
    expect(row).to_have_class(re.compile(r"\bunread\b"))
    expect(row.locator(".clip")).to_have_count(0)
    when = row.locator("time")
    expect(when).to_have_text("just now")
    expect(when).to_have_attribute("title", re.compile(str(datetime.now(UTC).year)))
    expect(inbox.page).to_have_title("(2) catcher")
    expect(inbox.page.locator("#unread")).to_have_text("2 unread")
    expect(inbox.page.locator("#list-status")).to_have_text("2 messages")


@pytest.mark.browser
def test_attachments_are_marked_in_the_list(catcher: Catcher, inbox: Inbox) -> None:
    send_rich(catcher)
    row = inbox.row("Quarterly report")
    expect(row.locator(".clip")).to_have_attribute("title", "2 attachments")
    expect(row.locator(".size")).to_have_text(re.compile(r"^\d+(\.\d)? KB$"))


@pytest.mark.browser
def test_mail_sent_while_the_page_is_open_appears_without_a_reload(
    catcher: Catcher, inbox: Inbox
) -> None:
    page = inbox.page
    expect(page.locator(".empty-list")).to_contain_text("No mail yet")
    page.evaluate("window.__sameDocument = true")
    send(catcher, make_email(subject="Arrived live"))
    expect(inbox.row("Arrived live")).to_be_visible()
    expect(page).to_have_title("(1) catcher")
    send(catcher, make_email(subject="Second live"))
    expect(inbox.rows.first).to_contain_text("Second live")
    expect(page).to_have_title("(2) catcher")
    assert page.evaluate("window.__sameDocument") is True


@pytest.mark.browser
def test_deletions_elsewhere_reach_the_page(catcher: Catcher, inbox: Inbox, http: Http) -> None:
    send(catcher, make_email(subject="Short-lived"))
    send(catcher, make_email(subject="Stays"))
    expect(inbox.rows).to_have_count(2)
    status, _ = http.json("DELETE", f"/api/messages/{message_id(http, 'Short-lived')}")
    assert status == 200
    expect(inbox.rows).to_have_count(1)
    expect(inbox.row("Stays")).to_be_visible()
    status, _ = http.json("DELETE", "/api/messages")
    assert status == 200
    expect(inbox.rows).to_have_count(0)
    expect(inbox.page).to_have_title("catcher")


@pytest.mark.browser
def test_the_event_stream_reconnects_by_itself(
    catcher: Catcher, open_inbox: Callable[..., Inbox]
) -> None:
    inbox = open_inbox(None)
    page = inbox.page
    refusals: list[str] = []

    def refuse(route: Route) -> None:
        refusals.append(route.request.url)
        route.fulfill(status=503, body="catcher is restarting")

    page.route("**/api/events*", refuse)
    page.goto(catcher.url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    expect(page.locator(".empty-list")).to_contain_text("No mail yet")  # the list, stream or not
    page.unroute("**/api/events*")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    assert refusals
    send(catcher, make_email(subject="After the outage"))
    expect(inbox.row("After the outage")).to_be_visible()


@pytest.mark.browser
def test_the_list_loads_once_at_start(catcher: Catcher, open_inbox: Callable[..., Inbox]) -> None:
    inbox = open_inbox(None)
    page = inbox.page
    loads: list[str] = []

    def record(request: Request) -> None:
        if request.method == "GET" and urlsplit(request.url).path == "/api/messages":
            loads.append(request.url)

    page.on("request", record)
    inbox.goto()
    expect(page.locator(".empty-list")).to_contain_text("No mail yet")
    # Requests are reported in the order they are made: once this one is in, so is any load
    # the start made.
    with page.expect_request(f"{catcher.url}/static/icon.svg?after-start"):
        page.evaluate("fetch('/static/icon.svg?after-start')")
    assert len(loads) == 1, loads


@pytest.mark.browser
def test_a_flood_of_mail_settles_on_the_right_page(catcher: Catcher, inbox: Inbox) -> None:
    envelope = Envelope("flood@example.com", ("rcpt@example.com",))
    delivery = Delivery("127.0.0.1", "localhost", False, None)
    for n in range(300):
        raw = f"From: flood@example.com\r\nSubject: Flood {n}\r\n\r\nBody {n}\r\n".encode()
        catcher.store.add(raw, envelope, delivery)
    expect(inbox.rows.first).to_contain_text("Flood 299")
    expect(inbox.rows).to_have_count(50)
    expect(inbox.rows.last).to_contain_text("Flood 250")
    expect(inbox.page.locator("#list-status")).to_have_text("300 messages")
    expect(inbox.page).to_have_title("(300) catcher")


@pytest.mark.browser
def test_ten_thousand_messages_stay_fast(
    make_catcher: Callable[..., Catcher], open_inbox: Callable[..., Inbox]
) -> None:
    big = make_catcher(max_messages=20_000)
    envelope = Envelope("load@example.com", ("rcpt@example.com",))
    delivery = Delivery("127.0.0.1", "localhost", False, None)
    for n in range(10_000):
        raw = (
            f"From: Sender {n} <s{n}@example.com>\r\nTo: rcpt@example.com\r\n"
            f"Subject: Message {n}\r\n\r\nBody {n}\r\n"
        ).encode()
        big.store.add(raw, envelope, delivery)
    started = time.monotonic()
    inbox = open_inbox(target=big)
    expect(inbox.rows.first).to_contain_text("Message 9999")
    elapsed = time.monotonic() - started
    # One page in the DOM, however many are stored.
    expect(inbox.rows).to_have_count(50)
    expect(inbox.page.locator("#page-info")).to_have_text("1–50 of 10,000 messages")
    inbox.page.locator("#page-older").click()
    expect(inbox.rows.first).to_contain_text("Message 9949")
    expect(inbox.page.locator("#page-info")).to_have_text("51–100 of 10,000 messages")
    inbox.page.keyboard.press("[")
    expect(inbox.rows.first).to_contain_text("Message 9999")
    assert elapsed < 10, f"the first page took {elapsed:.1f} s"


# -- actions ---------------------------------------------------------------------------------------


@pytest.mark.browser
def test_search_uses_the_api_filters(catcher: Catcher, inbox: Inbox) -> None:
    send(catcher, make_email(subject="Invoice 1", sender="billing@shop.example"))
    send(catcher, make_email(subject="Hello there", body="a word: pineapple\n"))
    send(catcher, make_email(subject="Invoice 2", sender="billing@shop.example", to="ceo@ex.com"))
    expect(inbox.rows).to_have_count(3)
    search = inbox.page.locator("#search")
    search.fill("from:billing")
    expect(inbox.rows).to_have_count(2)
    expect(inbox.page.locator("#list-status")).to_have_text("2 matches of 3")
    search.fill("pineapple")
    expect(inbox.rows).to_have_count(1)
    expect(inbox.row("Hello there")).to_be_visible()
    search.fill('subject:"invoice 2" to:ceo')
    expect(inbox.rows).to_have_count(1)
    expect(inbox.row("Invoice 2")).to_be_visible()
    search.fill("billing -subject:2")
    expect(inbox.rows).to_have_count(1)
    expect(inbox.row("Invoice 1")).to_be_visible()
    search.fill("nothing-matches-this")
    expect(inbox.page.locator(".empty-list")).to_contain_text("No messages match")
    search.fill("")
    expect(inbox.rows).to_have_count(3)


@pytest.mark.browser
def test_opening_marks_read_and_the_switch_marks_unread(
    catcher: Catcher, inbox: Inbox, http: Http
) -> None:
    send(catcher, make_email(subject="Read me"))
    ident = message_id(http, "Read me")
    page = inbox.page
    with page.expect_request(lambda r: r.method == "PATCH") as patched:
        inbox.open("Read me")
    assert patched.value.post_data_json == {"read": True}
    assert patched.value.url.endswith(f"/api/messages/{ident}")
    expect(inbox.row("Read me")).not_to_have_class(re.compile(r"\bunread\b"))
    expect(page).to_have_title("catcher")
    assert http.get(f"/api/messages/{ident}")["read"] is True
    button = page.locator("#toggle-read")
    expect(button).to_have_text("Mark unread")
    with page.expect_response(lambda r: r.request.method == "PATCH"):
        button.click()
    expect(button).to_have_text("Mark read")
    expect(inbox.row("Read me")).to_have_class(re.compile(r"\bunread\b"))
    expect(page).to_have_title("(1) catcher")
    assert http.get(f"/api/messages/{ident}")["read"] is False


@pytest.mark.browser
def test_delete_one_message(catcher: Catcher, inbox: Inbox, http: Http) -> None:
    send(catcher, make_email(subject="Keep me"))
    send(catcher, make_email(subject="Bin me"))
    inbox.open("Bin me")
    inbox.page.locator("#delete-message").click()
    expect(inbox.row("Bin me")).to_have_count(0)
    expect(inbox.page.locator("#message-pane .placeholder")).to_contain_text("deleted")
    assert [m["subject"] for m in http.get("/api/messages")["messages"]] == ["Keep me"]


@pytest.mark.browser
def test_delete_all_asks_first(catcher: Catcher, inbox: Inbox, http: Http) -> None:
    for n in range(3):
        send(catcher, make_email(subject=f"Bulk {n}"))
    expect(inbox.rows).to_have_count(3)
    page = inbox.page
    dialog = page.locator("#confirm-dialog")
    page.locator("#delete-all").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("All 3 messages will be deleted")
    page.locator("#confirm-cancel").click()
    expect(dialog).to_be_hidden()
    assert http.get("/api/messages")["total"] == 3
    page.locator("#delete-all").click()
    page.locator("#confirm-ok").click()
    expect(inbox.rows).to_have_count(0)
    assert http.get("/api/messages")["total"] == 0
    assert inbox.dialogs == []  # our own <dialog>, never window.confirm


# -- the message view ------------------------------------------------------------------------------


@pytest.mark.browser
def test_message_view_shows_every_field_and_tab(catcher: Catcher, inbox: Inbox, http: Http) -> None:
    send_rich(catcher)
    ident = message_id(http, "Quarterly report")
    page = inbox.page
    inbox.open("Quarterly report")
    fields = page.locator("dl.fields")
    fields_text = {
        name: fields.locator(f"div.field:has(dt:text-is('{name}')) dd").inner_text()
        for name in ("From", "To", "Cc", "Bcc", "Reply-To", "Date", "Envelope", "SMTP")
    }
    assert fields_text["From"] == "Alice Sender <alice@example.com>"
    assert fields_text["To"] == "Bob Receiver <bob@example.com>"
    assert fields_text["Cc"] == "carol@example.com"
    assert fields_text["Bcc"] == "secret@example.com"  # only in the envelope
    assert fields_text["Reply-To"] == "replies@example.com"
    assert "2026" in fields_text["Date"]
    assert "secret@example.com" in fields_text["Envelope"]
    assert "No TLS" in fields_text["SMTP"] and "No auth" in fields_text["SMTP"]
    expect(page.locator(".defects")).to_have_count(0)

    # HTML: a sandboxed iframe pointed at the API, never srcdoc, never scripts.
    expect(page.locator("#tab-html")).to_have_attribute("aria-selected", "true")
    frame_el = inbox.preview
    expect(frame_el).to_have_attribute("sandbox", "allow-popups allow-popups-to-escape-sandbox")
    expect(frame_el).to_have_attribute(
        "src", f"/api/messages/{ident}/html?block_remote=1&scheme=light"
    )
    assert frame_el.get_attribute("srcdoc") is None
    frame = inbox.preview_frame()
    expect(frame.locator("#title")).to_have_text("Quarterly report")
    expect(frame.locator("#link")).to_have_attribute("href", "https://example.com/report")
    assert frame.locator("base").get_attribute("target") == "_blank"  # links open a new tab

    text = inbox.tab("Text")
    expect(text.locator("pre")).to_contain_text("the report is attached.")
    expect(text.locator("a")).to_have_attribute("href", "https://example.com/report")
    expect(text.locator("a")).to_have_attribute("target", "_blank")

    source = inbox.tab("Source")
    raw = http.request("GET", f"/api/messages/{ident}/raw")[2].decode()
    expect(source.locator("pre")).to_contain_text("Subject: Quarterly report")
    expect(source.locator("pre")).to_have_text(raw.replace("\r\n", "\n"))

    headers = inbox.tab("Headers")
    table_rows = headers.locator("tbody tr")
    expect(table_rows.filter(has_text="X-Campaign")).to_contain_text("spring-2026")
    headers.locator("#header-filter").fill("campaign")
    expect(headers.locator("tbody tr:visible")).to_have_count(1)
    expect(headers.locator("tbody tr:visible th")).to_have_text("X-Campaign")
    headers.locator("#header-filter").fill("")
    expect(headers.locator("tbody tr:visible")).to_have_count(table_rows.count())

    parts = inbox.tab("Parts")
    csv = parts.locator(".part", has_text="report.csv")
    expect(csv).to_contain_text("text/csv")
    expect(csv).to_contain_text(f"{len(CSV)} B")
    expect(csv).to_contain_text("attachment")
    logo = parts.locator(".part", has_text="cid:logo@example.com")
    expect(logo).to_contain_text("image/png")
    photo_thumb = parts.locator(".part", has_text="photo.png").locator("img")
    expect(photo_thumb).to_have_js_property("complete", True)
    assert photo_thumb.evaluate("img => img.naturalWidth") == 120


@pytest.mark.browser
def test_downloads_have_the_right_bytes(catcher: Catcher, inbox: Inbox, http: Http) -> None:
    send_rich(catcher)
    ident = message_id(http, "Quarterly report")
    page = inbox.page
    inbox.open("Quarterly report")
    parts = inbox.tab("Parts")
    for name, content in (("report.csv", CSV), ("photo.png", PHOTO)):
        with page.expect_download() as info:
            parts.get_by_role("link", name=f"Download {name}").click()
        download = info.value
        assert download.suggested_filename == name
        assert Path(download.path()).read_bytes() == content
    with page.expect_download() as info:
        page.locator("#download-eml").click()
    assert info.value.suggested_filename == f"{ident}.eml"
    raw = http.request("GET", f"/api/messages/{ident}/raw")[2]
    assert Path(info.value.path()).read_bytes() == raw


@pytest.mark.browser
def test_an_inline_cid_image_renders(catcher: Catcher, inbox: Inbox) -> None:
    send_rich(catcher)
    inbox.open("Quarterly report")
    frame = inbox.preview_frame()
    logo = frame.locator("#logo")
    # The API points cid: at the part (or inlines it as a data: URI): never a remote URL.
    expect(logo).to_have_attribute(
        "src", re.compile(r"^(/api/messages/\d+/parts/|data:image/png;base64,)")
    )
    expect(logo).to_have_js_property("complete", True)
    assert logo.evaluate("img => img.naturalWidth") == 48


@pytest.mark.browser
def test_parse_defects_are_shown(catcher: Catcher, inbox: Inbox) -> None:
    raw = (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Broken MIME\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="zzz"\r\n\r\n'
        b"--zzz\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"not*valid*base64!!\r\n"
    )
    with smtp_client(catcher) as client:
        client.sendmail("a@example.com", ["b@example.com"], raw)
    expect(inbox.row("Broken MIME").locator(".defect-mark")).to_be_visible()
    inbox.open("Broken MIME")
    defects = inbox.page.locator(".defects")
    expect(defects).to_be_visible()
    expect(defects.locator("h2")).to_contain_text("problems found while parsing")
    expect(defects.locator("li").first).to_contain_text("missing closing boundary")


# -- the HTML preview ------------------------------------------------------------------------------


def _frame_width(inbox: Inbox) -> float:
    box = inbox.preview.bounding_box()
    assert box is not None
    return box["width"]


@pytest.mark.browser
def test_width_presets_and_drag_change_only_the_preview(catcher: Catcher, inbox: Inbox) -> None:
    send_rich(catcher)
    inbox.open("Quarterly report")
    page = inbox.page
    stage = page.locator(".stage")
    stage_before = stage.bounding_box()
    bar_before = page.locator(".preview-bar").bounding_box()
    for width in (320, 375, 768, 1024):
        button = page.locator(f".seg[data-width='{width}']")
        button.click()
        expect(button).to_have_attribute("aria-pressed", "true")
        page.wait_for_function(
            "w => document.querySelector('iframe.preview-frame')"
            ".getBoundingClientRect().width === w",
            arg=width,
        )
        expect(page.locator(".readout")).to_have_text(f"{width} px")
        # The layout around the preview holds still.
        assert stage.bounding_box() == stage_before
        assert page.locator(".preview-bar").bounding_box() == bar_before
    page.locator(".seg[data-width='full']").click()
    stage_box = stage.bounding_box()
    assert stage_box is not None
    page.wait_for_function(
        "w => document.querySelector('iframe.preview-frame').getBoundingClientRect().width > w",
        arg=1024 if stage_box["width"] > 1060 else stage_box["width"] - 60,
    )

    # Drag the handle: the frame is centred, so it grows by twice the pointer's travel.
    page.locator(".seg[data-width='375']").click()
    page.wait_for_function(
        "() => document.querySelector('iframe.preview-frame').getBoundingClientRect().width === 375"
    )
    handle = page.locator(".resize-handle").bounding_box()
    assert handle is not None
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 50, y, steps=5)
    page.mouse.up()
    assert _frame_width(inbox) == pytest.approx(475, abs=2)
    expect(page.locator(".seg[data-width][aria-pressed='true']")).to_have_count(0)
    assert stage.bounding_box() == stage_before

    # The handle works from the keyboard too.
    page.locator(".resize-handle").focus()
    page.keyboard.press("ArrowLeft")
    assert _frame_width(inbox) == pytest.approx(465, abs=2)


@pytest.mark.browser
def test_remote_content_is_blocked_per_message_until_shown(catcher: Catcher, inbox: Inbox) -> None:
    fetched: list[str] = []

    def serve_pixel(route: Route) -> None:
        fetched.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=png(3, 2, (0, 0, 0)))

    page = inbox.page
    page.context.route("https://images.example.test/**", serve_pixel)
    send(catcher, remote_email("Tracked one"))
    send(catcher, remote_email("Tracked two"))

    inbox.open("Tracked one")
    expect(page.locator(".remote-count")).to_have_text("1 remote resource blocked")
    pixel = inbox.preview_frame().locator("#pixel")
    expect(pixel).to_have_js_property("complete", True)
    assert pixel.evaluate("img => img.naturalWidth") == 0
    assert fetched == []

    page.locator("#remote-toggle").click()
    expect(page.locator(".remote-count")).to_have_text("Remote content shown (1 resource)")
    expect(inbox.preview).to_have_attribute("src", re.compile(r"/html\?scheme=light$"))
    pixel = inbox.preview_frame().locator("#pixel")
    expect(pixel).to_have_js_property("naturalWidth", 3)
    assert fetched == [f"{REMOTE_IMAGE}?m=Tracked%20one"]

    # Another message keeps the default: blocked.
    inbox.open("Tracked two")
    expect(page.locator(".remote-count")).to_have_text("1 remote resource blocked")
    pixel = inbox.preview_frame().locator("#pixel")
    expect(pixel).to_have_js_property("complete", True)
    assert pixel.evaluate("img => img.naturalWidth") == 0
    # ... and the first remembers its choice.
    inbox.open("Tracked one")
    expect(page.locator(".remote-count")).to_have_text("Remote content shown (1 resource)")
    assert len(fetched) == 1 or all("Tracked%20one" in url for url in fetched)


# -- keyboard --------------------------------------------------------------------------------------


@pytest.mark.browser
def test_keyboard_shortcuts(catcher: Catcher, inbox: Inbox, http: Http) -> None:
    for n in range(1, 4):
        send(catcher, make_email(subject=f"Key {n}", body=f"Body of key {n}\n"))
    send_rich(catcher, subject="Key rich")
    page = inbox.page
    keys = page.keyboard
    expect(inbox.rows).to_have_count(4)
    cursor = page.locator("#list a.row.cursor")

    keys.press("j")
    expect(cursor).to_contain_text("Key rich")
    expect(cursor).to_be_focused()
    keys.press("j")
    expect(cursor).to_contain_text("Key 3")
    keys.press("ArrowDown")
    expect(cursor).to_contain_text("Key 2")
    keys.press("k")
    keys.press("ArrowUp")
    expect(cursor).to_contain_text("Key rich")

    keys.press("Enter")
    expect(page.locator("#message-subject")).to_have_text("Key rich")
    expect(page).to_have_url(re.compile(r"#/m/\d+$"))
    for key, tab in (
        ("2", "text"),
        ("3", "source"),
        ("4", "headers"),
        ("5", "parts"),
        ("6", "check"),
        ("1", "html"),
    ):
        keys.press(key)
        expect(page.locator(f"#tab-{tab}")).to_have_attribute("aria-selected", "true")
    keys.press("b")
    expect(page.locator("#remote-toggle")).to_have_attribute("aria-pressed", "true")
    keys.press("b")
    expect(page.locator("#remote-toggle")).to_have_attribute("aria-pressed", "false")

    # With a message open, j and k read the next and previous ones.
    keys.press("j")
    expect(page.locator("#message-subject")).to_have_text("Key 3")
    keys.press("u")
    expect(inbox.row("Key 3")).to_have_class(re.compile(r"\bunread\b"))
    keys.press("Escape")
    expect(page.locator("#message-pane .placeholder")).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/$"))

    # Delete removes the selected message.
    expect(cursor).to_contain_text("Key 3")
    keys.press("Delete")
    expect(inbox.row("Key 3")).to_have_count(0)
    expect(cursor).to_contain_text("Key 2")
    assert http.get("/api/messages")["total"] == 3

    keys.press("/")
    expect(page.locator("#search")).to_be_focused()
    keys.type("Key 1")
    expect(inbox.rows).to_have_count(1)
    keys.press("Escape")
    expect(page.locator("#search")).not_to_be_focused()

    keys.press("?")
    help_dialog = page.locator("#help-dialog")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Next (older) message")
    keys.press("Escape")
    expect(help_dialog).to_be_hidden()


@pytest.mark.browser
def test_backspace_deletes_nothing_and_delete_still_does(
    catcher: Catcher, inbox: Inbox, http: Http
) -> None:
    send(catcher, make_email(subject="Backspaced"))
    send(catcher, make_email(subject="Deleted"))
    deleted = message_id(http, "Deleted")
    page = inbox.page
    deletes: list[str] = []
    page.on("request", lambda r: deletes.append(r.url) if r.method == "DELETE" else None)
    cursor = page.locator("#list a.row.cursor .subject")
    inbox.row("Backspaced").focus()
    expect(cursor).to_have_text("Backspaced")
    page.keyboard.press("Backspace")
    inbox.row("Deleted").focus()
    expect(cursor).to_have_text("Deleted")
    page.keyboard.press("Delete")
    expect(inbox.row("Deleted")).to_have_count(0)
    # Requests are reported in the order they are made, so a DELETE from Backspace is in.
    assert deletes == [f"{catcher.url}/api/messages/{deleted}"]
    expect(inbox.row("Backspaced")).to_be_visible()
    assert [m["subject"] for m in http.get("/api/messages")["messages"]] == ["Backspaced"]


@pytest.mark.browser
def test_keys_not_in_the_help_table_are_left_alone(
    catcher: Catcher, inbox: Inbox, http: Http
) -> None:
    send(catcher, make_email(subject="Untouched"))
    page = inbox.page
    inbox.row("Untouched").focus()
    # Runs after the inbox's handler (on document), so it sees whether that took the key.
    page.evaluate(
        """() => {
          window.__keys = [];
          window.addEventListener("keydown", (e) => {
            if (e.key !== "Shift") __keys.push([e.key, e.defaultPrevented]);
          });
        }"""
    )
    # (what is pressed, the event.key it makes)
    strangers = [
        ("Backspace", "Backspace"),
        ("Shift+Backspace", "Backspace"),
        ("x", "x"),
        ("Shift+J", "J"),
        ("Shift+U", "U"),
        ("End", "End"),
        ("0", "0"),
        ("7", "7"),
    ]
    for press, _ in strangers:
        page.keyboard.press(press)
    page.keyboard.press("g")  # in the table: taken
    taken = [[key, False] for _, key in strangers] + [["g", True]]
    assert page.evaluate("window.__keys") == taken
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(inbox.row("Untouched")).to_have_class(re.compile(r"\bunread\b"))
    assert http.get("/api/messages")["total"] == 1


# The help dialog's names for keys that Playwright spells otherwise.
PLAYWRIGHT_KEYS = {"↓": "ArrowDown", "↑": "ArrowUp", "Esc": "Escape"}
TABS = ["html", "text", "source", "headers", "parts", "check"]


@pytest.mark.browser
def test_every_key_in_the_help_dialog_does_what_it_says(
    catcher: Catcher, open_inbox: Callable[..., Inbox], http: Http
) -> None:
    """Read the table the help dialog shows, press each of its keys, see each one work."""
    envelope = Envelope("filler@example.com", ("rcpt@example.com",))
    delivery = Delivery("127.0.0.1", "localhost", False, None)
    for n in range(60):  # more than a page, for [ and ]
        raw = f"From: filler@example.com\r\nSubject: Filler {n}\r\n\r\nBody {n}\r\n".encode()
        catcher.store.add(raw, envelope, delivery)
    send_rich(catcher, subject="Key rich")  # the newest: first on the page
    inbox = open_inbox()
    page = inbox.page
    keys = page.keyboard
    help_dialog = page.locator("#help-dialog")
    page.locator("#help-button").click()
    expect(help_dialog).to_be_visible()
    table = [
        (row.locator("kbd").all_inner_texts(), row.locator("td").last.inner_text())
        for row in help_dialog.locator("tr").all()
    ]
    page.locator("#help-close").click()
    expect(help_dialog).to_be_hidden()

    cursor = page.locator("#list a.row.cursor .subject")
    heading = page.locator("#message-subject")
    placeholder = page.locator("#message-pane .placeholder")
    search = page.locator("#search")
    info = page.locator("#page-info")
    unread = re.compile(r"\bunread\b")
    victims = iter(["Filler 40", "Filler 39"])

    def select(subject: str) -> None:
        inbox.row(subject).focus()  # a focused row is the cursor
        expect(cursor).to_have_text(subject)

    def close() -> None:
        page.locator(".brand").click()  # a link to #/, the list
        expect(placeholder).to_be_visible()

    def moves_down(key: str) -> None:
        select("Filler 58")
        keys.press(key)
        expect(cursor).to_have_text("Filler 57")

    def moves_up(key: str) -> None:
        select("Filler 57")
        keys.press(key)
        expect(cursor).to_have_text("Filler 58")

    def opens(key: str) -> None:
        select("Filler 57")
        # From the page, not the row: a focused row is a link and opens itself.
        page.evaluate("document.activeElement.blur()")
        keys.press(key)
        expect(heading).to_have_text("Filler 57")
        expect(page).to_have_url(re.compile(r"#/m/\d+$"))
        close()

    def goes_back(key: str) -> None:
        inbox.open("Filler 56")
        keys.press(key)
        expect(placeholder).to_be_visible()
        expect(page).to_have_url(re.compile(r"#/$"))
        search.focus()
        keys.press(key)
        expect(search).not_to_be_focused()

    def deletes(key: str) -> None:
        victim = next(victims)
        select(victim)
        keys.press(key)
        expect(inbox.row(victim)).to_have_count(0)
        assert http.get(f"/api/messages?subject={quote(victim)}")["matched"] == 0

    def asks_to_delete_all(key: str) -> None:
        total = http.get("/api/messages")["total"]
        # The count the dialog quotes is the list's, refreshed just after a deletion.
        expect(page.locator("#list-status")).to_have_text(f"{total} messages")
        select("Filler 55")
        keys.press(key)
        confirm = page.locator("#confirm-dialog")
        expect(confirm).to_be_visible()
        expect(confirm).to_contain_text(f"All {total} messages will be deleted")
        page.locator("#confirm-cancel").click()
        expect(confirm).to_be_hidden()
        assert http.get("/api/messages")["total"] == total

    def toggles_read(key: str) -> None:
        select("Filler 54")
        expect(inbox.row("Filler 54")).to_have_class(unread)
        keys.press(key)
        expect(inbox.row("Filler 54")).not_to_have_class(unread)

    def marks_all_read(key: str) -> None:
        select("Filler 53")
        expect(inbox.row("Filler 53")).to_have_class(unread)
        keys.press(key)
        expect(page.locator("#list a.row.unread")).to_have_count(0)
        expect(page).to_have_title("catcher")
        assert http.get("/api/messages")["unread"] == 0

    def steps_through_mailboxes(key: str) -> None:
        # All mail, then every mailbox (here "default" at least); Shift+M wraps to the last.
        expect(page).to_have_url(re.compile(r"/(#/)?$"))
        keys.press(key)
        expect(page).to_have_url(re.compile(r"#/box/[\w.-]+$"))
        expect(page.locator("#list-heading")).not_to_have_text("All mail")
        expect(page.locator("#boxes a.box[aria-current]")).not_to_have_class(re.compile(r"\ball\b"))
        close()
        expect(page.locator("#list-heading")).to_have_text("All mail")

    def searches(key: str) -> None:
        select("Filler 54")
        keys.press(key)
        expect(search).to_be_focused()
        expect(search).to_have_value("")
        search.blur()

    def selects_a_tab(key: str) -> None:
        inbox.open("Key rich")
        index = int(key) - 1
        other = page.locator(f"#tab-{TABS[(index + 1) % len(TABS)]}")
        other.click()
        expect(other).to_have_attribute("aria-selected", "true")
        keys.press(key)
        expect(page.locator(f"#tab-{TABS[index]}")).to_have_attribute("aria-selected", "true")
        close()

    def flips_remote(key: str) -> None:
        inbox.open("Key rich")
        toggle = page.locator("#remote-toggle")
        expect(toggle).to_have_attribute("aria-pressed", "false")
        keys.press(key)
        expect(toggle).to_have_attribute("aria-pressed", "true")
        close()

    def goes_to_first(key: str) -> None:
        select("Filler 50")
        keys.press(key)
        expect(cursor).to_have_text("Key rich")

    def turns_the_page(key: str) -> None:
        if key == "[":
            page.locator("#page-older").click()
            expect(info).to_have_text(re.compile(r"^51–"))
        else:
            select("Filler 50")
        keys.press(key)
        expect(info).to_have_text(re.compile(r"^1–50 of" if key == "[" else r"^51–"))
        if key == "]":
            page.locator("#page-newer").click()
            expect(info).to_have_text(re.compile(r"^1–50 of"))

    def shows_help(key: str) -> None:
        keys.press(key)
        expect(help_dialog).to_be_visible()
        page.locator("#help-close").click()
        expect(help_dialog).to_be_hidden()

    checks = {
        "Next (older) message": moves_down,
        "Previous (newer) message": moves_up,
        "Open the selected message": opens,
        "Back to the list; leave the search box": goes_back,
        "Delete the selected message": deletes,
        "Delete all (or all matching), after asking": asks_to_delete_all,
        "Mark read / unread": toggles_read,
        "Mark all (or all matching) read in this mailbox": marks_all_read,
        "Next / previous mailbox": steps_through_mailboxes,
        "Search (words, from: to: subject: is:unread has:attachment, -word to leave out)": searches,
        "HTML, Text, Source, Headers, Parts, Check": selects_a_tab,
        "Block or show remote content in this message": flips_remote,
        "First message on the page": goes_to_first,
        "Newer / older page": turns_the_page,
        "Show these shortcuts": shows_help,
    }
    assert sorted(text for _, text in table) == sorted(checks), "a shortcut this test does not know"
    for shown_keys, text in table:
        assert shown_keys, text
        for shown in shown_keys:
            checks[text](PLAYWRIGHT_KEYS.get(shown, shown))


@pytest.mark.browser
def test_theme_toggle_and_notifications_are_remembered(inbox: Inbox) -> None:
    page = inbox.page
    root = page.locator("html")
    toggle = page.locator("#theme-toggle")
    expect(root).not_to_have_attribute("data-theme", re.compile("."))
    toggle.click()
    expect(root).to_have_attribute("data-theme", "light")
    toggle.click()
    expect(root).to_have_attribute("data-theme", "dark")
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(20, 23, 27)"  # the dark palette, whatever the system says
    page.reload()
    expect(root).to_have_attribute("data-theme", "dark")  # set before the first paint
    page.locator("#theme-toggle").click()
    expect(root).not_to_have_attribute("data-theme", re.compile("."))

    page.context.grant_permissions(["notifications"])
    bell = page.locator("#notify-toggle")
    expect(bell).to_have_attribute("aria-pressed", "false")
    bell.click()
    expect(bell).to_have_attribute("aria-pressed", "true")
    page.reload()
    expect(page.locator("#notify-toggle")).to_have_attribute("aria-pressed", "true")
    page.locator("#notify-toggle").click()
    expect(page.locator("#notify-toggle")).to_have_attribute("aria-pressed", "false")


# -- screenshots -----------------------------------------------------------------------------------


@pytest.mark.browser
def test_screenshots(catcher: Catcher, open_inbox: Callable[..., Inbox], http: Http) -> None:
    """Pictures of the list and a message, light, dark and phone, for people to look at."""
    senders = [
        ("Build Bot <ci@builds.example>", "Build #1289 passed on main"),
        ("Dana Whitfield <dana@example.com>", "Re: Lunch on Thursday?"),
        ("Billing <no-reply@shop.example>", "Your invoice INV-2026-0042"),
        ("Security <security@accounts.example>", "New sign-in from Firefox on Linux"),
    ]
    for sender, subject in senders:
        send(
            catcher,
            make_email(subject=subject, sender=sender, body=f"{subject}.\n\nDetails inside."),
        )
    send_rich(
        catcher,
        subject="Spring newsletter: 30% off everything",
        html_extra=f'<img src="{REMOTE_IMAGE}" width="1" height="1">',
    )
    ident = message_id(http, "Spring newsletter")
    http.json("PATCH", f"/api/messages/{message_id(http, 'Lunch on Thursday')}", {"read": True})
    shots = []
    for scheme in ("light", "dark"):
        inbox = open_inbox(color_scheme=scheme)
        expect(inbox.rows).to_have_count(5)
        shots.append(inbox.screenshot(f"list-{scheme}"))
        inbox.open("Spring newsletter: 30% off everything")
        inbox.preview_frame()
        shots.append(inbox.screenshot(f"message-{scheme}"))
    phone = open_inbox(phone=True)
    expect(phone.rows).to_have_count(5)
    shots.append(phone.screenshot("phone-list"))
    phone.page.goto(f"{catcher.url}/#/m/{ident}")
    expect(phone.page.locator("#message-subject")).to_be_visible()
    expect(phone.page.locator(".list-pane")).to_be_hidden()
    phone.preview_frame()
    shots.append(phone.screenshot("phone-message"))
    phone.page.locator(".back").click()
    expect(phone.page.locator(".list-pane")).to_be_visible()
    for shot in shots:
        assert shot.stat().st_size > 10_000


# -- failures on purpose -----------------------------------------------------------------------


@pytest.mark.browser
def test_fault_rules_show_in_a_banner_that_clears_them(
    catcher: Catcher, inbox: Inbox, http: Http
) -> None:
    banner = inbox.page.locator("#fault-banner")
    expect(banner).to_be_hidden()
    status, rule = http.json(
        "POST",
        "/api/faults",
        {
            "stage": "rcpt",
            "match": {"to": "ada@example.com"},
            "reply": "451 4.3.0 Try later",
            "times": 2,
        },
    )
    assert status == 201
    expect(banner).to_be_visible()  # pushed by the event stream: no reload
    expect(inbox.page.locator("#fault-text")).to_have_text(
        "1 fault rule is in force: some mail will fail on purpose."
    )
    expect(inbox.page.locator("#fault-rules li")).to_have_text(
        f"#{rule['id']} rcpt to=ada@example.com → 451 4.3.0 Try later (2 left, fired 0)"
    )
    inbox.page.locator("#fault-clear").click()
    expect(banner).to_be_hidden()
    assert http.get("/api/faults")["faults"] == []


@pytest.mark.browser
def test_the_smtp_log_shows_each_conversation(catcher: Catcher, inbox: Inbox, http: Http) -> None:
    http.json(
        "POST",
        "/api/faults",
        {"stage": "rcpt", "match": {"to": "*@bounce.test"}, "reply": "550 5.1.1 No such user"},
    )
    with smtp_client(catcher) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("app@shop.test", ["gone@bounce.test"], b"Subject: x\r\n\r\ny\r\n")
    inbox.page.locator("#sessions-button").click()
    dialog = inbox.page.locator("#sessions-dialog")
    expect(dialog).to_be_visible()
    transcript = dialog.locator(".transcript").first
    expect(transcript).to_contain_text("C: RCPT TO:<gone@bounce.test>")
    expect(transcript).to_contain_text("S: 550 5.1.1 No such user")
    expect(dialog.locator(".session p").first).to_contain_text("fault rules fired: #")
    inbox.page.locator("#sessions-close").click()
    expect(dialog).to_be_hidden()
