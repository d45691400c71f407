"""Card numbers are told apart from other digits by length and the Luhn check, wherever a payment hides them."""

from decimal import Decimal

import pytest

from domain.cards import CARD_NUMBERS_REFUSED, card_numbers, card_numbers_in_payment, luhn_valid


@pytest.mark.parametrize(
    "number",
    ["4242424242424242", "4000000000000002", "5555555555554444", "378282246310005", "6011111111111117"],
)
def test_real_test_card_numbers_pass_the_luhn_check(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("digits", ["4242424242424241", "1234567812345678", "", "42a2", "\uff14\uff12\uff14\uff12"])
def test_a_mistyped_number_or_non_digits_fail_the_luhn_check(digits: str) -> None:
    assert not luhn_valid(digits)


@pytest.mark.parametrize(
    "text", ["4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242", "3782 822463 10005"]
)
def test_a_card_number_is_found_as_written_with_spaces_or_dashes(text: str) -> None:
    assert card_numbers(text) == [text]


def test_a_card_number_is_found_inside_other_text() -> None:
    assert card_numbers("tok_4242424242424242") == ["4242424242424242"]
    assert card_numbers("paid with 4000 0000 0000 0002 yesterday") == ["4000 0000 0000 0002"]
    assert card_numbers("4242424242424242@paypal.example") == ["4242424242424242"]


def test_a_date_written_next_to_a_card_number_does_not_hide_it() -> None:
    assert card_numbers("2024-05-01 4242 4242 4242 4242") == ["4242 4242 4242 4242"]


@pytest.mark.parametrize(
    "text",
    [
        "1234567812345678",  # 16 digits, fails the Luhn check
        "42424242420",  # 11 digits, Luhn-valid but too short
        "42424242424242424242",  # 20 digits, Luhn-valid, but no card is that long
        "4242  4242  4242  4242",  # two spaces are not one number
        "SEPA 2024-118",
        "tok_visa",
    ],
)
def test_other_digits_are_not_called_card_numbers(text: str) -> None:
    assert card_numbers(text) == []


def test_the_legacy_card_number_field_is_refused_naming_the_field_and_not_the_number() -> None:
    (found,) = card_numbers_in_payment({"method": "card", "card_number": "4242 4242 4242 4242"})

    assert found.field == "payment.card_number"
    assert found.texts == ("4242 4242 4242 4242",)
    assert found.problem == f"payment.card_number: {CARD_NUMBERS_REFUSED}"
    assert "4242" not in found.problem


def test_the_card_number_field_is_refused_whatever_it_holds() -> None:
    assert [found.field for found in card_numbers_in_payment({"card_number": "1234"})] == ["payment.card_number"]
    assert card_numbers_in_payment({"method": "card", "card_number": None, "token": "tok_visa"}) == []


def test_a_card_number_in_any_other_payment_field_is_refused_naming_that_field() -> None:
    payment = {
        "method": "card",
        "token": "tok_4242424242424242",
        "last4": "4242",
        "card": {"pan": Decimal("4000000000000002")},
        "cards": [4000000000009995],
    }

    found = card_numbers_in_payment(payment)

    assert [item.field for item in found] == ["payment.token", "payment.card.pan", "payment.cards[0]"]
    assert found[0].problem == f"payment.token: holds a card number; {CARD_NUMBERS_REFUSED}"


def test_a_payment_that_is_itself_a_card_number_is_refused() -> None:
    assert [found.field for found in card_numbers_in_payment("4242 4242 4242 4242")] == ["payment"]


def test_a_paypal_address_with_sixteen_digits_that_fail_the_luhn_check_is_accepted() -> None:
    assert card_numbers_in_payment({"method": "paypal", "paypal_email": "1234567812345678@example.com"}) == []
