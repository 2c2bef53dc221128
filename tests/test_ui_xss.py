"""The XSS battery: hostile subjects, names, filenames, headers and bodies never run script.

Every payload, if it ran, would do four visible things: open a dialog (``alert``), log
``XSS-MARKER``, set ``window.__xss`` and request a ``/xss-marker/<case>-...`` URL on the
catcher itself (same origin, so the UI's own policy would let the request through). A battery
sends all its hostile mail over SMTP, then opens each message in turn in one inbox page (list,
message, every tab, the links and forms in the preview) and checks, as a subtest named for
that message's payload, that none of the four happened. A failed case gets a fresh page
for the next one, so one failure can neither hide nor cause another.

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
    from playwright.sync_api import Locator

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


def marker_url(catcher: Catcher, case: str = "") -> str:
    """Where a payload that ran would send a request; ``case`` says which payload it was."""
    return f"{catcher.url}/xss-marker" + (f"/{case}" if case else "")


def text_payloads(catcher: Catcher, case: str) -> list[str]:
    return [fill(p, marker_url(catcher, case)) for p in TEXT_PAYLOADS]


# -- hostile messages, one per place a payload can hide --------------------------------------------


def html_message(name: str, marker: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "sender@example.com"
    message["To"] = "rcpt@example.com"
    message["Subject"] = f"Hostile HTML: {name}"
    message.set_content("The HTML part is hostile.\n")
    body = fill(HTML_PAYLOADS[name], marker)
    message.add_alternative(
        f"<html><head><title>t</title></head><body>{body}</body></html>", subtype="html"
    )
    return message


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


def deliver(catcher: Catcher, message: EmailMessage | bytes) -> int:
    """Send over SMTP (bytes as they are); the id it is stored under."""
    if isinstance(message, bytes):
        with smtp_client(catcher) as client:
            client.sendmail("evil@example.com", ["rcpt@example.com"], message)
    else:
        send(catcher, message)
    newest = catcher.store.latest()  # a 250 means stored
    assert newest is not None
    return newest.id


def row(inbox: Inbox, message_id: int) -> Locator:
    return inbox.page.locator(f'#list a.row[data-id="{message_id}"]')


def open_message(inbox: Inbox, message_id: int) -> None:
    row(inbox, message_id).click()
    expect(inbox.page).to_have_url(re.compile(f"#/m/{message_id}$"))
    expect(inbox.page.locator("#message-subject")).to_be_visible()


def visit_everything(inbox: Inbox, message_id: int) -> None:
    """Open the message and look at it every way the UI offers."""
    page = inbox.page
    target = row(inbox, message_id)
    expect(target).to_be_visible()
    target.hover()
    open_message(inbox, message_id)
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
    # The document the preview's src names, loaded (not the one it replaces).
    src = inbox.preview.get_attribute("src")
    assert src is not None
    frame = inbox.preview_frame()
    frame.wait_for_url(inbox.catcher.url + src)
    frame.wait_for_load_state("load")
    for selector in ("#go", "#submit", "#submit2"):
        target = frame.locator(selector)
        if target.count():
            target.click()
    # The preview opens links in a new tab. Wait until whatever opened has loaded (so a
    # request it makes has been made), then come back: Chromium throttles a background
    # tab to about one animation frame in two seconds, and every action here waits for
    # the element to be stable over two frames.
    for other in inbox.page.context.pages:
        if other is not inbox.page:
            other.wait_for_load_state("load")
    inbox.page.bring_to_front()


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
        if (!el.src.startsWith(`${location.origin}/static/`)) found.push('inline script');
    }
    const foreign = 'iframe:not(.preview-frame), object, embed, base, body meta, '
        + 'form:not(#search-form), svg:not(.icon):not(.sprite)';
    for (const el of document.querySelectorAll(foreign)) found.push(el.tagName);
    return found;
}"""


