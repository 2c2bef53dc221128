"""The preview in a colour scheme: ``GET /api/messages/{id}/html?scheme=light|dark|invert``.

Media queries on ``prefers-color-scheme`` are decided on the server, so the preview looks
the same whatever the viewer's own setting; Chromium checks that the features put in
their place really always and never hold.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from catcher.preview import ALWAYS, INVERT_STYLE, NEVER, SCHEMES, color_scheme
from catcher.server import Catcher
from tests.conftest import Http, deliver, send
from tests.test_ui import png

try:
    from playwright.sync_api import Browser
except ImportError:  # the chromium fixture skips, or fails under CATCHER_REQUIRE_BROWSER=1
    Browser = None  # type: ignore[assignment,misc]

pytest_plugins = ["tests.browser"]

PHOTO_RGB = (190, 120, 90)
DARK_HTML = """<!doctype html>
<html>
<head>
<meta name="color-scheme" content="light dark">
<style>
body { margin: 0; font-family: sans-serif; }
.box { width: 200px; height: 120px; margin: 20px; background: #808080; color: #111111; }
@import url(https://fonts.example.test/dark.css) (prefers-color-scheme: dark);
@media (prefers-color-scheme: dark) { .box { background: #000000; color: #eeeeee; } }
@media (prefers-color-scheme: light) { .box { background: #ffffff; } }
</style>
</head>
<body>
<div class="box" id="box">Dark when asked</div>
<p id="plain">Text in the page's own colours.</p>
<img id="remote" src="https://images.example.test/logo.png" width="10" height="10" alt="">
</body>
</html>
"""
DARK_TEXT = "Dark mode newsletter\n\nThis is the text part: <b>not markup</b>.\n"


def dark_email(subject: str = "Dark mode newsletter") -> EmailMessage:
    """Dark styles of its own, a light counterpart, declared dark support, a text part,
    and a remote image and style sheet (blocked unless shown)."""
    message = EmailMessage()
    message["From"] = "Design Team <design@example.com>"
    message["To"] = "reader@example.com"
    message["Subject"] = subject
    message.set_content(DARK_TEXT)
    message.add_alternative(DARK_HTML, subtype="html")
    return message


def light_email(subject: str = "Light only receipt") -> EmailMessage:
    """White, with no dark styles and no text part, and a photo embedded as data: PNG."""
    photo = base64.b64encode(png(60, 40, PHOTO_RGB)).decode()
    message = EmailMessage()
    message["From"] = "Shop <shop@example.com>"
    message["To"] = "reader@example.com"
    message["Subject"] = subject
    message.set_content(
        '<html><body style="margin:0;background:#ffffff;color:#000000">'
        '<div id="card" style="width:200px;height:100px;margin:20px;background:#ffffff">'
        "Thanks for your order</div>"
        f'<img id="photo" src="data:image/png;base64,{photo}" width="60" height="40" '
        'alt="product" style="display:block;margin:20px"></body></html>',
        subtype="html",
    )
    return message


def sent(catcher: Catcher, message: EmailMessage) -> int:
    send(catcher, message)
    newest = catcher.store.latest()
    assert newest is not None
    return newest.id


# -- the rewriting, as a function ----------------------------------------------------------


def test_each_scheme_decides_the_features_for_itself() -> None:
    css = (
        "@media (prefers-color-scheme: dark) { .box { background: #000000 } }\n"
        "@media (prefers-color-scheme:light){ .box { background: #ffffff } }"
    )
    html = f"<style>{css}</style><p>x"
    dark = color_scheme(html, "dark")
    assert "@media (grid: 0) { .box { background: #000000 } }" in dark
    assert "@media (grid: 1){ .box { background: #ffffff } }" in dark
    light = color_scheme(html, "light")
    assert "@media (grid: 1) { .box { background: #000000 } }" in light
    assert "@media (grid: 0){ .box { background: #ffffff } }" in light
    inverted = color_scheme(html, "invert")
    assert "@media (grid: 1) { .box" in inverted and INVERT_STYLE in inverted
    assert "prefers-color-scheme" not in dark + light + inverted
    with pytest.raises(ValueError, match="light, dark, invert"):
        color_scheme(html, "sepia")


@pytest.mark.parametrize(
    ("css", "dark"),
    [
        # Case, escapes, comments and spacing as browsers read them.
        ("@media (PREFERS-color-scheme : Dark){a{b:c}}", "@media (grid: 0){a{b:c}}"),
        ("@media (prefers-color-scheme: d\\61rk){}", "@media (grid: 0){}"),
        ("@media ( prefers-color-scheme:/*x*/light /* y */ ){}", "@media (grid: 1 /* y */ ){}"),
        # Inside a media query list, under not, nested in @supports, @media and rules.
        (
            "@media screen and (max-width: 600px), not all and (prefers-color-scheme: light){}",
            "@media screen and (max-width: 600px), not all and (grid: 1){}",
        ),
        (
            "@supports (display: grid) { @media ((prefers-color-scheme: dark) and (hover)) {} }",
            "@supports (display: grid) { @media ((grid: 0) and (hover)) {} }",
        ),
        (
            ".a { color: red; @media (prefers-color-scheme: dark) { color: blue } }",
            ".a { color: red; @media (grid: 0) { color: blue } }",
        ),
        (
            "@import url(dark.css) (prefers-color-scheme: dark); a { b: c }",
            "@import url(dark.css) (grid: 0); a { b: c }",
        ),
        # Not media queries, or not a scheme: left as written.
        ("@media (prefers-color-scheme) { a { b: c } }", None),
        ("@media (prefers-color-scheme: no-preference) {}", None),
        ("@supports (prefers-color-scheme: dark) {}", None),
        ('a { content: "(prefers-color-scheme: dark)" } /* (prefers-color-scheme: dark) */', None),
        ("a:not((prefers-color-scheme: dark)) {}", None),
    ],
)
def test_only_media_features_are_rewritten(css: str, dark: str | None) -> None:
    html = f"<p>x</p><style>{css}</style>"
    assert color_scheme(html, "dark") == (
        html if dark is None else f"<p>x</p><style>{dark}</style>"
    )


def test_media_attributes_are_rewritten_too() -> None:
    html = (
        '<style media="screen and (prefers-color-scheme: dark)">a{b:c}</style>'
        '<link rel="stylesheet" href="dark.css" media="(prefers-color-scheme: dark)">'
        '<picture><source srcset="logo-dark.png" media="(prefers-color-scheme: dark)">'
        '<img src="logo.png" alt="A &amp; B"></picture>'
    )
    assert color_scheme(html, "light") == (
        '<style media="screen and (grid: 1)">a{b:c}</style>'
        '<link rel="stylesheet" href="dark.css" media="(grid: 1)">'
        '<picture><source srcset="logo-dark.png" media="(grid: 1)">'
        '<img src="logo.png" alt="A &amp; B"></picture>'
    )


@pytest.mark.parametrize(
    "declaration",
    [
        '<meta name="color-scheme" content="light dark">',
        '<meta name="supported-color-schemes" content="light dark">',
        "<style>:root { color-scheme: light dark; }</style>",
        "<style>html, body { color: #000; color-scheme: dark light }</style>",
    ],
)
def test_an_email_that_supports_dark_gets_a_dark_canvas(declaration: str) -> None:
    html = f"<!DOCTYPE html><html><head>{declaration}</head><body>Hi</body></html>"
    dark = color_scheme(html, "dark")
    assert dark.startswith(
        "<!DOCTYPE html><html><head><style>:root{color-scheme:dark!important}</style>"
    )
    assert ":root{color-scheme:light!important}" in color_scheme(html, "light")


def test_an_email_that_declares_nothing_keeps_its_canvas() -> None:
    html = "<html><head><style>.x { color-scheme: dark }</style></head><body>Hi</body></html>"
    assert color_scheme(html, "dark") == html
    assert color_scheme(html, "light") == html


def test_the_inverting_style_never_lands_before_a_doctype() -> None:
    assert color_scheme("<!doctype html><p>Hi", "invert") == (
        f"<!doctype html><style>{INVERT_STYLE}</style><p>Hi"
    )
    assert color_scheme("Hi", "invert") == f"Hi<style>{INVERT_STYLE}</style>"


HOSTILE: dict[str, Callable[[int], str]] = {
    "nested parentheses": lambda n: "<style>@media " + "(" * n + "prefers-color-scheme:dark",
    "nested blocks": lambda n: "<style>" + "{" * n + "@media (prefers-color-scheme:dark){}",
    "many features": lambda n: "<style>@media " + "(prefers-color-scheme:dark)," * (n // 28),
    "unclosed strings": lambda n: "<style>color-scheme" + "'a\n" * (n // 3),
    "long escape": lambda n: "<style>@media (prefers-color-scheme: " + "\\61" * (n // 3),
    "many style tags": lambda n: (
        "<style media='(prefers-color-scheme:dark)'>a{}</style>" * (n // 52)
    ),
    "one long selector": lambda n: "<style>color-scheme " + "html " * (n // 5) + "{}",
    "unclosed comments": lambda n: "<style>color-scheme" + "/*" * (n // 2),
    "many metas": lambda n: "<meta name=color-scheme content=dark>" * (n // 38),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_html_gets_a_page_in_every_scheme(name: str) -> None:
    """Each hostile shape gives a page (its cost as it grows: ``python -m bench.checks``)."""
    html = HOSTILE[name](16 * 1024)
    for mode in SCHEMES:
        page = color_scheme(html, mode)
        if mode == "invert":
            assert INVERT_STYLE in page  # read to its end: the inverting style is in
        if name in ("many features", "many style tags") and mode != "invert":
            assert "prefers-color-scheme" not in page  # well formed, so every one replaced


# -- over HTTP -----------------------------------------------------------------------------


def test_the_scheme_parameter_rewrites_only_when_asked(catcher: Catcher, http: Http) -> None:
    ident = sent(catcher, dark_email())
    plain = http.request("GET", f"/api/messages/{ident}/html")
    blocked = http.request("GET", f"/api/messages/{ident}/html?block_remote=1")
    raw = http.request("GET", f"/api/messages/{ident}/raw")
    assert "prefers-color-scheme: dark" in plain[2].decode()
    assert raw[2] == catcher.store.get(ident).raw  # type: ignore[union-attr]
    for scheme in SCHEMES:
        status, headers, body = http.request("GET", f"/api/messages/{ident}/html?scheme={scheme}")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert headers["Content-Security-Policy"] == plain[1]["Content-Security-Policy"]
        assert "prefers-color-scheme" not in body.decode()
        status, headers, _ = http.request(
            "GET", f"/api/messages/{ident}/html?scheme={scheme}&block_remote=1"
        )
        assert headers["Content-Security-Policy"] == blocked[1]["Content-Security-Policy"]
    dark = http.request("GET", f"/api/messages/{ident}/html?scheme=dark")[2].decode()
    assert "@media (grid: 0) { .box { background: #000000;" in dark
    assert "@media (grid: 1) { .box { background: #ffffff; } }" in dark
    assert "@import url(https://fonts.example.test/dark.css) (grid: 0);" in dark
    # Without the parameter, nothing changes: the same bytes as before it existed.
    again = http.request("GET", f"/api/messages/{ident}/html")
    assert (
        again[2] == plain[2]
        and again[1]["Content-Security-Policy"] == plain[1]["Content-Security-Policy"]
    )
    assert http.request("GET", f"/api/messages/{ident}/raw")[2] == raw[2]


@pytest.mark.parametrize("value", ["bogus", "", "DARK", "dark,light"])
def test_an_unknown_scheme_is_a_400_that_names_the_choices(
    catcher: Catcher, http: Http, value: str
) -> None:
    ident = deliver(catcher, b"Subject: x\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n")
    status, payload = http.json("GET", f"/api/messages/{ident}/html?scheme={value}")
    assert status == 400
    assert re.search(r"scheme: expected one of light, dark, invert", payload["error"])


def test_the_openapi_document_lists_the_schemes(http: Http) -> None:
    route = http.get("/api/openapi.json")["paths"]["/api/messages/{ident}/html"]["get"]
    scheme = next(p for p in route["parameters"] if p["name"] == "scheme")
    assert scheme["schema"]["enum"] == list(SCHEMES)
    assert "approximation" in scheme["description"]


# -- in Chromium -----------------------------------------------------------------------------


@pytest.mark.browser
def test_the_replacement_features_always_and_never_hold_in_chromium(chromium: Browser) -> None:
    queries = [ALWAYS, NEVER, f"not {ALWAYS}", f"not all and {NEVER}", f"screen and {ALWAYS}"]
    for os_scheme in ("light", "dark"):
        context = chromium.new_context(
            color_scheme=os_scheme, viewport={"width": 300, "height": 200}
        )
        try:
            page = context.new_page()
            # A frame 0 px wide too: width features would change their answer there.
            page.set_content('<iframe width="0" height="0" srcdoc="<p>x"></iframe>')
            for frame in page.frames:
                found = frame.evaluate("qs => qs.map(q => matchMedia(q).matches)", queries)
                assert found == [True, False, False, True, True], (os_scheme, frame.url)
        finally:
            context.close()


@pytest.mark.browser
@pytest.mark.parametrize("os_scheme", ["light", "dark"])
def test_the_dark_rules_apply_in_dark_whatever_the_viewer_prefers(
    catcher: Catcher, chromium: Browser, os_scheme: str
) -> None:
    ident = sent(catcher, dark_email())
    context = chromium.new_context(color_scheme=os_scheme)
    try:
        page = context.new_page()
        colours = {}
        for scheme in ("light", "dark"):
            page.goto(f"{catcher.url}/api/messages/{ident}/html?scheme={scheme}&block_remote=1")
            colours[scheme] = page.locator("#box").evaluate(
                "e => getComputedStyle(e).backgroundColor"
            )
        assert colours == {"light": "rgb(255, 255, 255)", "dark": "rgb(0, 0, 0)"}
    finally:
        context.close()
