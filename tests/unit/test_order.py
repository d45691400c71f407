"""An order is valid only if the workflow can run it without asking anyone; errors name the field."""

from typing import Any

import pytest
from pydantic import ValidationError

from domain.money import Money
from domain.order import Order, PaymentDetails, PaymentMethod

# "4242" in fullwidth digits: digits to str.isdigit, but not the ASCII digits a card's last4 is written in.
FULLWIDTH_4242 = "\uff14\uff12\uff14\uff12"


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
        "payment": {"method": "card", "token": "tok_visa", "brand": "visa", "last4": "4242"},
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
    assert order.payment.reference == "Visa ending 4242"


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


def test_card_payment_needs_the_providers_token() -> None:
    with pytest.raises(ValidationError, match=r"token is required when method is 'card'.*\(e.g. tok_visa\)"):
        Order.model_validate(order_data(payment={"method": "card", "brand": "visa", "last4": "4242"}))


def test_a_card_is_shown_by_its_brand_and_last_four_digits_or_as_a_card() -> None:
    def shown(**card: str) -> str:
        return PaymentDetails.model_validate({"method": "card", "token": "tok_visa", **card}).reference

    assert shown(brand="visa", last4="4242") == "Visa ending 4242"
    assert shown(brand="Mastercard", last4="4444") == "Mastercard ending 4444"
    assert shown(last4="4242") == "card ending 4242"
    assert shown(brand="amex") == "Amex card"
    assert shown() == "card"


def test_other_methods_are_shown_by_their_name() -> None:
    assert PaymentDetails(method=PaymentMethod.PAYPAL, paypal_email="ada@example.com").reference == "paypal"


@pytest.mark.parametrize(
    ("card", "field", "problem"),
    [
        ({"token": "visa"}, "token", "must be the payment provider's token: 'tok_' and 1-100 letters"),
        ({"token": "tok_"}, "token", "must be the payment provider's token"),
        ({"token": "tok_visa\n"}, "token", "must be the payment provider's token"),
        ({"token": "tok_" + "a" * 101}, "token", "must be the payment provider's token"),
        ({"token": "tok_4242424242424242"}, "token", "holds a card number; card numbers are not accepted"),
        ({"token": "tok_visa", "brand": "Visa Gold Card"}, "brand", "one short lowercase word, such as visa"),
        ({"token": "tok_visa", "last4": "424"}, "last4", "must be the last 4 digits of the card number"),
        ({"token": "tok_visa", "last4": FULLWIDTH_4242}, "last4", "must be the last 4 digits of the card number"),
    ],
)
def test_card_fields_are_checked_naming_the_field_without_repeating_the_value(
    card: dict[str, str], field: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        PaymentDetails.model_validate({"method": "card", **card})

    (error,) = refused.value.errors(include_url=False)
    assert error["loc"] == (field,)
    assert problem in error["msg"]
    assert "4242424242424242" not in error["msg"]


def test_card_details_on_another_method_are_refused() -> None:
    with pytest.raises(ValidationError, match="token and last4 are only for card payments, not paypal"):
        PaymentDetails.model_validate({"method": "paypal", "token": "tok_visa", "last4": "4242"})


def test_an_order_placed_with_a_card_number_before_tokens_still_decodes_as_it_was_recorded() -> None:
    # The payment as Temporal stored it in the histories of orders placed before tokens.
    stored = '{"method":"card","card_number":"4000000000000002","paypal_email":null}'

    payment = PaymentDetails.model_validate_json(stored)

    assert payment.token is None
    assert payment.card_number == "4000000000000002"
    assert payment.reference == "card ending 0002"
