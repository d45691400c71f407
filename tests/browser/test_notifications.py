"""A new order in a real Chromium: a browser notification when the operator allowed them, a chime when Sound is on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.console_stack import ConsoleStack, listening

# Each test drives `oms up` and the `oms` command line as subprocesses.
pytestmark = pytest.mark.slow

# A manual-mode cash order rests in picking: one new order and little work for the stack's worker.
EXAMPLE = "pos-cash-on-delivery.json"
CHANNEL = "pos"
# Three bags of coffee at 8.90 EUR and 6.50 EUR shipping, as the console formats money.
TOTAL = "33.20 EUR"

# Put into the page before its own scripts. Headless Chromium shows no notification and plays into no speaker, so
# the page keeps what console.js handed to the browser: every Notification it constructed (the real one still is,
# and `Notification.permission` still comes from the browser) and every tone it started, with the new order being
# handled at that moment (null outside a new-order message, e.g. the chime that confirms ticking Sound).
# `omsNewOrdersHandled` lists the new-order messages console.js has finished with: window's bubbling listener runs
# after console.js's listener on document, so a test that waits for an order there has seen everything it did.
RECORD_NOTIFICATIONS_AND_CHIMES = """
(() => {
  window.omsNotifications = [];
  window.omsChimes = [];
  window.omsNewOrdersHandled = [];
  let handling = null;
  const newOrder = event => event.detail && event.detail.type === "new-order" ? event.detail.data : null;
  window.addEventListener("htmx:sseMessage", event => { handling = newOrder(event); }, true);
  window.addEventListener("htmx:sseMessage", event => {
    if (handling !== null) { window.omsNewOrdersHandled.push(handling); }
    handling = null;
  });
  const BrowserNotification = window.Notification;
  window.Notification = class extends BrowserNotification {
    constructor(title, options) {
      super(title, options);
      window.omsNotifications.push({title: title, body: options ? options.body : null});
    }
  };
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.omsChimes.push(handling);
    return start.apply(this, args);
  };
})();
"""


async def open_console_recording(page: Page) -> None:
    """Record notifications and chimes in every document the tab loads, then open the console's home page."""
    await page.add_init_script(RECORD_NOTIFICATIONS_AND_CHIMES)
    await page.goto("/")
    await listening(page)


async def place_and_wait_until_handled(page: Page, stack: ConsoleStack, orders_folder: Path) -> str:
    """Place an order with the CLI; returns its id once console.js on the open page has handled its toast."""
    order_id = await stack.place(EXAMPLE, orders_folder, mode="manual")
    await page.wait_for_function(
        "title => window.omsNewOrdersHandled.some(toast => toast.includes(title))", arg=f"New order {order_id}"
    )
    return order_id


async def recorded(page: Page, what: str) -> list[Any]:
    """What the page recorded so far: `omsNotifications` or `omsChimes`."""
    found: list[Any] = await page.evaluate(f"window.{what}")
    return found


async def test_with_notifications_allowed_the_button_says_so_and_a_new_order_raises_a_browser_notification(
    operator_page: Page, stack: ConsoleStack, orders_folder: Path
) -> None:
    page = operator_page
    await page.context.grant_permissions(["notifications"], origin=stack.url)
    await open_console_recording(page)
    allow = page.locator("#allow-notifications")
    await expect(allow).to_have_text("Notifications on")
    await expect(allow).to_be_disabled()

    order_id = await place_and_wait_until_handled(page, stack, orders_folder)

    ours = [note for note in await recorded(page, "omsNotifications") if note["title"] == f"New order {order_id}"]
    assert len(ours) == 1, await recorded(page, "omsNotifications")
    assert TOTAL in ours[0]["body"]
    assert CHANNEL in ours[0]["body"]


async def test_with_notifications_denied_a_new_order_shows_the_toast_and_no_browser_notification(
    operator_page: Page, stack: ConsoleStack, orders_folder: Path
) -> None:
    page = operator_page
    await open_console_recording(page)
    allow = page.locator("#allow-notifications")
    # Headless Chromium answers the permission prompt with a refusal, as an operator clicking "Block" would.
    await allow.click()
    await page.wait_for_function("() => Notification.permission === 'denied'")
    await expect(allow).to_have_text("Notify me")
    await expect(allow).to_be_enabled()

    order_id = await place_and_wait_until_handled(page, stack, orders_folder)

    await expect(page.locator("#toasts .toast", has_text=f"New order {order_id}")).to_be_visible()
    assert await recorded(page, "omsNotifications") == []


async def test_sound_ticked_is_remembered_after_a_reload_and_a_new_order_plays_the_chime(
    operator_page: Page, stack: ConsoleStack, orders_folder: Path
) -> None:
    page = operator_page
    await open_console_recording(page)
    sound = page.get_by_role("checkbox", name="Sound")
    await expect(sound).not_to_be_checked()
    await sound.check()

    await page.reload()
    await listening(page)
    await expect(sound).to_be_checked()
    order_id = await place_and_wait_until_handled(page, stack, orders_folder)

    chimes = await recorded(page, "omsChimes")
    assert [toast for toast in chimes if toast is not None and f"New order {order_id}" in toast], chimes


async def test_sound_unticked_is_remembered_after_a_reload_and_a_new_order_plays_no_chime(
    operator_page: Page, stack: ConsoleStack, orders_folder: Path
) -> None:
    page = operator_page
    await open_console_recording(page)
    sound = page.get_by_role("checkbox", name="Sound")
    await sound.check()
    await sound.uncheck()

    await page.reload()
    await listening(page)
    await expect(sound).not_to_be_checked()
    await place_and_wait_until_handled(page, stack, orders_folder)

    assert await recorded(page, "omsChimes") == []
