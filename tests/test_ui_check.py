"""The message view's Check tab in headless Chromium: findings, client support, features,
links and the HTML source the report's line numbers point into.

One catcher serves the whole module: its messages are sent once, over SMTP, and each
test opens its own page on them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from catcher.server import Catcher
from tests.conftest import TEST_SETTINGS, Http, send

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium fixture skips, or fails under CATCHER_REQUIRE_BROWSER=1
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Route

    from tests.browser import Inbox

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.browser

# Line 7 has the image without alt, line 8 the javascript: link; lines 3 and 5 use flex.
NEWSLETTER_HTML = """<!DOCTYPE html>
<html lang="en">
<head><title>Spring sale</title><style>.row { display: flex; }</style></head>
<body>
<div class="row" style="display:flex">
<p>Thirty percent off everything.</p>
<img src="https://shop.example/banner.png" width="600" height="200">
<a href="javascript:alert(1)">Open the sale</a>
</div>
</body>
</html>
"""
IMAGE_LINE = '<img src="https://shop.example/banner.png" width="600" height="200">'
PAYLOAD = "<img src=x onerror=alert(document.domain)>"
# A long HTML (over 100 KB): one image without alt, near its end.
LONG_LINES = [
    f'<p style="margin:0 0 4px">Paragraph {i}: the terms and conditions go on and on.</p>'
    for i in range(1, 2001)
]
LONG_LINES.insert(1900, '<img src="https://shop.example/late.png" width="1" height="1">')
LONG_HTML = "<html><body>\n" + "\n".join(LONG_LINES) + "\n</body></html>\n"


def newsletter() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Shop <news@shop.example>"
    message["To"] = "bob@example.com"
    message["Subject"] = "Spring sale"
    message["List-Unsubscribe"] = "unsubscribe me please"
    message.set_content("Thirty percent off everything.\n")
    message.add_alternative(NEWSLETTER_HTML, subtype="html")
    return message


def hostile() -> EmailMessage:
    """Finding messages, link URLs and link texts that quote markup."""
    message = EmailMessage()
    message["From"] = "attacker@example.com"
    message["To"] = "bob@example.com"
    message["Subject"] = "Hostile check"
    message["List-Unsubscribe"] = PAYLOAD
    message.set_content("hi\n")
    message.add_alternative(
        "<html><body>\n"
        f'<img src="{PAYLOAD}">\n'
        f'<a href="javascript:{PAYLOAD}">{PAYLOAD.replace("<", "&lt;")}</a>\n'
        "</body></html>\n",
        subtype="html",
    )
    return message


@pytest.fixture(scope="module")
def check_catcher() -> Iterator[Catcher]:
    """A catcher of this module's own, holding its four messages."""
    with Catcher(TEST_SETTINGS) as catcher:
        send(catcher, newsletter())
        plain = EmailMessage()
        plain["From"] = "dev@example.com"
        plain["To"] = "bob@example.com"
        plain["Subject"] = "Plain note"
        plain.set_content("No HTML here, see http://localhost:3000/reset\n")
        send(catcher, plain)
        send(catcher, hostile())
        long = EmailMessage()
        long["From"] = "legal@shop.example"
        long["To"] = "bob@example.com"
        long["Subject"] = "Long terms"
        long.set_content("The terms.\n")
        long.add_alternative(LONG_HTML, subtype="html")
        send(catcher, long)
        yield catcher


@pytest.fixture
def check_http(check_catcher: Catcher) -> Http:
    return Http(check_catcher.url)


@pytest.fixture
def open_check(check_catcher: Catcher, open_inbox: Callable[..., Inbox]) -> Callable[[str], Inbox]:
    """Open a message of the module's catcher and select its Check tab. The requests
    recorded are those made from the moment Check is selected: the HTML preview, shown
    first, has loaded (the remote images it asked for were refused by its policy)."""

    def opened(subject: str) -> Inbox:
        inbox = open_inbox(target=check_catcher)
        inbox.open(subject)
        if inbox.page.locator("#tab-html.absent").count() == 0:
            inbox.preview_frame()
        inbox.requests.clear()
        panel = inbox.tab("Check")
        expect(panel.locator("#check")).not_to_have_attribute("aria-busy", "true")
        expect(panel.locator("#check-score")).to_be_visible()
        return inbox

    return opened


