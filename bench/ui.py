"""Time to first render of the inbox list in headless Chromium (Playwright, Debian's chromium).

Measured from navigation start to the first list row being visible. When the page shows
no row (the UI missing or changed), the figures reported are DOMContentLoaded and the
arrival of the first ``/api/messages`` response, and ``rows_seen`` says so.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-quic",
]
ROW_SELECTOR = "a.row[data-id], li.item"


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def first_render(url: str, log: Callable[[str], None], loads: int = 5) -> dict[str, Any]:
    browser_path = chromium_path()
    if browser_path is None:
        log("  ui: skipped, no chromium on PATH (apt-get install chromium)")
        return {"skipped": "chromium not found"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        log("  ui: skipped, playwright is not installed (pip install playwright)")
        return {"skipped": "playwright not installed"}

    renders: list[float] = []
    dom_ready: list[float] = []
    api_first: list[float] = []
    rows_seen = True
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        try:
            for attempt in range(loads + 1):  # the first load warms caches and is dropped
                page = browser.new_context().new_page()
                api_at: list[float] = []

                def on_response(response: Any, api_at: list[float] = api_at) -> None:
                    if "/api/messages" in response.url and not api_at:
                        api_at.append(time.perf_counter())

                page.on("response", on_response)
                started = time.perf_counter()
                page.goto(url + "/", wait_until="domcontentloaded")
                dom = time.perf_counter() - started
                render = float("nan")
                if rows_seen:  # once a load shows no rows, later loads do not wait for them
                    try:
                        page.locator(ROW_SELECTOR).first.wait_for(state="visible", timeout=10000)
                        render = time.perf_counter() - started
                    except Exception:
                        rows_seen = False
                if not api_at:
                    try:  # the page may fetch the list after DOMContentLoaded
                        page.wait_for_load_state("networkidle", timeout=3000)
                    except Exception:
                        pass
                # Navigation timing from the page itself, for the record.
                if attempt:
                    renders.append(render)
                    dom_ready.append(dom)
                    if api_at:
                        api_first.append(api_at[0] - started)
                page.context.close()
        finally:
            browser.close()

    def med(values: list[float]) -> float | None:
        values = [v for v in values if v == v]
        return round(statistics.median(values) * 1000, 1) if values else None

    result = {
        "loads": loads,
        "rows_seen": rows_seen,
        "first_row_ms": med(renders) if rows_seen else None,
        "dom_content_loaded_ms": med(dom_ready),
        "first_api_response_ms": med(api_first),
        "selector": ROW_SELECTOR,
    }
    if rows_seen:
        log(f"  ui: first row visible after {result['first_row_ms']} ms (median of {loads})")
    else:
        log(
            f"  ui: no list rows appeared; DOMContentLoaded {result['dom_content_loaded_ms']} ms, "
            f"first /api/messages response {result['first_api_response_ms']} ms"
        )
    return result
