"""The preview bar in headless Chromium: light, dark and inverted schemes seen in real
screenshots, client widths, and the text part beside the HTML."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from catcher.server import Catcher
from tests.conftest import send
from tests.test_color_scheme import DARK_TEXT, PHOTO_RGB, dark_email, light_email

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium fixture skips, or fails under CATCHER_REQUIRE_BROWSER=1
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Request

    from tests.browser import Inbox

pytest_plugins = ["tests.browser"]

RGB = tuple[int, int, int]


def pixels(png: bytes) -> tuple[int, list[bytes], int]:
    """A screenshot's width, its rows unfiltered and its bytes per pixel (8-bit RGB or RGBA)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data = 8, b""
    width = height = channels = 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            data += body
        pos += 12 + length
    raw = zlib.decompress(data)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + guess) & 0xFF
        rows.append(bytes(line))
        previous = bytes(line)
    return width, rows, channels


def colour_at(png: bytes, x: float, y: float) -> RGB:
    _, rows, channels = pixels(png)
    row, at = rows[int(y)], int(x) * channels
    return row[at], row[at + 1], row[at + 2]


def centre_in(frame_element: Locator, target: Locator) -> tuple[float, float]:
    """Where ``target`` (in the preview) is centred, in a screenshot of the frame element."""
    outer, inner = frame_element.bounding_box(), target.bounding_box()
    assert outer is not None and inner is not None
    return (
        inner["x"] - outer["x"] + inner["width"] / 2,
        inner["y"] - outer["y"] + inner["height"] / 2,
    )


def brightness(rgb: RGB) -> float:
    return sum(rgb) / 3


def choose(inbox: Inbox, scheme: str) -> None:
    button = inbox.page.locator(f".schemes .seg[data-scheme='{scheme}']")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(inbox.preview).to_have_attribute(
        "src", re.compile(rf"\?block_remote=1&scheme={scheme}$")
    )


