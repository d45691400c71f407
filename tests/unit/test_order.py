"""An order is valid only if the workflow can run it without asking anyone; errors name the field."""

from typing import Any

import pytest
from pydantic import ValidationError

from domain.money import Money
from domain.order import Order, PaymentMethod


def order_data(**changes: Any) -> dict[str, Any]:
    """A valid web order, with `changes` applied on top."""
    data: dict[str, Any] = {
        "channel": "web",
        "external_id": "1001",
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "shipping_address": {
            "name": "Ada Lovelace",
            "line1": "Unter den Linden 1",
            "postal_code": "10117",
            "city": "Berlin",
            "country": "DE",
        },
        "lines": [{"sku": "MUG-BLUE", "quantity": 2, "unit_price": {"amount": "12.50", "currency": "EUR"}}],
        "payment": {"method": "card", "card_number": "4242 4242 4242 4242"},
        "currency": "EUR",
        "shipping_fee": {"amount": "4.90", "currency": "EUR"},
    }
    data.update(changes)
    return data


def test_order_id_is_channel_and_external_id() -> None:
    assert Order.model_validate(order_data()).order_id == "web-1001"


def test_total_is_lines_plus_shipping() -> None:
    order = Order.model_validate(order_data())
    assert order.total == Money.of("29.90", "EUR")
    assert order.payment.method is PaymentMethod.CARD
    assert order.payment.reference == "card ending 4242"


def test_claimed_totals_that_do_not_add_up_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"totals.total: 30.00 EUR does not add up; the lines give 29.90 EUR"):
        Order.model_validate(order_data(totals={"total": {"amount": "30.00", "currency": "EUR"}}))


def test_quantity_zero_is_refused() -> None:
    lines = [{"sku": "MUG-BLUE", "quantity": 0, "unit_price": {"amount": "1", "currency": "EUR"}}]
    with pytest.raises(ValidationError, match="must be at least 1, got 0"):
        Order.model_validate(order_data(lines=lines))


def test_malformed_email_is_refused() -> None:
    with pytest.raises(ValidationError, match="'ada-at-example' is not a valid email address"):
        Order.model_validate(order_data(customer={"name": "Ada", "email": "ada-at-example"}))


def test_line_in_another_currency_is_refused() -> None:
    lines = [{"sku": "MUG-BLUE", "quantity": 1, "unit_price": {"amount": "1", "currency": "USD"}}]
    with pytest.raises(ValidationError, match=r"lines\[0\].unit_price: currency USD differs from the order's EUR"):
        Order.model_validate(order_data(lines=lines))


def test_card_payment_needs_a_card_number() -> None:
    with pytest.raises(ValidationError, match="card_number is required"):
        Order.model_validate(order_data(payment={"method": "card"}))
