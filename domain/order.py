"""The order as a channel hands it to us: customer, address, lines, payment, checked the way a shop checks."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from domain.base import Frozen
from domain.cards import CARD_NUMBERS_REFUSED, holds_card_number
from domain.money import CurrencyMismatch, Money
from domain.text import ONE_LINE, PARAGRAPHS, Email

_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SKU = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,39}$")
# A payment provider's card token (Stripe's style: tok_visa, tok_1N3T00LkdIwHu7ix), a card brand as providers
# spell it (visa, mastercard, amex, cartes_bancaires) and the last four digits shown to the customer.
_TOKEN = re.compile(r"tok_[A-Za-z0-9_]{1,100}")
_BRAND = re.compile(r"[a-z][a-z_]{1,29}")
_LAST4 = re.compile(r"[0-9]{4}")

# An order's encoded size at intake: far under Temporal's 2 MB payload limit, so the order, its view and what its
# workflow carries never reach it. The largest honest order (200 lines with long names) is about a third of this.
MAX_ORDER_BYTES = 128 * 1024
NOTE_LENGTH = 2000
# The most one order can come to, in its own currency: beyond any shop's order, and small enough that its total in
# minor units fits the database's 64-bit columns.
MAX_ORDER_TOTAL = Decimal(10**12)


class Channel(StrEnum):
    """Where an order came from."""

    WEB = "web"
    MARKETPLACE = "marketplace"
    POS = "pos"
    PHONE = "phone"
    SPREADSHEET = "spreadsheet"


class PaymentMethod(StrEnum):
    """How the customer pays; decides whether payment is captured at once, awaited or collected at the door."""

    CARD = "card"
    PAYPAL = "paypal"
    BANK_TRANSFER = "bank_transfer"
    INVOICE = "invoice"
    CASH_ON_DELIVERY = "cash_on_delivery"

    @property
    def captures_at_once(self) -> bool:
        """Card and PayPal are charged the moment the order is placed."""
        return self in (PaymentMethod.CARD, PaymentMethod.PAYPAL)

    @property
    def waits_for_transfer(self) -> bool:
        """Bank transfer and invoice wait for the operator (or the bank) to confirm the money arrived."""
        return self in (PaymentMethod.BANK_TRANSFER, PaymentMethod.INVOICE)


class FulfilmentMode(StrEnum):
    """`auto`: the warehouse system completes picking and packing; `manual`: an operator confirms each step."""

    AUTO = "auto"
    MANUAL = "manual"


class Customer(Frozen):
    """Who ordered, and where their emails go."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=200), ONE_LINE]
    email: Email