def assert_nothing_ran(inbox: Inbox, case: str) -> None:
    page = inbox.page
    assert inbox.dialogs == [], f"{case}: a dialog opened: {inbox.dialogs}"
    # A payload that ran logs exactly the marker; the browser's own reports of what it
    # blocked quote the payload, so they mention it too, but never as the whole message.
    console = [c.strip() for c in inbox.console]
    assert MARKER not in console, f"{case}: payload logged: {inbox.console}"
    # (javascript: URLs that were refused show up as requests too; they do not count.)
    reached = [u for u in inbox.requests if u.startswith(marker_url(inbox.catcher))]
    assert not reached, f"{case}: a payload reached the marker: {reached}"
    opened = [u for u in inbox.popups if u.startswith("javascript:")]
    assert not opened, f"{case}: a javascript: popup opened: {inbox.popups}"
    assert inbox.errors == [], f"{case}: the inbox threw: {inbox.errors}"
    assert page.url.startswith(inbox.catcher.url + "/"), f"{case}: the inbox went to {page.url}"
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
            assert ran is None, f"{case}: window.__xss set in {frame.url}"
    # The inbox's own document holds no markup taken from mail.
    hostile = page.evaluate(HOSTILE_MARKUP)
    assert hostile == [], f"{case}: mail became markup in the inbox: {hostile}"


def run_battery(
    subtests: pytest.Subtests,
    open_page: Callable[[], Inbox],
    cases: dict[str, Callable[[Inbox], None]],
) -> None:
    """Each case a subtest on one shared page: it drives the inbox, then nothing ran."""
    inbox: Inbox | None = None
    for case, drive in cases.items():
        passed = False
        with subtests.test(msg=case):
            if inbox is None:
                inbox = open_page()
            drive(inbox)
            assert_nothing_ran(inbox, case)
            passed = True
        if passed and inbox is not None:
            inbox.start_afresh()
        else:
            inbox = None  # the next case gets a fresh page


# -- the batteries ---------------------------------------------------------------------------------


def subject_case(catcher: Catcher, case: str) -> Callable[[Inbox], None]:
    payloads = text_payloads(catcher, case)
    message_id = deliver(catcher, subject_message(payloads))

    def drive(inbox: Inbox) -> None:
        # Shown as the text it is.
        expect(row(inbox, message_id).locator(".subject")).to_contain_text(payloads[0])
        visit_everything(inbox, message_id)
        open_message(inbox, message_id)
        expect(inbox.page.locator("#message-subject")).to_contain_text(payloads[1])

    return drive


def display_names_case(catcher: Catcher, case: str) -> Callable[[Inbox], None]:
    payloads = text_payloads(catcher, case)
    message_id = deliver(catcher, address_message(payloads))

    def drive(inbox: Inbox) -> None:
        expect(row(inbox, message_id).locator(".from")).to_have_text(payloads[0])
        visit_everything(inbox, message_id)
        open_message(inbox, message_id)
        fields = inbox.page.locator("dl.fields")
        for payload in payloads[:7]:
            expect(fields).to_contain_text(payload)

    return drive


def filenames_case(catcher: Catcher, case: str, mode: str) -> Callable[[Inbox], None]:
    payloads = text_payloads(catcher, case)
    message_id = deliver(catcher, filename_message(payloads))

    def drive(inbox: Inbox) -> None:
        visit_everything(inbox, message_id)
        open_message(inbox, message_id)
        parts = inbox.tab("parts")
        expect(parts.locator(".part-name").filter(has_text="<script>")).not_to_have_count(0)
        if mode == "csp-bypassed":
            # A part opened in its own tab is sandboxed by its CSP alone, which this mode
            # turns off.
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
            inbox.page.bring_to_front()  # (see poke_preview)

    return drive


def header_values_case(catcher: Catcher, case: str) -> Callable[[Inbox], None]:
    payloads = text_payloads(catcher, case)
    message_id = deliver(catcher, header_message(payloads))

    def drive(inbox: Inbox) -> None:
        visit_everything(inbox, message_id)
        open_message(inbox, message_id)
        headers = inbox.tab("headers")
        expect(headers.locator("tbody tr", has_text="X-Payload-0")).to_contain_text(payloads[0])
        headers.locator("#header-filter").fill("<script>")
        expect(headers.locator("tbody tr:visible").first).to_be_visible()

    return drive