def ident(http: Http, subject: str) -> int:
    listing = http.get(f"/api/messages?subject={quote(subject)}")
    assert listing["matched"] == 1, listing
    found: int = listing["messages"][0]["id"]
    return found


def test_the_check_tab_shows_findings_clients_features_and_links(
    check_catcher: Catcher, check_http: Http, open_check: Callable[[str], Inbox]
) -> None:
    inbox = open_check("Spring sale")
    page = inbox.page
    report = check_http.get(f"/api/messages/{ident(check_http, 'Spring sale')}/check")
    panel = page.locator("#panel-check")
    tab = page.locator("#tab-check")
    expect(tab).to_have_attribute("aria-selected", "true")
    expect(tab).to_have_attribute("aria-controls", "panel-check")
    expect(panel).to_have_attribute("role", "tabpanel")

    # The summary: the score and the counts, as the API has them.
    score = report["compatibility"]["score"]
    expect(panel.locator("#check-score .score-value")).to_have_text(f"{score:.1f}%")
    counts = report["counts"]
    assert counts["error"] >= 3
    expect(panel.locator(".sev-chip.sev-error")).to_have_text(f"{counts['error']} errors")
    expect(panel.locator(".sev-chip.sev-warning")).to_have_text(
        f"{counts['warning']} warning{'' if counts['warning'] == 1 else 's'}"
    )

    # Findings, grouped by severity, each with its message, explanation, lines and source.
    errors = panel.locator('ul.findings[data-severity="error"]')
    expect(errors.locator(".finding")).to_have_count(counts["error"])
    img_alt = errors.locator('.finding[data-rule="img-alt"]')
    expect(img_alt.locator(".finding-title")).to_have_text("Images without alt")
    expect(img_alt.locator(".finding-message")).to_have_text(
        "<img src='https://shop.example/banner.png'> has no alt."
    )
    expect(img_alt.locator(".finding-explanation")).to_contain_text("Screen readers")
    expect(img_alt.locator("button.line-ref")).to_have_text(["7"])
    source = img_alt.locator("a.finding-source")
    expect(source).to_have_attribute("href", re.compile(r"^https://www\.w3\.org/"))
    expect(source).to_have_attribute("target", "_blank")
    expect(source).to_have_attribute("rel", "noopener noreferrer")
    javascript = errors.locator('.finding[data-rule="link-javascript"]')
    expect(javascript.locator(".finding-title")).to_have_text("javascript: URLs")
    expect(javascript.locator("button.line-ref")).to_have_text(["8"])
    unsubscribe = errors.locator('.finding[data-rule="list-unsubscribe-malformed"]')
    expect(unsubscribe.locator(".finding-message")).to_contain_text("unsubscribe me please")
    expect(unsubscribe.locator("button.line-ref")).to_have_count(0)  # a header has no line

    # Client families, worst first, each with a score, expandable to its clients.
    families = panel.locator("li.family")
    worst = report["compatibility"]["families"][0]
    expect(families).to_have_count(len(report["compatibility"]["families"]))
    expect(families.first.locator(".family-name")).to_have_text(worst["name"])
    expect(families.first.locator(".family-score")).to_have_text(f"{worst['score']:.1f}%")
    clients = families.first.locator("table.clients tbody tr")
    expect(clients.first).to_be_hidden()
    families.first.locator("summary").click()
    expect(clients).to_have_count(len(worst["clients"]))
    expect(clients.first.locator("th")).to_have_text(worst["clients"][0]["name"])

    # Features: display:flex where it is used, its caniemail page, the per-client results.
    flex = panel.locator('li.feature[data-slug="css-display-flex"]')
    expect(flex.locator("a.feature-title")).to_have_text("display:flex")
    expect(flex.locator("a.feature-title")).to_have_attribute(
        "href", "https://www.caniemail.com/features/css-display-flex/"
    )
    expect(flex.locator(".feature-used")).to_contain_text("Used 2 times on lines 3, 5")
    flex.locator(".feature-results summary").click()
    feature = next(
        f for f in report["compatibility"]["features"] if f["slug"] == "css-display-flex"
    )
    expect(flex.locator("table.results tbody tr")).to_have_count(len(feature["results"]))
    data = report["compatibility"]["data"]
    expect(panel.locator("#check-data")).to_have_text(
        f"Support data: caniemail {data['version']} ({data['license']}), "
        f"updated {data['updated'][:10]}"
    )

    # Links: every URL as text, and the promise that none was fetched.
    expect(panel.locator("#check-not-fetched")).to_have_text(
        "Links are checked by their text only; catcher never fetches them."
    )
    rows = panel.locator("table.links tbody tr")
    expect(rows).to_have_count(len(report["links"]))
    script_row = rows.filter(has_text="javascript:alert(1)")
    expect(script_row.locator("td").nth(1)).to_have_text("link")
    expect(script_row.locator("td").nth(2)).to_have_text("Open the sale")
    expect(script_row.locator(".link-problems li")).to_contain_text(["runs script"])
    expect(panel.locator("table.links a")).to_have_count(0)  # captured URLs are never links

    # Nothing the page asked for while checking left the catcher.
    assert inbox.requests
    outside = [url for url in inbox.requests if not url.startswith(check_catcher.url + "/")]
    assert not outside, outside


