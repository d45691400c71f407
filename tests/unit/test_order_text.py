"""Every text an order or a command carries is bounded and free of control characters; an email field is one address."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain.commands import Complete, DeliveryEvent, Feedback, PaymentReceived, Shipped
from domain.order import MAX_ORDER_BYTES, NOTE_LENGTH, Order, size_problem
from domain.refund import Refund
from tests.unit.test_order import order_data

HEADER_INJECTION = "Eve\r\nBcc: spy@evil.example"


def with_customer(**changes: str) -> dict[str, Any]:
    customer = {"name": "Ada Lovelace", "email": "ada@example.com"} | changes
    return order_data(customer=customer)


def with_address(**changes: str) -> dict[str, Any]:
    address = {
        "name": "Ada Lovelace",
        "line1": "Unter den Linden 1",
        "postal_code": "10117",
        "city": "Berlin",
        "country": "DE",
    } | changes
    return order_data(shipping_address=address)


def refusal(data: dict[str, Any]) -> tuple[str, str]:
    """The field and message of the one error `data` is refused with."""
    with pytest.raises(ValidationError) as refused:
        Order.model_validate(data)
    errors = refused.value.errors()
    assert len(errors) == 1, errors
    return ".".join(str(part) for part in errors[0]["loc"]), errors[0]["msg"]


def test_a_customer_name_with_a_line_break_is_refused_naming_the_field_and_the_character() -> None:
    field, message = refusal(with_customer(name=HEADER_INJECTION))
    assert field == "customer.name"
    assert "U+000D at position 4" in message


@pytest.mark.parametrize("character", ["\x00", "\n", "\t", "\x1b", "\x7f", "\u2028", "\u202e"])
def test_every_control_character_is_refused_in_an_address_line(character: str) -> None:
    field, message = refusal(with_address(line1=f"Unter den{character}Linden 1"))
    assert field == "shipping_address.line1"
    assert f"U+{ord(character):04X}" in message


@pytest.mark.parametrize("field_name", ["name", "line1", "line2", "postal_code", "city"])
def test_no_address_field_takes_a_line_break(field_name: str) -> None:
    field, _ = refusal(with_address(**{field_name: "10117\nBcc: x"}))
    assert field == f"shipping_address.{field_name}"


def test_an_email_field_with_two_addresses_is_refused() -> None:
    field, message = refusal(with_customer(email="anna@evil.example,x.de"))
    assert field == "customer.email"
    assert "is not a valid email address" in message


@pytest.mark.parametrize(
    "address",
    ["anna@example.com, bob@example.com", "anna@example.com\r\nBcc: spy@evil.example", "jö@example.de", "a@b.test"],
)
def test_an_email_field_holds_exactly_one_plain_address(address: str) -> None:
    field, _ = refusal(with_customer(email=address))
    assert field == "customer.email"


def test_an_email_with_an_international_domain_is_kept_in_the_ascii_form_mail_servers_take() -> None:
    order = Order.model_validate(with_customer(email="Anna@Müller.de"))
    assert order.customer.email == "anna@xn--mller-kva.de"


def test_a_paypal_email_is_one_address_too() -> None:
    data = order_data(payment={"method": "paypal", "paypal_email": "a@example.com;b@example.com"})
    field, _ = refusal(data)
    assert field == "payment.paypal_email"


def test_a_note_longer_than_its_limit_is_refused_without_reading_it_through() -> None:
    field, message = refusal(order_data(note="x" * 2_000_000))
    assert field == "note"
    assert f"at most {NOTE_LENGTH} characters" in message


def test_a_note_may_hold_several_lines_and_windows_line_ends_become_plain_ones() -> None:
    order = Order.model_validate(order_data(note="ring twice\r\nleave at the door\tthanks"))
    assert order.note == "ring twice\nleave at the door\tthanks"


def test_a_note_with_a_nul_is_refused() -> None:
    field, message = refusal(order_data(note="ring\x00twice"))
    assert field == "note"
    assert "U+0000" in message


def test_a_line_name_is_bounded() -> None:
    lines = [{"sku": "MUG-BLUE", "quantity": 1, "unit_price": {"amount": "1", "currency": "EUR"}, "name": "m" * 201}]
    field, message = refusal(order_data(lines=lines, shipping_fee=None))
    assert field == "lines.0.name"
    assert "at most 200 characters" in message


def test_an_order_of_the_largest_honest_size_fits_the_encoded_limit() -> None:
    lines = [
        {"sku": f"SKU-{index:03}", "quantity": 1, "unit_price": {"amount": "1", "currency": "EUR"}, "name": "m" * 200}
        for index in range(200)
    ]
    order = Order.model_validate(order_data(lines=lines, shipping_fee=None, note="n" * NOTE_LENGTH))
    assert size_problem(order) is None


def test_an_order_over_the_encoded_limit_is_named_with_its_size() -> None:
    # Four-byte characters in every field that allows them: the lengths pass, the bytes do not.
    wide = "\U0001f600" * 200
    lines = [
        {"sku": f"SKU-{index:03}", "quantity": 1, "unit_price": {"amount": "1", "currency": "EUR"}, "name": wide}
        for index in range(200)
    ]
    order = Order.model_validate(order_data(lines=lines, shipping_fee=None))
    problem = size_problem(order)
    assert problem is not None
    assert problem.startswith("order: encoded as ")
    assert f"over the limit of {MAX_ORDER_BYTES:,}" in problem


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (Shipped, {"carrier": "DHL", "tracking": "00340\r\n434"}, "tracking"),
        (Shipped, {"carrier": "DHL\x00", "tracking": "1"}, "carrier"),
        (PaymentReceived, {"reference": "ref\nx"}, "reference"),
        (DeliveryEvent, {"event": "delivered\x1b[2J"}, "event"),
        (Feedback, {"rating": 5, "comment": "good\x00"}, "comment"),
        (Complete, {"note": "\x07done"}, "note"),
        (Refund, {"reason": "broken\x00"}, "reason"),
    ],
)
def test_a_command_field_with_a_control_character_is_refused_naming_it(
    model: type[Any], data: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)
    assert [error["loc"][0] for error in refused.value.errors()] == [field]
    assert "control characters" in refused.value.errors()[0]["msg"]
