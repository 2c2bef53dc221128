"""Playwright fixtures for the inbox's browser tests: one headless Chromium per session,
a fresh context and page per test, and an ``Inbox`` helper that drives the UI.

Chromium is Debian's ``/usr/bin/chromium`` (Playwright's own download does not work on
these machines) or, failing that, a browser Playwright installed. Without one the tests
skip, unless ``CATCHER_REQUIRE_BROWSER=1`` (CI) turns the skip into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from catcher.server import Catcher

try:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Dialog,
        Error,
        Frame,
        Locator,
        Page,
        Playwright,
        Request,
        expect,
        sync_playwright,
    )
except ImportError:  # pragma: no cover - the browser fixture skips (or fails) instead
    sync_playwright = None  # type: ignore[assignment]
    expect = None  # type: ignore[assignment]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
DEBIAN_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 800}
# Playwright's auto-waiting timeout: generous, the machine is shared.
TIMEOUT_MS = 15_000


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CATCHER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CATCHER_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _chromium_path(playwright: Playwright) -> str | None:
    """Debian's Chromium, another chromium on PATH, or one Playwright installed."""
    for candidate in (DEBIAN_CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    try:
        bundled = playwright.chromium.executable_path
    except Error:
        return None
    return bundled if bundled and os.access(bundled, os.X_OK) else None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for the whole session."""
    if sync_playwright is None:
        _unavailable("Playwright for Python is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        path = _chromium_path(playwright)
        if path is None:
            _unavailable(
                f"no Chromium: install Debian's chromium ({DEBIAN_CHROMIUM}) "
                "or run `playwright install chromium`"
            )
        try:
            browser = playwright.chromium.launch(
                executable_path=path, args=CHROMIUM_ARGS, headless=True
            )
        except Error as error:
            _unavailable(f"Chromium at {path} did not start: {error.message.splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


class Inbox:
    """A page on a catcher's inbox that records what a hostile message might try.

    ``dialogs``, ``console``, ``requests``, ``popups`` and ``errors`` (uncaught
    exceptions in the UI) collect as the page is used.
    """

    def __init__(self, page: Page, catcher: Catcher) -> None:
        self.page = page
        self.catcher = catcher
        self.dialogs: list[str] = []
        self.console: list[str] = []
        self.requests: list[str] = []
        self.popups: list[str] = []
        self.errors: list[str] = []
        self._watch(page)
        page.context.on("page", self._popup)
        page.context.on("request", self._request)

    def _watch(self, page: Page) -> None:
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))

    def _popup(self, page: Page) -> None:
        if page is not self.page:
            self.popups.append(page.url)
            self._watch(page)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        self.console.append(message.text)

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def start_afresh(self) -> None:
        """Close the tabs the page opened and forget what was recorded (the errors were
        checked already): for the next case of a battery that shares this page."""
        for page in self.page.context.pages:
            if page is not self.page:
                page.close()
        for record in (self.dialogs, self.console, self.requests, self.popups, self.errors):
            record.clear()
        self.page.bring_to_front()

    # -- navigation ----------------------------------------------------------------------

    def goto(self, path: str = "/") -> Inbox:
        self.page.goto(self.catcher.url + path)
        expect(self.page.locator("#conn")).to_have_attribute("data-state", "live")
        expect(self.page.locator("#list")).not_to_have_attribute("aria-busy", "true")
        return self

    def row(self, subject: str) -> Locator:
        return self.page.locator("#list a.row").filter(
            has=self.page.locator(".subject", has_text=re.compile(f"^{re.escape(subject)}$"))
        )

    @property
    def rows(self) -> Locator:
        return self.page.locator("#list a.row")

    def open(self, subject: str) -> Inbox:
        self.row(subject).click()
        expect(self.page.locator("#message-subject")).to_have_text(subject)
        return self

    def tab(self, name: str) -> Locator:
        """Select a message tab (HTML, Text, Source, Headers, Parts, Check); returns its panel."""
        self.page.locator(f"#tab-{name.lower()}").click()
        panel = self.page.locator(f"#panel-{name.lower()}")
        expect(panel).to_be_visible()
        return panel

    @property
    def preview(self) -> Locator:
        return self.page.locator("iframe.preview-frame")

    def preview_frame(self) -> Frame:
        """The preview iframe's frame, once its document has loaded."""
        handle = self.preview.element_handle()
        assert handle is not None
        frame = handle.content_frame()
        assert frame is not None
        frame.wait_for_load_state("load")
        return frame

    def screenshot(self, name: str, full_page: bool = False) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=path, full_page=full_page)
        return path


@pytest.fixture
def open_inbox(chromium: Browser, catcher: Catcher) -> Iterator[Callable[..., Inbox]]:
    """Open the inbox in a fresh context: ``open_inbox(color_scheme="dark", phone=True)``.

    The test fails if the UI threw an uncaught exception.
    """
    contexts: list[BrowserContext] = []
    inboxes: list[Inbox] = []

    def make(
        path: str | None = "/",
        *,
        target: Catcher | None = None,
        phone: bool = False,
        **options: Any,
    ) -> Inbox:
        if phone:
            options.update(viewport=PHONE, is_mobile=True, has_touch=True)
        options.setdefault("viewport", DESKTOP)
        options.setdefault("color_scheme", "light")
        options.setdefault("reduced_motion", "reduce")
        context = chromium.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        inbox = Inbox(context.new_page(), target or catcher)
        inboxes.append(inbox)
        if path is not None:
            inbox.goto(path)
        return inbox

    expect.set_options(timeout=TIMEOUT_MS)
    try:
        yield make
    finally:
        for context in contexts:
            context.close()
    for inbox in inboxes:
        assert not inbox.errors, f"the inbox threw: {inbox.errors}"


@pytest.fixture
def inbox(open_inbox: Callable[..., Inbox]) -> Inbox:
    """The inbox, light theme, desktop size, loaded and live."""
    return open_inbox()