def test_a_finding_line_highlights_that_line_of_the_source(
    check_catcher: Catcher, open_check: Callable[[str], Inbox]
) -> None:
    inbox = open_check("Spring sale")
    page = inbox.page
    source = page.locator("#check-source")
    expect(source.locator(".src-line")).to_have_count(NEWSLETTER_HTML.count("\n") + 1)
    expect(source.locator(".hit")).to_have_count(0)

    page.locator('.finding[data-rule="img-alt"] button.line-ref').click()
    current = source.locator(".src-line.current")
    expect(current).to_have_count(1)
    expect(current).to_have_text(IMAGE_LINE)
    expect(current).to_be_in_viewport()
    # Only the source and the message pane scrolled, not the page around them.
    assert page.evaluate("document.scrollingElement.scrollTop + document.body.scrollTop") == 0

    # A feature's line moves the highlight; its other line is marked too.
    page.locator('li.feature[data-slug="css-display-flex"] button.line-ref', has_text="5").click()
    expect(current).to_have_text('<div class="row" style="display:flex">')
    expect(source.locator(".src-line.hit")).to_have_count(2)
    expect(source.locator(".src-line.hit").first).to_contain_text(".row { display: flex; }")

    # From the keyboard: a line reference is a button.
    page.locator('.finding[data-rule="link-javascript"] button.line-ref').focus()
    page.keyboard.press("Enter")
    expect(current).to_have_text('<a href="javascript:alert(1)">Open the sale</a>')
    outside = [url for url in inbox.requests if not url.startswith(check_catcher.url + "/")]
    assert not outside, outside


def test_the_platform_filter_asks_again_for_those_clients(
    check_catcher: Catcher, check_http: Http, open_check: Callable[[str], Inbox]
) -> None:
    inbox = open_check("Spring sale")
    page = inbox.page
    ident_ = ident(check_http, "Spring sale")
    mobile = check_http.get(f"/api/messages/{ident_}/check?platform=mobile")
    assert mobile["compatibility"]["platforms"] == ["android", "ios"]
    button = page.locator(".platform-filter button", has_text="Mobile")
    expect(page.locator(".platform-filter button", has_text="All")).to_have_attribute(
        "aria-pressed", "true"
    )
    with page.expect_response(re.compile(r"/check\?platform=mobile$")) as answered:
        button.click()
    assert answered.value.ok
    assert json.loads(answered.value.body())["compatibility"] == mobile["compatibility"]
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#check-score .score-value")).to_have_text(
        f"{mobile['compatibility']['score']:.1f}%"
    )
    names = [f["name"] for f in mobile["compatibility"]["families"]]
    expect(page.locator("li.family .family-name")).to_have_text(names)
    outside = [url for url in inbox.requests if not url.startswith(check_catcher.url + "/")]
    assert not outside, outside


