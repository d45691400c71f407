"""Orders as channels send them, for tests: one valid order and the knobs the stories turn."""

from __future__ import annotations

import itertools
from typing import Any

from domain.order import Order
from gateways.payments import APPROVED_CARD, DECLINED_CARD, TEST_CARDS

_numbers = itertools.count(1000)

# The sandbox's test cards by token, as a shop's checkout hands them over.
CARD_APPROVES = APPROVED_CARD
CARD_DECLINES = DECLINED_CARD


def an_order(
    *,
    method: str = "card",
    card: str = CARD_APPROVES,
    lines: list[tuple[str, int, str]] | None = None,
    currency: str = "EUR",
    channel: str = "web",
    external_id: str | None = None,
    email: str = "ada@example.com",
    shipping: str = "0",
) -> Order:
    """A valid order; `lines` are (SKU, quantity, unit price) and default to two demo mugs.

    A card order pays with the test card whose token is `card`, with the brand and last four digits it shows.
    """
    payment: dict[str, Any] = {"method": method}
    if method == "card":
        shown = next(test_card for test_card in TEST_CARDS if test_card.token == card)
        payment.update(token=card, brand=shown.brand, last4=shown.last4)
    return Order.model_validate(
        {
            "channel": channel,
            "external_id": external_id or f"T{next(_numbers)}",
            "customer": {"name": "Ada Lovelace", "email": email},
            "shipping_address": {
                "name": "Ada Lovelace",
                "line1": "Unter den Linden 1",
                "postal_code": "10117",
                "city": "Berlin",
                "country": "DE",
            },
            "lines": [
                {"sku": sku, "quantity": quantity, "unit_price": {"amount": price, "currency": currency}}
                for sku, quantity, price in (lines or [("MUG-ENAMEL", 2, "14.90")])
            ],
            "payment": payment,
            "currency": currency,
            "shipping_fee": {"amount": shipping, "currency": currency},
        }
    )
