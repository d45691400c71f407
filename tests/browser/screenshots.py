"""The README's screenshots of the console: `python -m tests.browser.screenshots` writes docs/console-*.png.

It runs its own `oms up` in a temporary folder, waits until the demo orders rest where an operator would find them,
logs in as the demo operator and photographs the home page and a completed demo order with its whole timeline.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Page, async_playwright, expect

from tests.browser.console_stack import DEMO_OPERATOR, VIEWPORT, ConsoleStack, launch, log_in
from tests.browser.find_chromium import Chromium, ChromiumMissing, find_chromium

DOCS = Path(__file__).resolve().parents[2] / "docs"
HOME = "console-home.png"
ORDER = "console-order.png"
# A demo order that went all the way: its page shows payment, shipment, lines and the whole timeline.
SHOWN_ORDER = "web-demo-1001"


async def photograph(page: Page, folder: Path) -> list[Path]:
    """Screenshots of the home page and of the demo order's page, taken by a logged-in tab; their paths."""
    await page.goto("/")
    await expect(page.locator('[data-figure="completed"]')).not_to_have_text("0")
    home = folder / HOME
    await page.screenshot(path=home, full_page=True)
    await page.goto(f"/orders/{SHOWN_ORDER}")
    await expect(page.locator("[data-status]")).to_have_text("completed")
    order = folder / ORDER
    await page.screenshot(path=order, full_page=True)
    return [home, order]


async def take(folder: Path, chromium: Chromium) -> list[Path]:
    """Start a stack with demo data, photograph its console into `folder` with `chromium`, stop the stack."""
    with tempfile.TemporaryDirectory(prefix="oms-screenshots-") as scratch:
        async with ConsoleStack.running(Path(scratch)) as stack, async_playwright() as playwright:
            await stack.demo_orders_resting()
            browser = await launch(playwright, chromium)
            try:
                context = await browser.new_context(base_url=stack.url, viewport=VIEWPORT)  # type: ignore[arg-type]
                page = await context.new_page()
                await log_in(page, DEMO_OPERATOR, stack.password)
                return await photograph(page, folder)
            finally:
                await browser.close()


def main() -> int:
    """Write the screenshots into docs/ and name them; exit 1 with the reason when there is no Chromium."""
    try:
        chromium = find_chromium()
    except ChromiumMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 1
    written = asyncio.run(take(DOCS, chromium))
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