def test_a_text_only_message_is_still_linted(
    check_http: Http, open_check: Callable[[str], Inbox]
) -> None:
    inbox = open_check("Plain note")
    panel = inbox.page.locator("#panel-check")
    report = check_http.get(f"/api/messages/{ident(check_http, 'Plain note')}/check")
    assert report["findings"]
    expect(panel.locator(".finding .finding-title")).to_have_text(
        [f["title"] for f in report["findings"]]
    )
    expect(panel.locator("#check-score .score-value")).to_have_text("—")
    expect(panel.locator(".no-html")).to_contain_text("This message has no HTML")
    expect(panel.locator(".platform-filter")).to_be_hidden()
    expect(panel.locator("#check-source")).to_have_count(0)


def test_a_failed_check_says_so_and_can_be_tried_again(
    check_catcher: Catcher, open_inbox: Callable[..., Inbox]
) -> None:
    inbox = open_inbox(target=check_catcher)
    page = inbox.page

    def refuse(route: Route) -> None:
        route.fulfill(status=503, content_type="application/json", body='{"error": "checker busy"}')

    page.route(re.compile(r"/api/messages/\d+/check"), refuse)
    inbox.open("Spring sale")
    panel = inbox.tab("Check")
    expect(panel.locator(".check-status.error")).to_have_text(
        re.compile(r"Could not check the message: checker busy\s+Try again")
    )
    expect(panel.locator("#check")).not_to_have_attribute("aria-busy", "true")
    page.unroute(re.compile(r"/api/messages/\d+/check"))
    panel.locator("#check-retry").click()
    expect(panel.locator(".finding")).not_to_have_count(0)
    expect(panel.locator(".check-status")).to_be_hidden()


def test_hostile_text_in_the_report_stays_text(open_check: Callable[[str], Inbox]) -> None:
    inbox = open_check("Hostile check")
    page = inbox.page
    panel = page.locator("#panel-check")
    expect(panel.locator('.finding[data-rule="img-alt"] .finding-message')).to_have_text(
        f"<img src='{PAYLOAD}'> has no alt."
    )
    expect(panel.locator('.finding[data-rule="link-javascript"] .finding-message')).to_contain_text(
        f"'javascript:{PAYLOAD}'"
    )
    expect(panel.locator("table.links .link-url").first).to_have_text(PAYLOAD)
    expect(panel.locator("table.links .link-text").nth(1)).to_have_text(PAYLOAD)
    page.locator('.finding[data-rule="img-alt"] button.line-ref').click()
    expect(panel.locator(".src-line.current")).to_have_text(f'<img src="{PAYLOAD}">')
    # Markup in the report made no element and ran nothing.
    expect(panel.locator("img")).to_have_count(0)
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert not inbox.dialogs
    assert not [url for url in inbox.requests if url.endswith("/x")], inbox.requests


def test_a_line_deep_in_a_long_html_is_found(open_check: Callable[[str], Inbox]) -> None:
    assert len(LONG_HTML) > 100_000
    inbox = open_check("Long terms")
    page = inbox.page
    source = page.locator("#check-source")
    expect(source.locator(".src-line")).to_have_count(LONG_HTML.count("\n") + 1)
    ref = page.locator('.finding[data-rule="img-alt"] button.line-ref')
    expect(ref).to_have_text("1902")  # after <html><body> and 1900 paragraphs
    ref.click()
    current = source.locator(".src-line.current")
    expect(current).to_have_text('<img src="https://shop.example/late.png" width="1" height="1">')
    expect(current).to_be_in_viewport()