def text_body_case(catcher: Catcher, case: str) -> Callable[[Inbox], None]:
    payloads = text_payloads(catcher, case)
    message_id = deliver(catcher, text_body_message(payloads, marker_url(catcher, case)))

    def drive(inbox: Inbox) -> None:
        expect(row(inbox, message_id).locator(".snippet")).to_contain_text("<script>")
        visit_everything(inbox, message_id)
        open_message(inbox, message_id)
        text = inbox.tab("text")
        expect(text.locator("pre")).to_contain_text(payloads[0])
        # Only http(s) URLs become links, and they end where the URL does.
        hrefs = [a.get_attribute("href") or "" for a in text.locator("a").all()]
        assert "https://example.com/" in hrefs
        for href in hrefs:
            assert re.fullmatch(r"https?://[^\s<>\"'`]+", href), href

    return drive


def raw_headers_case(catcher: Catcher, case: str) -> Callable[[Inbox], None]:
    payloads = text_payloads(catcher, case)
    message_id = deliver(catcher, raw_message(payloads))

    def drive(inbox: Inbox) -> None:
        visit_everything(inbox, message_id)
        open_message(inbox, message_id)
        expect(inbox.page.locator("#message-subject")).to_contain_text(payloads[3])

    return drive


@pytest.mark.parametrize("mode", CSP_MODES)
def test_hostile_text_in_every_place(
    catcher: Catcher,
    open_inbox: Callable[..., Inbox],
    subtests: pytest.Subtests,
    mode: str,
) -> None:
    """Subjects, display names, filenames, header values, the text body, raw headers."""
    cases = {
        "subject": subject_case(catcher, "subject"),
        "display-names": display_names_case(catcher, "display-names"),
        "filenames": filenames_case(catcher, "filenames", mode),
        "header-values": header_values_case(catcher, "header-values"),
        "text-body": text_body_case(catcher, "text-body"),
        "raw-and-encoded-headers": raw_headers_case(catcher, "raw-and-encoded-headers"),
    }
    run_battery(subtests, lambda: open_inbox(bypass_csp=mode == "csp-bypassed"), cases)


def html_body_case(catcher: Catcher, name: str) -> Callable[[Inbox], None]:
    message_id = deliver(catcher, html_message(name, marker_url(catcher, name)))
    return lambda inbox: visit_everything(inbox, message_id)


@pytest.mark.parametrize("mode", CSP_MODES)
@pytest.mark.slow
def test_hostile_html_bodies(
    catcher: Catcher,
    open_inbox: Callable[..., Inbox],
    subtests: pytest.Subtests,
    mode: str,
) -> None:
    """One message per HTML payload: the preview neutralises every one of them."""
    cases = {name: html_body_case(catcher, name) for name in sorted(HTML_PAYLOADS)}
    run_battery(subtests, lambda: open_inbox(bypass_csp=mode == "csp-bypassed"), cases)


def test_opening_the_preview_in_its_own_tab_runs_nothing(
    catcher: Catcher, open_inbox: Callable[..., Inbox]
) -> None:
    """The preview's "Open" link: the API's own policy sandboxes the page."""
    marker = marker_url(catcher, "opened-alone")
    body = "".join(fill(p, marker) for p in HTML_PAYLOADS.values())
    message = EmailMessage()
    message["From"] = "sender@example.com"
    message["To"] = "rcpt@example.com"
    message["Subject"] = "Hostile HTML, opened alone"
    message.set_content("x\n")
    message.add_alternative(f"<html><body>{body}</body></html>", subtype="html")
    message_id = deliver(catcher, message)
    inbox = open_inbox()
    open_message(inbox, message_id)
    with inbox.page.expect_popup() as info:
        inbox.page.locator(".preview-bar a", has_text="Open").click()
    popup = info.value
    popup.wait_for_load_state("load")
    for selector in ("#go", "#submit", "#submit2"):
        target = popup.locator(selector)
        for each in target.all():
            each.click()
    assert_nothing_ran(inbox, "opened alone")