@pytest.mark.browser
def test_dark_shows_the_emails_dark_styles_in_a_real_screenshot(
    catcher: Catcher, inbox: Inbox
) -> None:
    page = inbox.page
    requests: list[Request] = []
    left: list[str] = []
    page.on("request", lambda request: requests.append(request))
    page.context.route(
        lambda url: not url.startswith(catcher.url + "/"),
        lambda route: (left.append(route.request.url), route.abort()),
    )
    send(catcher, dark_email())
    inbox.open("Dark mode newsletter")
    frame_element = inbox.preview
    # Light by default, whatever the viewer's system prefers.
    expect(page.locator(".schemes .seg[data-scheme='light']")).to_have_attribute(
        "aria-pressed", "true"
    )
    box = inbox.preview_frame().locator("#box")
    expect(box).to_have_css("background-color", "rgb(255, 255, 255)")
    light_shot = frame_element.screenshot()
    light_box = colour_at(light_shot, *centre_in(frame_element, box))
    light_canvas = colour_at(light_shot, 300, 300)

    choose(inbox, "dark")
    box = inbox.preview_frame().locator("#box")
    expect(box).to_have_css("background-color", "rgb(0, 0, 0)")
    dark_shot = frame_element.screenshot()
    dark_box = colour_at(dark_shot, *centre_in(frame_element, box))
    dark_canvas = colour_at(dark_shot, 300, 300)

    assert dark_shot != light_shot
    assert brightness(light_box) > 240 and brightness(dark_box) < 15, (light_box, dark_box)
    # The email declares dark support, so the page around the box is dark too.
    assert brightness(light_canvas) > 240 and brightness(dark_canvas) < 60, (
        light_canvas,
        dark_canvas,
    )
    # The "Open" link shows the same scheme, and the choice outlives a reload.
    ident = catcher.store.latest().id  # type: ignore[union-attr]
    open_link = page.locator("#open-preview")
    expect(open_link).to_have_attribute(
        "href", f"/api/messages/{ident}/html?block_remote=1&scheme=dark"
    )
    page.reload()
    inbox.open("Dark mode newsletter")
    expect(page.locator(".schemes .seg[data-scheme='dark']")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(inbox.preview_frame().locator("#box")).to_have_css("background-color", "rgb(0, 0, 0)")

    # Remote content stayed blocked: the page asked for nothing but the catcher, except
    # what the preview's CSP refused before any connection was made.
    assert left == [], left
    foreign = [r for r in requests if not r.url.startswith(catcher.url + "/")]
    assert requests and all(r.failure == "csp" for r in foreign), [
        (r.url, r.failure) for r in foreign
    ]


@pytest.mark.browser
def test_the_preview_ignores_the_viewers_dark_system_setting(
    catcher: Catcher, open_inbox: Callable[..., Inbox]
) -> None:
    inbox = open_inbox(color_scheme="dark")
    send(catcher, dark_email())
    inbox.open("Dark mode newsletter")
    expect(inbox.preview_frame().locator("#box")).to_have_css(
        "background-color", "rgb(255, 255, 255)"
    )


@pytest.mark.browser
def test_inverted_darkens_a_light_email_and_keeps_its_photo(catcher: Catcher, inbox: Inbox) -> None:
    send(catcher, light_email())
    inbox.open("Light only receipt")
    frame_element = inbox.preview
    frame = inbox.preview_frame()
    photo = frame.locator("#photo")
    expect(photo).to_have_js_property("naturalWidth", 60)
    light_shot = frame_element.screenshot()
    card = frame.locator("#card")
    light_card = colour_at(light_shot, *centre_in(frame_element, card))

    choose(inbox, "invert")
    frame = inbox.preview_frame()
    expect(frame.locator("html")).to_have_css("filter", "invert(1) hue-rotate(180deg)")
    photo = frame.locator("#photo")
    expect(photo).to_have_js_property("naturalWidth", 60)
    dark_shot = frame_element.screenshot()
    dark_card = colour_at(dark_shot, *centre_in(frame_element, frame.locator("#card")))
    dark_photo = colour_at(dark_shot, *centre_in(frame_element, photo))
    dark_canvas = colour_at(dark_shot, 300, 300)

    assert dark_shot != light_shot
    assert brightness(light_card) > 240 and brightness(dark_card) < 15, (light_card, dark_card)
    assert brightness(dark_canvas) < 15, dark_canvas
    # Turned negative and back: the photo keeps its colour, near enough.
    assert all(abs(a - b) <= 24 for a, b in zip(dark_photo, PHOTO_RGB, strict=True)), dark_photo
    assert all(url.startswith((catcher.url + "/", "data:")) for url in inbox.requests), [
        url[:80] for url in inbox.requests
    ]


@pytest.mark.browser
def test_client_widths_set_the_preview_width(catcher: Catcher, inbox: Inbox) -> None:
    send(catcher, light_email())
    inbox.open("Light only receipt")
    page = inbox.page
    select = page.locator(".client-select")
    expect(select.locator("option")).to_have_text(
        [
            "Client width…",
            "iPhone 15 (393 px)",
            "Android (412 px)",
            "Gmail web (≈ 640 px content)",
            "Outlook desktop reading pane (≈ 800 px)",
        ]
    )
    select.select_option(label="Android (412 px)")
    expect(page.locator(".readout")).to_have_text("412 px")
    expect(page.locator(".seg[data-width][aria-pressed='true']")).to_have_count(0)
    assert inbox.preview_frame().evaluate("() => window.innerWidth") == pytest.approx(412, abs=2)
    page.locator(".seg[data-width='375']").click()
    expect(select).to_have_value("")
    expect(page.locator(".readout")).to_have_text("375 px")
    # Chosen from the keyboard too.
    select.focus()
    select.select_option("800")
    expect(page.locator(".readout")).to_have_text("800 px")


@pytest.mark.browser
def test_the_text_part_shows_beside_the_html(catcher: Catcher, inbox: Inbox) -> None:
    send(catcher, dark_email())
    send(catcher, light_email())
    page = inbox.page
    inbox.open("Dark mode newsletter")
    toggle = page.locator("#text-toggle")
    side = page.locator(".text-side")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(side).to_be_hidden()
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(side).to_be_visible()
    # Text, never markup: the <b> in the text part is shown as written.
    assert side.evaluate("e => e.textContent").replace("\r\n", "\n") == DARK_TEXT
    expect(side.locator("b")).to_have_count(0)
    frame_box, side_box = inbox.preview.bounding_box(), side.bounding_box()
    assert frame_box is not None and side_box is not None
    assert side_box["x"] >= frame_box["x"] + frame_box["width"]  # beside, not below

    inbox.open("Light only receipt")
    expect(page.locator(".text-side")).to_have_text("This message has no text part.")
    page.locator("#text-toggle").click()
    expect(page.locator(".text-side")).to_be_hidden()
