"""Temporal UI of `oms up` in a real Chromium: an engineer reads an order's encrypted history in clear, decrypted by
the stack's codec server."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Page, expect

from tests.browser.console_stack import EXAMPLES, ConsoleStack

pytestmark = pytest.mark.slow

# The UI is a single-page app that fetches the history, then asks the codec server to decrypt each payload.
DECRYPTED_WITHIN_MS = 30_000


async def test_temporal_ui_shows_a_demo_orders_input_decrypted_through_the_codec_server(
    page: Page, stack: ConsoleStack
) -> None:
    example = json.loads((EXAMPLES / "web-card.json").read_text())
    ui = f"http://127.0.0.1:{stack.env['OMS_TEMPORAL_UI_PORT']}"
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/decode" in request.url else None)

    await page.goto(f"{ui}/namespaces/default/workflows/order-web-demo-{example['external_id']}")

    street = page.get_by_text(example["shipping_address"]["line1"]).first
    await expect(street).to_be_visible(timeout=DECRYPTED_WITHIN_MS)
    assert any(url.startswith(f"http://127.0.0.1:{stack.env['OMS_CODEC_PORT']}/decode") for url in asked)
