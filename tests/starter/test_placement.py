"""Order intake: every kind of bad input is refused with the field named, before anything starts or is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from domain.order import Channel, PaymentMethod
from settings import Settings
from starter.placement import OrderInputError, check_catalogue, parse_order, place_order
from store.catalogue import seed_demo_catalogue
from store.orders import list_orders

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str = "web-card.json") -> dict[str, Any]:
    """An example order file as a dict, to be broken by a test."""
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


def refusal(data: Any) -> str:
    """The message `parse_order` refuses `data` with."""
    with pytest.raises(OrderInputError) as refused:
        parse_order(data if isinstance(data, str) else json.dumps(data))
    return str(refused.value)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda path: path.name)
def test_every_example_is_a_valid_order(path: Path) -> None:
    order = parse_order(path.read_text())
    assert order.order_id == f"{order.channel.value}-{order.external_id}"


def test_examples_cover_every_channel_payment_method_and_precision() -> None:
    orders = [parse_order(path.read_text()) for path in EXAMPLES.glob("*.json")]
    assert {order.channel for order in orders} == set(Channel)
    assert {order.payment.method for order in orders} == set(PaymentMethod)
    assert {"JPY", "KWD"} <= {order.currency for order in orders}


def test_quantity_zero_names_the_line() -> None:
    data = example()
    data["lines"][0]["quantity"] = 0
    assert refusal(data) == "lines[0].quantity: must be at least 1, got 0"


def test_malformed_email_names_the_customer_field() -> None:
    data = example()
    data["customer"]["email"] = "anna.example.com"
    assert refusal(data) == (
        "customer.email: 'anna.example.com' is not a valid email address: An email address must have an @-sign."
    )


def test_unsupported_currency_is_named_once() -> None:
    data = example()
    data["currency"] = "XYZ"
    assert refusal(data) == "currency: 'XYZ' is not a supported ISO 4217 currency"


def test_totals_that_do_not_add_up_show_both_amounts() -> None:
    data = example()
    data["totals"]["total"]["amount"] = "50.00"
    assert refusal(data) == "totals.total: 50.00 EUR does not add up; the lines give 44.20 EUR"


def test_garbage_json_gives_line_and_column() -> None:
    message = refusal('{\n  "channel": "web",\n  "lines": [1,, 2]\n}')
    assert message.startswith("invalid JSON at line 3 column 15: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the order is empty: expected a JSON object"),
        ("[1, 2]", "the order must be a JSON object, got list"),
    ],
)
def test_input_that_is_not_an_order_object(text: str, expected: str) -> None:
    assert refusal(text) == expected


def test_missing_fields_and_wrong_choices_are_each_named() -> None:
    data = example()
    del data["customer"]
    data["payment"]["method"] = "bitcoin"
    message = refusal(data)
    assert "customer: is required" in message
    assert "payment.method: must be one of 'card', 'paypal'" in message
    assert "got 'bitcoin'" in message


def test_an_order_with_a_card_number_is_refused_naming_the_field_without_repeating_the_number() -> None:
    data = example()
    data["payment"] = {"method": "card", "card_number": "4242 4242 4242 4242"}

    assert refusal(data) == (
        "payment.card_number: card numbers are not accepted; "
        "send the payment provider's token (e.g. tok_visa) with brand and last4"
    )


def test_a_card_number_sent_in_the_token_field_is_refused_without_repeating_it() -> None:
    data = example()
    data["payment"]["token"] = "4000-0000-0000-0002"

    message = refusal(data)

    assert message.startswith("payment.token: holds a card number; card numbers are not accepted")
    assert "0000" not in message


def test_a_card_number_hidden_in_any_payment_field_is_refused() -> None:
    data = example("marketplace-paypal.json")
    data["payment"]["paypal_email"] = "4242424242424242@paypal.example"
    data["payment"]["method"] = "4000 0000 0000 0002"

    message = refusal(data)

    assert "payment.method: holds a card number" in message
    assert "payment.paypal_email: holds a card number" in message
    assert "4242" not in message
    assert "0002" not in message


def test_sixteen_digits_that_are_no_card_number_are_a_paypal_account_like_any_other() -> None:
    data = example("marketplace-paypal.json")
    data["payment"]["paypal_email"] = "1234567812345678@paypal.example"

    assert parse_order(json.dumps(data)).payment.paypal_email == "1234567812345678@paypal.example"


def test_many_problems_stay_on_one_line() -> None:
    message = refusal({"channel": "web"})
    assert "\n" not in message
    assert message.endswith("more")


def test_json_numbers_are_exact_decimals_not_floats() -> None:
    data = example()
    text = json.dumps(data).replace('"14.90"', "14.90")
    order = parse_order(text)
    assert str(order.lines[0].unit_price.amount) == "14.90"


async def test_unknown_sku_names_the_line(sessions: async_sessionmaker[AsyncSession]) -> None:
    await seed_demo_catalogue(sessions)
    data = example()
    data["lines"][1]["sku"] = "NOPE-1"
    order = parse_order(json.dumps(data))
    with pytest.raises(OrderInputError) as refused:
        await check_catalogue(sessions, order)
    assert str(refused.value) == "lines[1].sku: unknown SKU 'NOPE-1'"


async def test_known_skus_pass_the_catalogue(sessions: async_sessionmaker[AsyncSession]) -> None:
    await seed_demo_catalogue(sessions)
    await check_catalogue(sessions, parse_order((EXAMPLES / "web-card.json").read_text()))


async def test_unknown_sku_starts_nothing_and_writes_nothing(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed_demo_catalogue(sessions)
    data = example()
    data["lines"][0]["sku"] = "NOPE-1"
    order = parse_order(json.dumps(data))
    # A client that fails on any use: placement must refuse before it talks to Temporal at all.
    no_temporal = cast(Client, object())
    with pytest.raises(OrderInputError, match=r"lines\[0\]\.sku: unknown SKU 'NOPE-1'"):
        await place_order(no_temporal, settings, sessions, order)
    assert await list_orders(sessions) == []
