"""The XSS battery: hostile subjects, names, filenames, headers and bodies never run script.

Every payload, if it ran, would do four visible things: open a dialog (``alert``), log
``XSS-MARKER``, set ``window.__xss`` and request a ``/xss-marker-...`` URL on the catcher
itself (same origin, so the UI's own policy would let the request through). Each test sends
hostile mail over SMTP, opens it in the inbox (list, message, every tab, the links and
forms in the preview) and checks that none of the four happened.

Each battery also runs with the page's Content-Security-Policy bypassed, which proves the
UI is safe on its own merits (text through ``textContent``, the preview's iframe sandbox)
and not only because the policy catches its mistakes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest

from catcher.server import Catcher
from tests.conftest import send, smtp_client

try:
    from playwright.sync_api import Error, expect
except ImportError:  # the chromium fixture skips, or fails under CATCHER_REQUIRE_BROWSER=1
    expect = None  # type: ignore[assignment]
    Error = Exception  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from tests.browser import Inbox

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.browser

MARKER = "XSS-MARKER"
CSP_MODES = ["csp-enforced", "csp-bypassed"]

# What every payload runs if it gets the chance ({m} is the marker URL's prefix).
SCRIPT = (
    "alert(1);console.log('XSS-MARKER');window.__xss=1;"
    "fetch('{m}-fetch');new Image().src='{m}-image'"
)

# Payloads for places that hold text: headers, addresses, filenames, the text body.
TEXT_PAYLOADS = [
    "<script>{js}</script>",
    '<img src=x onerror="{js}">',
    '<svg onload="{js}"><circle r=5></circle></svg>',
    '"><img src=x onerror="{js}">',
    "'><script>{js}</script>",
    '<a href="javascript:{js}">link</a>',
    "javascript:{js}",
    '<iframe srcdoc="<script>{js}</script>"></iframe>',
    '<div style="background:url(javascript:{js});width:expression({js})">css</div>',
    '<meta http-equiv="refresh" content="0;url={m}-refresh">',
    '<form action="{m}-form"><button>go</button></form>',
    "</textarea></title></style><script>{js}</script>",
    "{{constructor.constructor('{js}')()}} ${alert(1)}",
]

# Payloads for the HTML body, one message each: the preview must neutralise all of them.
HTML_PAYLOADS = {
    "script": "<script>{js}</script>",
    "img-onerror": '<img src="x" onerror="{js}">',
    "svg-onload": '<svg onload="{js}"><circle r="5"></circle></svg>',
    "svg-script": "<svg><script>{js}</script></svg>",
    "svg-animate": '<svg><animate onbegin="{js}" attributeName="x" dur="1s"></animate></svg>',
    "javascript-link": '<a id="go" href="javascript:{js}">click me</a>',
    "javascript-link-top": '<a id="go" target="_top" href="javascript:{js}">top</a>',
    "srcdoc": (
        '<iframe srcdoc="<script>{js}</script><img src=x onerror=&quot;{js}&quot;>"></iframe>'
    ),
    "iframe-javascript": '<iframe src="javascript:{js}"></iframe>',
    "iframe-data": '<iframe src="data:text/html,<script>{js}</script>"></iframe>',
    "object-embed": '<object data="javascript:{js}"></object><embed src="javascript:{js}">',
    "css-expression": (
        '<div style="width:expression({js});background:url(javascript:{js})">css</div>'
        '<style>@import "javascript:{js}"; p { behavior: url(#default#time2) }</style>'
    ),
    "meta-refresh": (
        '<meta http-equiv="refresh" content="0;url=javascript:{js}">'
        '<meta http-equiv="refresh" content="0;url={m}-refresh">'
    ),
    "form-action": (
        '<form action="{m}-form" method="get"><input name="q" value="1">'
        '<button id="submit">Send</button></form>'
        '<form action="javascript:{js}"><button id="submit2">Send</button></form>'
    ),
    "body-onload": '<body onload="{js}"><p>hello</p></body>',
    "autofocus": (
        '<input autofocus onfocus="{js}">'
        '<details open ontoggle="{js}"><summary>x</summary></details>'
    ),
    "base-href": '<base href="javascript:{js}//"><a id="go" href="relative">relative link</a>',
    "mutation-xss": '<math><mtext><table><mglyph><style><img src=x onerror="{js}">',
    "noscript-escape": '<noscript><p title="</noscript><img src=x onerror={js}>"></noscript>',
    "template-injection": "{{constructor.constructor('{js}')()}}",
}


def fill(template: str, marker: str) -> str:
    script = SCRIPT.replace("{m}", marker)
    return template.replace("{js}", script).replace("{m}", marker)


def marker_url(catcher: Catcher) -> str:
    return f"{catcher.url}/xss-marker"


def text_payloads(catcher: Catcher) -> list[str]:
    return [fill(p, marker_url(catcher)) for p in TEXT_PAYLOADS]


# -- hostile messages, one per place a payload can hide --------------------------------------------


def subject_message(payloads: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "sender@example.com"
    message["To"] = "rcpt@example.com"
    message["Subject"] = " ".join(payloads)
    message.set_content("A hostile subject.\n")
    return message


def address_message(payloads: list[str]) -> bytes:
    """Display names as quoted strings (From, To) and as RFC 2047 words (Cc, Reply-To).

    Built by hand: Python's generator folds such names without their quotes.
    """

    def quoted(i: int) -> str:
        name = payloads[i].replace("\\", "\\\\").replace('"', '\\"')
        return f'"{name}" <u{i}@example.com>'

    def encoded(i: int) -> str:
        return f"{word(payloads[i])} <u{i}@example.com>"

    lines = [
        f"From: {quoted(0)}",
        "To: " + ",\r\n ".join(quoted(i) for i in range(len(payloads))),
        "Cc: " + ",\r\n ".join(encoded(i) for i in range(1, 4)),
        "Reply-To: " + ",\r\n ".join(encoded(i) for i in range(4, 7)),
        "Subject: Hostile display names",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Hostile display names.",
        "",
    ]
    return "\r\n".join(lines).encode()


def word(text: str) -> str:
    """``text`` as one RFC 2047 encoded word."""
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def filename_message(payloads: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "sender@example.com"
    message["To"] = "rcpt@example.com"
    message["Subject"] = "Hostile filenames"
    message.set_content("Hostile filenames.\n")
    for payload in payloads:
        message.add_attachment(
            b"x", maintype="application", subtype="octet-stream", filename=payload
        )
    message.add_attachment(
        payloads[0].encode(), maintype="text", subtype="html", filename=payloads[1] + ".html"
    )
    message.add_attachment(
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
        b"<script>alert(2)</script></svg>",
        maintype="image",
        subtype="svg+xml",
        filename="drawing.svg",
    )
    return message


def header_message(payloads: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "sender@example.com"
    message["To"] = "rcpt@example.com"
    message["Subject"] = "Hostile header values"
    for i, payload in enumerate(payloads):
        message[f"X-Payload-{i}"] = payload
    message.set_content("Hostile header values.\n")
    return message


def text_body_message(payloads: list[str], marker: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "sender@example.com"
    message["To"] = "rcpt@example.com"
    message["Subject"] = "Hostile text body"
    # Links the text view turns clickable must stay plain http(s) links.
    links = [
        f'https://example.com/"><script>{fill("{js}", marker)}</script>',
        f"https://example.com/a'onmouseover='{fill('{js}', marker)}'",
        "javascript:alert(1)//https://example.com/",
    ]
    message.set_content("\n".join(payloads + links) + "\n")
    return message


def raw_message(payloads: list[str]) -> bytes:
    """Payloads straight in the headers, unquoted, and again as RFC 2047 encoded words."""
    lines = [
        f"From: {payloads[0]} <evil@example.com>",
        f"To: {payloads[1]} <rcpt@example.com>, {word(payloads[2])} <b@example.com>",
        f"Subject: Raw {payloads[0]} {word(payloads[3])}",
        f"X-Raw: {payloads[4]}",
        f"Message-ID: <{payloads[0]}@example.com>",
        f"X-Encoded: {word(payloads[5])}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        *payloads,
        "",
    ]
    return "\r\n".join(lines).encode()


# -- driving the inbox and checking that nothing ran -----------------------------------------------


def open_inbox_for(mode: str, open_inbox: Callable[..., Inbox]) -> Inbox:
    return open_inbox(bypass_csp=mode == "csp-bypassed")


def visit_everything(inbox: Inbox) -> None:
    """Open the newest message and look at it every way the UI offers."""
    page = inbox.page
    row = inbox.rows.first
    expect(row).to_be_visible()
    row.hover()
    row.click()
    expect(page.locator("#message-subject")).to_be_visible()
    for tab in ("html", "text", "source", "headers", "parts"):
        if page.locator(f"#tab-{tab}.absent").count():
            continue
        panel = inbox.tab(tab)
        if tab == "html":
            poke_preview(inbox)
            page.locator("#remote-toggle").click()  # the other policy, remote content allowed
            expect(page.locator("#remote-toggle")).to_have_attribute("aria-pressed", "true")
            poke_preview(inbox)
        elif tab == "source":
            expect(panel.locator("pre")).not_to_have_attribute("aria-busy", "true")
        elif tab == "parts":
            for image in panel.locator(".thumb img").all():
                image.scroll_into_view_if_needed()  # thumbnails load lazily
                expect(image).to_have_js_property("complete", True)
    # Back and forth once more, as a user would.
    page.keyboard.press("Escape")
    expect(page.locator("#message-pane .placeholder")).to_be_visible()


def poke_preview(inbox: Inbox) -> None:
    """Load the preview, then click its links and submit its forms."""
    frame = inbox.preview_frame()
    for selector in ("#go", "#submit", "#submit2"):
        target = frame.locator(selector)
        if target.count():
            target.click()


# Anything in the inbox's own document that could only have come from mail markup.
HOSTILE_MARKUP = """() => {
    const found = [];
    const urlAttribute = /^(href|src|action|formaction|data|xlink:href|srcdoc)$/i;
    for (const el of document.querySelectorAll('*')) {
        for (const attr of el.attributes) {
            if (/^on/i.test(attr.name)) found.push(`${el.tagName} ${attr.name}`);
            if (urlAttribute.test(attr.name) && /^\\s*javascript:/i.test(attr.value)) {
                found.push(`${el.tagName} ${attr.name}=javascript:`);
            }
        }
    }
    for (const el of document.querySelectorAll('script')) {
        if (!(el.getAttribute('src') || '').startsWith('/static/')) found.push('inline script');
    }
    const foreign = 'iframe:not(.preview-frame), object, embed, base, body meta, '
        + 'form:not(#search-form), svg:not(.icon):not(.sprite)';
    for (const el of document.querySelectorAll(foreign)) found.push(el.tagName);
    return found;
}"""


def assert_nothing_ran(inbox: Inbox) -> None:
    page = inbox.page
    assert inbox.dialogs == [], f"a dialog opened: {inbox.dialogs}"
    # A payload that ran logs exactly the marker; the browser's own reports of what it
    # blocked quote the payload, so they mention it too, but never as the whole message.
    assert MARKER not in [c.strip() for c in inbox.console], f"payload logged: {inbox.console}"
    # (javascript: URLs that were refused show up as requests too; they do not count.)
    reached = [u for u in inbox.requests if u.startswith(marker_url(inbox.catcher))]
    assert not reached, f"a payload reached the marker: {reached}"
    assert not [u for u in inbox.popups if u.startswith("javascript:")], inbox.popups
    assert inbox.errors == [], inbox.errors
    assert page.url.startswith(inbox.catcher.url + "/"), f"the inbox navigated to {page.url}"
    for each in page.context.pages:
        # Frames that never loaded a document (javascript:, blocked objects) have nothing
        # to look at, and evaluating in them waits forever.
        for frame in [
            f for f in each.frames if f.url.startswith(("http:", "https:", "about:srcdoc"))
        ]:
            try:
                ran = frame.evaluate("() => window.__xss")
            except Error:  # the frame went away meanwhile
                continue
            assert ran is None, f"window.__xss set in {frame.url}"
    # The inbox's own document holds no markup taken from mail.
    hostile = page.evaluate(HOSTILE_MARKUP)
    assert hostile == [], f"mail became markup in the inbox: {hostile}"


# -- the battery -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", CSP_MODES)
def test_hostile_subject(catcher: Catcher, open_inbox: Callable[..., Inbox], mode: str) -> None:
    payloads = text_payloads(catcher)
    send(catcher, subject_message(payloads))
    inbox = open_inbox_for(mode, open_inbox)
    # Shown as the text it is.
    expect(inbox.rows.first.locator(".subject")).to_contain_text(payloads[0])
    visit_everything(inbox)
    inbox.rows.first.click()
    expect(inbox.page.locator("#message-subject")).to_contain_text(payloads[1])
    assert_nothing_ran(inbox)


@pytest.mark.parametrize("mode", CSP_MODES)
def test_hostile_display_names(
    catcher: Catcher, open_inbox: Callable[..., Inbox], mode: str
) -> None:
    payloads = text_payloads(catcher)
    with smtp_client(catcher) as client:
        client.sendmail("evil@example.com", ["rcpt@example.com"], address_message(payloads))
    inbox = open_inbox_for(mode, open_inbox)
    expect(inbox.rows.first.locator(".from")).to_have_text(payloads[0])
    visit_everything(inbox)
    inbox.rows.first.click()
    fields = inbox.page.locator("dl.fields")
    for payload in payloads[:7]:
        expect(fields).to_contain_text(payload)
    assert_nothing_ran(inbox)


@pytest.mark.parametrize("mode", CSP_MODES)
def test_hostile_filenames(catcher: Catcher, open_inbox: Callable[..., Inbox], mode: str) -> None:
    payloads = text_payloads(catcher)
    send(catcher, filename_message(payloads))
    inbox = open_inbox_for(mode, open_inbox)
    visit_everything(inbox)
    inbox.rows.first.click()
    parts = inbox.tab("parts")
    expect(parts.locator(".part-name").filter(has_text="<script>")).not_to_have_count(0)
    if mode == "csp-bypassed":
        # A part opened in its own tab is sandboxed by its CSP alone, which this mode turns off.
        assert_nothing_ran(inbox)
        return
    # Opening the parts themselves (a new tab each) runs nothing either.
    # (Only those a browser shows rather than downloads.)
    viewable = (
        parts.locator(".part")
        .filter(has_text="text/html")
        .or_(parts.locator(".part").filter(has_text="image/svg+xml"))
    )
    expect(viewable).to_have_count(2)
    for part in viewable.all():
        link = part.get_by_role("link", name="Open")
        with inbox.page.expect_popup() as popup:
            link.click()
        popup.value.wait_for_load_state("load")
    assert_nothing_ran(inbox)


@pytest.mark.parametrize("mode", CSP_MODES)
def test_hostile_header_values(
    catcher: Catcher, open_inbox: Callable[..., Inbox], mode: str
) -> None:
    payloads = text_payloads(catcher)
    send(catcher, header_message(payloads))
    inbox = open_inbox_for(mode, open_inbox)
    visit_everything(inbox)
    inbox.rows.first.click()
    headers = inbox.tab("headers")
    expect(headers.locator("tbody tr", has_text="X-Payload-0")).to_contain_text(payloads[0])
    headers.locator("#header-filter").fill("<script>")
    expect(headers.locator("tbody tr:visible").first).to_be_visible()
    assert_nothing_ran(inbox)


@pytest.mark.parametrize("mode", CSP_MODES)
def test_hostile_text_body(catcher: Catcher, open_inbox: Callable[..., Inbox], mode: str) -> None:
    payloads = text_payloads(catcher)
    send(catcher, text_body_message(payloads, marker_url(catcher)))
    inbox = open_inbox_for(mode, open_inbox)
    expect(inbox.rows.first.locator(".snippet")).to_contain_text("<script>")
    visit_everything(inbox)
    inbox.rows.first.click()
    text = inbox.tab("text")
    expect(text.locator("pre")).to_contain_text(payloads[0])
    # Only http(s) URLs become links, and they end where the URL does.
    hrefs = [a.get_attribute("href") or "" for a in text.locator("a").all()]
    assert "https://example.com/" in hrefs
    for href in hrefs:
        assert re.fullmatch(r"https?://[^\s<>\"'`]+", href), href
    assert_nothing_ran(inbox)


@pytest.mark.parametrize("mode", CSP_MODES)
def test_hostile_raw_and_encoded_headers(
    catcher: Catcher, open_inbox: Callable[..., Inbox], mode: str
) -> None:
    payloads = text_payloads(catcher)
    with smtp_client(catcher) as client:
        client.sendmail("evil@example.com", ["rcpt@example.com"], raw_message(payloads))
    inbox = open_inbox_for(mode, open_inbox)
    visit_everything(inbox)
    inbox.rows.first.click()
    expect(inbox.page.locator("#message-subject")).to_contain_text(payloads[3])
    assert_nothing_ran(inbox)


@pytest.mark.parametrize("mode", CSP_MODES)
@pytest.mark.parametrize("name", sorted(HTML_PAYLOADS))
def test_hostile_html_body(
    catcher: Catcher, open_inbox: Callable[..., Inbox], name: str, mode: str
) -> None:
    marker = marker_url(catcher)
    payload = fill(HTML_PAYLOADS[name], marker)
    message = EmailMessage()
    message["From"] = "sender@example.com"
    message["To"] = "rcpt@example.com"
    message["Subject"] = f"Hostile HTML: {name}"
    message.set_content("The HTML part is hostile.\n")
    message.add_alternative(
        f"<html><head><title>t</title></head><body>{payload}</body></html>", subtype="html"
    )
    send(catcher, message)
    inbox = open_inbox_for(mode, open_inbox)
    visit_everything(inbox)
    assert_nothing_ran(inbox)


def test_opening_the_preview_in_its_own_tab_runs_nothing(
    catcher: Catcher, open_inbox: Callable[..., Inbox]
) -> None:
    """The preview's "Open" link: the API's own policy sandboxes the page."""
    marker = marker_url(catcher)
    body = "".join(fill(p, marker) for p in HTML_PAYLOADS.values())
    message = EmailMessage()
    message["From"] = "sender@example.com"
    message["To"] = "rcpt@example.com"
    message["Subject"] = "Hostile HTML, opened alone"
    message.set_content("x\n")
    message.add_alternative(f"<html><body>{body}</body></html>", subtype="html")
    send(catcher, message)
    inbox = open_inbox()
    inbox.rows.first.click()
    with inbox.page.expect_popup() as info:
        inbox.page.locator(".preview-bar a", has_text="Open").click()
    popup = info.value
    popup.wait_for_load_state("load")
    for selector in ("#go", "#submit", "#submit2"):
        target = popup.locator(selector)
        for each in target.all():
            each.click()
    assert_nothing_ran(inbox)
