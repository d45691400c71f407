"""Money keeps every currency's precision and refuses to mix currencies or take floats."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.money import CurrencyMismatch, Money


def test_euro_amounts_round_half_up_to_cents() -> None:
    assert Money.of("12.345", "EUR").amount == Decimal("12.35")
    assert Money.of("12.344", "EUR").amount == Decimal("12.34")


def test_yen_has_no_minor_unit() -> None:
    assert Money.of("1500.4", "JPY").amount == Decimal("1500")
    assert Money.of("1500", "JPY").format() == "1,500 JPY"


def test_kuwaiti_dinar_keeps_three_decimals() -> None:
    assert Money.of("12.3456", "KWD").amount == Decimal("12.346")
    assert Money.of("1234.5", "KWD").format() == "1,234.500 KWD"


def test_minor_units_round_trip() -> None:
    assert Money.of("12.50", "EUR").minor == 1250
    assert Money.from_minor(12346, "KWD") == Money.of("12.346", "KWD")
    assert Money.from_minor(1500, "JPY").amount == Decimal("1500")


def test_adding_different_currencies_is_an_error() -> None:
    with pytest.raises(CurrencyMismatch, match="EUR with USD"):
        _ = Money.of("1", "EUR") + Money.of("1", "USD")


def test_a_float_amount_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a float"):
        Money(amount=0.1, currency="EUR")  # type: ignore[arg-type]


def test_an_unknown_currency_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="'XYZ' is not a supported ISO 4217 currency"):
        Money.of("1", "XYZ")


def test_line_total_is_unit_price_times_quantity() -> None:
    assert Money.of("0.10", "EUR").times(3) == Money.of("0.30", "EUR")