class Address(Frozen):
    """Where the parcel goes."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=200), ONE_LINE]
    line1: Annotated[str, StringConstraints(min_length=1, max_length=200), ONE_LINE]
    line2: Annotated[str, StringConstraints(max_length=200), ONE_LINE] | None = None
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20), ONE_LINE]
    city: Annotated[str, StringConstraints(min_length=1, max_length=100), ONE_LINE]
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. DE")]


def normal_sku(value: str) -> str:
    """A SKU as the catalogue keeps it (upper case); ValueError when it is not one."""
    sku = value.strip().upper()
    if not _SKU.match(sku):
        raise ValueError(f"{sku!r} is not a SKU (letters, digits, '.', '_' or '-')")
    return sku


class Line(Frozen):
    """One product on the order: a SKU, how many, at what unit price."""

    model_config = ConfigDict(str_strip_whitespace=True)

    sku: str
    quantity: int
    unit_price: Money
    name: Annotated[str, StringConstraints(max_length=200), ONE_LINE] | None = None

    @field_validator("sku", mode="before")
    @classmethod
    def _sku_format(cls, value: Any) -> Any:
        return normal_sku(value) if isinstance(value, str) else value

    @field_validator("quantity", mode="before")
    @classmethod
    def _whole_positive(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be a whole number")
        return value

    @field_validator("unit_price")
    @classmethod
    def _not_negative(cls, value: Money) -> Money:
        # A discount is the shop's price, not a negative line: a negative one would make the order pay out.
        if value.amount < 0:
            raise ValueError(f"must not be negative, got {value.format()}")
        return value

    @field_validator("quantity")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        if value > 10_000:
            raise ValueError(f"must be at most 10000, got {value}")
        return value

    @property
    def total(self) -> Money:
        """Unit price times quantity."""
        return self.unit_price.times(self.quantity)


class PaymentDetails(Frozen):
    """How this order is paid: for a card, the payment provider's token and what may be shown of the card.

    The shop never sees a card number: the provider's checkout turns it into a token (`tok_visa`) and tells the
    brand and last four digits for display. `card_number` is read only so that orders placed before tokens (their
    workflow histories hold one) still decode and finish; every intake refuses it (`domain.cards`).
    """

    method: PaymentMethod
    token: str | None = Field(None, description="The payment provider's token for the card, e.g. tok_visa.")
    brand: str | None = Field(None, description="The card's brand for display, e.g. visa.")
    last4: str | None = Field(None, description="The card number's last four digits, for display.")
    paypal_email: Email | None = None
    card_number: str | None = Field(None, description="Legacy: orders placed before tokens; refused at intake.")

    @field_validator("token")
    @classmethod
    def _token_format(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # The value is not echoed: a mistyped token may be a pasted card number.
        if holds_card_number(value):
            raise ValueError(f"holds a card number; {CARD_NUMBERS_REFUSED}")
        if not _TOKEN.fullmatch(value):
            raise ValueError("must be the payment provider's token: 'tok_' and 1-100 letters, digits or '_'")
        return value

    @field_validator("brand", mode="before")
    @classmethod
    def _brand_format(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        brand = value.strip().lower()
        if not _BRAND.fullmatch(brand):
            raise ValueError("must be the card's brand as one short lowercase word, such as visa")
        return brand

    @field_validator("last4")
    @classmethod
    def _last_four_digits(cls, value: str | None) -> str | None:
        if value is not None and not _LAST4.fullmatch(value):
            raise ValueError("must be the last 4 digits of the card number, such as 4242")
        return value

    @field_validator("card_number")
    @classmethod
    def _digits(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = value.replace(" ", "").replace("-", "")
        if not digits.isdigit() or not 12 <= len(digits) <= 19:
            raise ValueError("must be 12 to 19 digits")
        return digits

    @model_validator(mode="after")
    def _card_has_token(self) -> Self:
        if self.method is PaymentMethod.CARD and not (self.token or self.card_number):
            raise ValueError(
                "token is required when method is 'card': send the payment provider's token (e.g. tok_visa) "
                "with brand and last4"
            )
        if self.method is not PaymentMethod.CARD:
            given = [name for name in ("token", "brand", "last4") if getattr(self, name) is not None]
            if given:
                verb = "is" if len(given) == 1 else "are"
                raise ValueError(f"{' and '.join(given)} {verb} only for card payments, not {self.method.value}")
        return self

    @property
    def reference(self) -> str:
        """What may be shown and stored: the method, and for a card its brand and last four digits if known."""
        if self.card_number:
            # Orders placed before tokens: shown as their histories recorded it.
            return f"card ending {self.card_number[-4:]}"
        if self.method is not PaymentMethod.CARD:
            return self.method.value
        # Brands are stored lowercase, as checkouts send them; customers read them capitalised, as on the card.
        brand = self.brand.capitalize() if self.brand else None
        if self.last4:
            return f"{brand or 'card'} ending {self.last4}"
        return f"{brand} card" if brand else "card"


class Totals(Frozen):
    """What the channel says the order costs; checked against the lines, never trusted."""

    subtotal: Money | None = None
    shipping: Money | None = None
    total: Money


class Order(Frozen):
    """An order as placed by a channel. Valid means: the workflow can run it without asking anyone."""

    model_config = ConfigDict(str_strip_whitespace=True)

    channel: Channel
    external_id: str
    customer: Customer
    shipping_address: Address
    lines: Annotated[list[Line], Field(min_length=1, max_length=200)]
    payment: PaymentDetails
    currency: str
    shipping_fee: Money | None = None
    totals: Totals | None = None
    note: Annotated[str, StringConstraints(max_length=NOTE_LENGTH), PARAGRAPHS] | None = None

    @field_validator("external_id")
    @classmethod
    def _id_format(cls, value: str) -> str:
        if not _EXTERNAL_ID.match(value):
            raise ValueError(f"{value!r} must be 1-64 letters, digits, '.', '_' or '-'")
        return value

    @field_validator("shipping_fee")
    @classmethod
    def _shipping_not_negative(cls, value: Money | None) -> Money | None:
        if value is not None and value.amount < 0:
            raise ValueError(f"must not be negative, got {value.format()}")
        return value

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> Any:
        # Reuse Money's check so the message is the same everywhere.
        return Money(amount=0, currency=value).currency if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for index, line in enumerate(self.lines):
            if line.unit_price.currency != self.currency:
                raise ValueError(
                    f"lines[{index}].unit_price: currency {line.unit_price.currency} "
                    f"differs from the order's {self.currency}"
                )
        skus = [line.sku for line in self.lines]
        duplicates = sorted({sku for sku in skus if skus.count(sku) > 1})
        if duplicates:
            raise ValueError(f"lines: SKU {', '.join(duplicates)} appears more than once; merge the lines")
        if self.shipping_fee is not None and self.shipping_fee.currency != self.currency:
            raise ValueError(f"shipping_fee: currency {self.shipping_fee.currency} differs from {self.currency}")
        # In plain Decimals, before any sum is built as Money.
        comes_to = sum((line.unit_price.amount * line.quantity for line in self.lines), Decimal(0))
        if self.shipping_fee is not None:
            comes_to += self.shipping_fee.amount
        if comes_to >= MAX_ORDER_TOTAL:
            raise ValueError(
                f"lines: the order comes to {comes_to:,} {self.currency}, over the limit of "
                f"{MAX_ORDER_TOTAL:,} {self.currency} for one order"
            )
        if self.totals is not None:
            self._check_totals(self.totals)
        return self

    def _check_totals(self, claimed: Totals) -> None:
        for field, value, expected in (
            ("subtotal", claimed.subtotal, self.subtotal),
            ("shipping", claimed.shipping, self.shipping),
            ("total", claimed.total, self.total),
        ):
            if value is None:
                continue
            try:
                matches = value.amount == expected.amount and value.currency == expected.currency
            except CurrencyMismatch:
                matches = False
            if not matches:
                raise ValueError(
                    f"totals.{field}: {value.format()} does not add up; the lines give {expected.format()}"
                )

    @property
    def order_id(self) -> str:
        """The business key: `<channel>-<external id>`."""
        return f"{self.channel.value}-{self.external_id}"

    @property
    def subtotal(self) -> Money:
        """Sum of the lines."""
        total = Money.zero(self.currency)
        for line in self.lines:
            total = total + line.total
        return total

    @property
    def shipping(self) -> Money:
        """Shipping fee, zero when none is charged."""
        return self.shipping_fee or Money.zero(self.currency)

    @property
    def total(self) -> Money:
        """What the customer pays: lines plus shipping."""
        return self.subtotal + self.shipping


def size_problem(order: Order) -> str | None:
    """Why `order` is too large to run, or None: its encoded size against `MAX_ORDER_BYTES`."""
    size = len(order.model_dump_json().encode())
    if size <= MAX_ORDER_BYTES:
        return None
    return f"order: encoded as {size:,} bytes, over the limit of {MAX_ORDER_BYTES:,}; split it or shorten its texts"
