"""Money: a Decimal amount in an ISO 4217 currency, always rounded to that currency's minor unit."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Self

from pydantic import field_validator, model_validator

from domain.base import Frozen

# ISO 4217 minor units of the currencies a shop can sell in. Kept explicit: an unknown code is an input error,
# not something to guess a precision for.
MINOR_UNITS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "HUF": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "CNY": 2,
    "INR": 2,
    "BRL": 2,
    "MXN": 2,
    "ZAR": 2,
    "SGD": 2,
    "HKD": 2,
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "CLP": 0,
    "VND": 0,
    "KWD": 3,
    "BHD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}
SUPPORTED_CURRENCIES = frozenset(MINOR_UNITS)
# Digits an amount may have before its decimal point: with the minor unit's three at most, every amount rounds
# exactly within Decimal's 28 digits, where a larger one (`1e309`) would make rounding itself fail.
AMOUNT_DIGITS = 24
# An amount written as text: ASCII digits with an optional sign and decimal point. Not `1_000`, not `1e5`, and not
# digits of other scripts, which Decimal would otherwise read as numbers without a word.
_DECIMAL_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)", re.ASCII)


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined."""


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round an amount to the currency's minor unit, half up as shops and tax offices expect."""
    return amount.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]), rounding=ROUND_HALF_UP)


class Money(Frozen):
    """An amount of one currency. Never a float: floats are refused at the door."""

    amount: Decimal
    currency: str

    @field_validator("currency", mode="before")
    @classmethod
    def _known_currency(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be an ISO 4217 code such as 'EUR'")
        code = value.strip().upper()
        if code not in MINOR_UNITS:
            raise ValueError(f"{value!r} is not a supported ISO 4217 currency")
        return code

    @field_validator("amount", mode="before")
    @classmethod
    def _exact_amount(cls, value: Any) -> Any:
        # A float has already lost the cents it was meant to carry; make the caller send a string or Decimal.
        if isinstance(value, float):
            raise ValueError("must be a decimal string such as '12.50', not a float")
        if isinstance(value, str):
            text = value.strip()
            if not _DECIMAL_TEXT.fullmatch(text):
                shown = text if len(text) <= 40 else text[:40] + "…"
                raise ValueError(f"{shown!r} is not a decimal number such as '12.50'")
            return Decimal(text)
        return value

    @model_validator(mode="after")
    def _rounded(self) -> Self:
        if not self.amount.is_finite():
            raise ValueError("amount must be a finite number")
        if self.amount and self.amount.adjusted() >= AMOUNT_DIGITS:
            raise ValueError(f"amount must have at most {AMOUNT_DIGITS} digits before the decimal point")
        rounded = quantize(self.amount, self.currency)
        if rounded != self.amount or rounded.as_tuple().exponent != self.amount.as_tuple().exponent:
            object.__setattr__(self, "amount", rounded)
        return self

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        """Build money from an exact amount (a Decimal, an int or a decimal string)."""
        return cls(amount=Decimal(amount), currency=currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Nothing, in a currency."""
        return cls(amount=Decimal(0), currency=currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        """Money from an integer count of minor units (cents, fils, yen)."""
        return cls(amount=Decimal(minor).scaleb(-MINOR_UNITS[currency.upper()]), currency=currency)

    @property
    def minor(self) -> int:
        """The amount as an integer count of minor units: what databases and gateways store."""
        return int(self.amount.scaleb(MINOR_UNITS[self.currency]))

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def times(self, quantity: int) -> Money:
        """This amount `quantity` times (a line's unit price times its quantity)."""
        return Money(amount=self.amount * quantity, currency=self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    @property
    def is_zero(self) -> bool:
        """True when there is nothing to pay."""
        return self.amount == 0

    def format(self) -> str:
        """Human form with thousands separators and the currency's own precision: '1,234.50 EUR', '1,500 JPY'."""
        places = MINOR_UNITS[self.currency]
        return f"{self.amount:,.{places}f} {self.currency}"

    def __str__(self) -> str:
        return self.format()


class ExchangeRates(Frozen):
    """What one unit of each currency is worth in the base currency, as the shop configured it; exact Decimals.

    Reports convert with these; they are the shop's bookkeeping rates, not live market prices.
    """

    base: str
    rates: dict[str, Decimal]

    @classmethod
    def parse(cls, base: str, text: str) -> ExchangeRates:
        """Rates from `CODE=RATE` pairs separated by commas, e.g. `USD=0.92,JPY=0.0061`; ValueError names the pair."""
        rates: dict[str, Decimal] = {}
        for pair in (part.strip() for part in text.split(",")):
            if not pair:
                continue
            code, equals, value = pair.partition("=")
            code = code.strip().upper()
            if not equals:
                raise ValueError(f"{pair!r}: expected CODE=RATE, e.g. USD=0.92")
            if code not in MINOR_UNITS:
                raise ValueError(f"{pair!r}: {code!r} is not a supported ISO 4217 currency")
            if code in rates:
                raise ValueError(f"{pair!r}: {code} is given twice")
            try:
                rate = Decimal(value.strip())
            except InvalidOperation:
                raise ValueError(f"{pair!r}: {value.strip()!r} is not a decimal number") from None
            if not rate.is_finite() or rate <= 0:
                raise ValueError(f"{pair!r}: the rate must be a number above 0")
            rates[code] = rate
        rates.pop(base, None)
        return cls(base=base, rates=rates)

    def rate(self, currency: str) -> Decimal | None:
        """Base-currency value of one unit of `currency`; 1 for the base itself, None when no rate is set."""
        return Decimal(1) if currency == self.base else self.rates.get(currency)

    def to_base(self, money: Money) -> Money | None:
        """`money` in the base currency, rounded half up to its minor unit; None when there is no rate for it."""
        rate = self.rate(money.currency)
        return None if rate is None else Money(amount=quantize(money.amount * rate, self.base), currency=self.base)
