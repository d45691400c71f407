"""Realistic orders for automated runs: seeded, deterministic, priced from the catalogue, and free of any I/O."""

from __future__ import annotations

import random
import secrets
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from faker import Faker

from domain.money import MINOR_UNITS, ExchangeRates, Money, quantize
from domain.order import Channel, Line, Order, PaymentMethod
from store.catalogue import CatalogueItem

T = TypeVar("T")

# The sandbox gateway's test cards (by token) that are approved, weighted like customers' cards (mostly Visa, a
# few American Express), and the card and PayPal account it declines (README, "Sandbox payments and carrier");
# spelled out here because the operator side does not import the gateway.
APPROVED_CARDS = {"tok_visa": 60, "tok_mastercard": 30, "tok_amex": 10}
DECLINED_CARD = "tok_visa_declined"
DECLINING_PAYPAL_EMAIL = "decline@paypal.example"
# What the checkout shows of each of those cards, sent along with its token: brand and last four digits.
CARDS_SHOWN: dict[str, tuple[str, str]] = {
    "tok_visa": ("visa", "4242"),
    "tok_mastercard": ("mastercard", "4444"),
    "tok_amex": ("amex", "0005"),
    "tok_visa_declined": ("visa", "0002"),
}

# Flat shipping in the base currency, free from the threshold on: what small shops charge.
SHIPPING_FEE = Decimal("4.90")
FREE_SHIPPING_FROM = Decimal("50")

# Lines per order and units per line, weighted like a small shop's basket: mostly one item.
LINES_PER_ORDER = {1: 50, 2: 30, 3: 15, 4: 5}
UNITS_PER_LINE = {1: 70, 2: 20, 3: 10}

CHANNEL_WEIGHTS = {
    Channel.WEB: 50,
    Channel.MARKETPLACE: 25,
    Channel.POS: 10,
    Channel.PHONE: 8,
    Channel.SPREADSHEET: 7,
}

# How customers pay on each channel: marketplaces take cards and PayPal, phone and spreadsheet orders are the
# bank transfers and invoices of business customers.
PAYMENT_WEIGHTS: dict[Channel, dict[PaymentMethod, int]] = {
    Channel.WEB: {
        PaymentMethod.CARD: 50,
        PaymentMethod.PAYPAL: 30,
        PaymentMethod.BANK_TRANSFER: 8,
        PaymentMethod.INVOICE: 7,
        PaymentMethod.CASH_ON_DELIVERY: 5,
    },
    Channel.MARKETPLACE: {PaymentMethod.CARD: 60, PaymentMethod.PAYPAL: 40},
    Channel.POS: {PaymentMethod.CARD: 70, PaymentMethod.CASH_ON_DELIVERY: 30},
    Channel.PHONE: {
        PaymentMethod.INVOICE: 40,
        PaymentMethod.CASH_ON_DELIVERY: 30,
        PaymentMethod.BANK_TRANSFER: 20,
        PaymentMethod.CARD: 10,
    },
    Channel.SPREADSHEET: {PaymentMethod.BANK_TRANSFER: 50, PaymentMethod.INVOICE: 50},
}

# Kuwait has no Faker locale; its addresses follow the local block/street/house form in these areas.
KUWAIT_AREAS = (
    ("Salmiya", "22001"),
    ("Hawalli", "32001"),
    ("Kuwait City", "13001"),
    ("Jabriya", "46300"),
    ("Farwaniya", "81000"),
    ("Fahaheel", "64001"),
)

RUN_ID_ALPHABET = string.digits + string.ascii_lowercase


class RunCurrencyError(ValueError):
    """A run cannot sell in a currency: no exchange rate to price it, or no market that pays in it."""


@dataclass(frozen=True)
class Market:
    """Where customers live: their country, the Faker locale for their names and addresses, and their currency."""

    country: str
    locale: str
    currency: str
    weight: int


# EUR countries carry about 60% of the orders, the rest pay in their own currency.
MARKETS: tuple[Market, ...] = (
    Market("DE", "de_DE", "EUR", 36),
    Market("AT", "de_AT", "EUR", 8),
    Market("FR", "fr_FR", "EUR", 10),
    Market("NL", "nl_NL", "EUR", 6),
    Market("GB", "en_GB", "GBP", 12),
    Market("US", "en_US", "USD", 12),
    Market("JP", "ja_JP", "JPY", 7),
    Market("CH", "de_CH", "CHF", 5),
    # Faker has no ar_KW: Arabic names from its generic Arabic locale, addresses from KUWAIT_AREAS.
    Market("KW", "ar_AA", "KWD", 4),
)


def market_currencies() -> list[str]:
    """Every currency some market pays in, in the markets' order."""
    return list(dict.fromkeys(market.currency for market in MARKETS))


def run_currencies(rates: ExchangeRates, wanted: Sequence[str] | None = None) -> list[str]:
    """The currencies a run sells in: `wanted`, or every market currency the shop has an exchange rate for.

    Raises `RunCurrencyError` for a wanted currency without a rate (prices could not be converted) or without a
    market (no customers pay in it).
    """
    if not wanted:
        return [currency for currency in market_currencies() if rates.rate(currency) is not None]
    chosen: list[str] = []
    for raw in wanted:
        currency = raw.strip().upper()
        if currency not in MINOR_UNITS:
            raise RunCurrencyError(f"{raw!r} is not a supported ISO 4217 currency")
        if rates.rate(currency) is None:
            raise RunCurrencyError(
                f"{currency} has no exchange rate into {rates.base}, so prices cannot be converted; "
                f"add it to OMS_FX_RATES (e.g. {currency}=1.00) or choose another"
            )
        if currency not in market_currencies():
            raise RunCurrencyError(
                f"no market of a run pays in {currency}; choose from {', '.join(market_currencies())}"
            )
        if currency not in chosen:
            chosen.append(currency)
    return chosen


def price_in(price: Money, currency: str, rates: ExchangeRates) -> Money:
    """A catalogue price in another currency at the shop's rates, rounded half up to that currency's minor unit.

    Both rates are base-currency values of one unit, so the price goes through the base currency:
    price x rate(price's currency) / rate(currency). With a EUR base: EUR price / rate(currency).
    """
    if price.currency == currency:
        return price
    source = rates.rate(price.currency)
    target = rates.rate(currency)
    if source is None:
        raise RunCurrencyError(f"{price.currency} has no exchange rate into {rates.base} (OMS_FX_RATES)")
    if target is None:
        raise RunCurrencyError(f"{currency} has no exchange rate into {rates.base} (OMS_FX_RATES)")
    return Money(amount=quantize(price.amount * source / target, currency), currency=currency)


def new_run_id(now: datetime | None = None, rng: random.Random | None = None) -> str:
    """A short id for one run: the start second in base 36, then four random characters.

    The time part keeps ids of later runs sorting later; the random part keeps two runs started in the same
    second apart (1 in 1.7 million to meet).
    """
    moment = now or datetime.now(UTC)
    seconds = int(moment.timestamp())
    stamp = ""
    while seconds:
        seconds, digit = divmod(seconds, 36)
        stamp = RUN_ID_ALPHABET[digit] + stamp
    pick = rng.choice if rng is not None else secrets.choice
    return stamp + "".join(pick(RUN_ID_ALPHABET) for _ in range(4))


def external_id(run_id: str, number: int, count: int) -> str:
    """The channel's order number of the run's `number`th order (from 1): `run-<run id>-0001`."""
    return f"run-{run_id}-{number:0{max(4, len(str(count)))}d}"


def external_id_prefix(run_id: str) -> str:
    """What every external id of the run starts with; `oms order list --search` finds the run's orders by it."""
    return f"run-{run_id}-"


def units_needed(orders: Iterable[Order]) -> dict[str, int]:
    """Units per SKU that the orders take from stock, by SKU; orders made to decline never reserve any."""
    units: Counter[str] = Counter()
    for order in orders:
        if declines(order):
            continue
        for line in order.lines:
            units[line.sku] += line.quantity
    return dict(sorted(units.items()))


@dataclass(frozen=True)
class OrderMix:
    """What was generated: orders per channel, currency and payment method, and how many were made to decline."""

    channels: dict[str, int]
    currencies: dict[str, int]
    payment_methods: dict[str, int]
    countries: dict[str, int]
    declining: int

    @classmethod
    def of(cls, orders: Sequence[Order]) -> OrderMix:
        """Count the orders' channels, currencies, methods and countries, most frequent first."""

        def counted(values: Iterable[str]) -> dict[str, int]:
            return dict(Counter(values).most_common())

        return cls(
            channels=counted(order.channel.value for order in orders),
            currencies=counted(order.currency for order in orders),
            payment_methods=counted(order.payment.method.value for order in orders),
            countries=counted(order.shipping_address.country for order in orders),
            declining=sum(1 for order in orders if declines(order)),
        )


def declines(order: Order) -> bool:
    """The order pays with the sandbox gateway's declining card or PayPal account."""
    return order.payment.token == DECLINED_CARD or order.payment.paypal_email == DECLINING_PAYPAL_EMAIL


class OrderGenerator:
    """Makes a run's orders: the same seed, run id and catalogue give the same orders (with the same Faker version).

    Customers come from the markets (names and addresses in the market's locale, prices in its currency),
    channels and payment methods follow the weights above, and lines are 1-4 distinct catalogue products.
    A `decline_rate` share of the card and PayPal orders pay with the sandbox's declining card or account.
    """

    def __init__(
        self,
        products: Sequence[CatalogueItem],
        rates: ExchangeRates,
        *,
        seed: int,
        run_id: str,
        currencies: Sequence[str] | None = None,
        decline_rate: float = 0.0,
    ) -> None:
        if not products:
            raise ValueError("the catalogue is empty: there is nothing to order")
        if not 0 <= decline_rate <= 1:
            raise ValueError(f"decline_rate: must be between 0 and 1, got {decline_rate}")
        self.products = sorted(products, key=lambda product: product.sku)
        self.rates = rates
        self.run_id = run_id
        self.decline_rate = decline_rate
        selling = run_currencies(rates, currencies)
        self.markets = [market for market in MARKETS if market.currency in selling]
        if not self.markets:
            raise RunCurrencyError(f"no currency to sell in: configure exchange rates (OMS_FX_RATES) into {rates.base}")
        self._rng = random.Random(seed)
        self._fakers: dict[str, Faker] = {}
        for market in self.markets:
            faker = Faker(market.locale)
            # Each locale its own stream, derived from the seed: adding a market leaves the others' customers alone.
            faker.seed_instance(random.Random(f"{seed}:{market.locale}").getrandbits(64))
            self._fakers[market.locale] = faker
        self._prices: dict[tuple[str, str], Money] = {}
        # Fail now, naming the product, rather than halfway through a run.
        for product in self.products:
            for currency in {market.currency for market in self.markets}:
                self._price(product, currency)

    def orders(self, count: int) -> list[Order]:
        """The run's first `count` orders; a longer run starts with the same orders as a shorter one."""
        return [self._order(number, count) for number in range(1, count + 1)]

    def _order(self, number: int, count: int) -> Order:
        rng = self._rng
        market = _weighted(rng, {market: market.weight for market in self.markets})
        faker = self._fakers[market.locale]
        channel = _weighted(rng, CHANNEL_WEIGHTS)
        method = _weighted(rng, PAYMENT_WEIGHTS[channel])
        declining = method.captures_at_once and rng.random() < self.decline_rate
        basket = rng.sample(self.products, min(_weighted(rng, LINES_PER_ORDER), len(self.products)))
        lines = [
            Line(
                sku=product.sku,
                name=product.name,
                quantity=_weighted(rng, UNITS_PER_LINE),
                unit_price=self._price(product, market.currency),
            )
            for product in basket
        ]
        name = faker.name()
        email = faker.email()
        payment: dict[str, str] = {"method": method.value}
        if method is PaymentMethod.CARD:
            token = DECLINED_CARD if declining else _weighted(rng, APPROVED_CARDS)
            payment.update(token=token, brand=CARDS_SHOWN[token][0], last4=CARDS_SHOWN[token][1])
        elif method is PaymentMethod.PAYPAL:
            payment["paypal_email"] = DECLINING_PAYPAL_EMAIL if declining else email
        subtotal = sum((line.total for line in lines), Money.zero(market.currency))
        shipping = self._shipping(subtotal)
        return Order.model_validate(
            {
                "channel": channel,
                "external_id": external_id(self.run_id, number, count),
                "customer": {"name": name, "email": email},
                "shipping_address": self._address(market, faker, name),
                "lines": lines,
                "payment": payment,
                "currency": market.currency,
                "shipping_fee": shipping,
                "totals": {"subtotal": subtotal, "shipping": shipping, "total": subtotal + shipping},
            }
        )

    def _price(self, product: CatalogueItem, currency: str) -> Money:
        key = (product.sku, currency)
        if key not in self._prices:
            try:
                self._prices[key] = price_in(product.price, currency, self.rates)
            except RunCurrencyError as error:
                raise RunCurrencyError(f"product {product.sku}: {error}") from None
        return self._prices[key]

    def _shipping(self, subtotal: Money) -> Money:
        base = Money.of(SHIPPING_FEE, self.rates.base)
        threshold = price_in(Money.of(FREE_SHIPPING_FROM, self.rates.base), subtotal.currency, self.rates)
        return Money.zero(subtotal.currency) if threshold <= subtotal else price_in(base, subtotal.currency, self.rates)

    def _address(self, market: Market, faker: Faker, name: str) -> dict[str, str | None]:
        if market.country == "JP":
            # Japanese addresses read prefecture, city, town, then block numbers; Faker's street_address does not.
            return {
                "name": name,
                "line1": f"{faker.town()}{faker.chome()}{faker.ban()}{faker.gou()}",
                "line2": f"{faker.building_name()}{self._rng.randint(101, 909)}" if self._rng.random() < 0.4 else None,
                "postal_code": faker.zipcode(),
                "city": f"{faker.prefecture()}{faker.city()}",
                "country": market.country,
            }
        if market.country == "KW":
            area, postal_code = self._rng.choice(KUWAIT_AREAS)
            block, street, house = self._rng.randint(1, 12), self._rng.randint(1, 120), self._rng.randint(1, 60)
            return {
                "name": name,
                "line1": f"Block {block}, Street {street}, House {house}",
                "line2": None,
                "postal_code": postal_code,
                "city": area,
                "country": market.country,
            }
        # en_GB puts flats on a line of their own.
        first, _, rest = faker.street_address().partition("\n")
        return {
            "name": name,
            "line1": first,
            "line2": rest.replace("\n", ", ") or None,
            "postal_code": faker.postcode(),
            "city": faker.city(),
            "country": market.country,
        }


def generate_orders(
    products: Sequence[CatalogueItem],
    rates: ExchangeRates,
    *,
    count: int,
    seed: int,
    run_id: str,
    currencies: Sequence[str] | None = None,
    decline_rate: float = 0.0,
) -> list[Order]:
    """`count` orders of one run; see `OrderGenerator`."""
    generator = OrderGenerator(
        products, rates, seed=seed, run_id=run_id, currencies=currencies, decline_rate=decline_rate
    )
    return generator.orders(count)


def _weighted(rng: random.Random, weights: dict[T, int]) -> T:
    choices = list(weights)
    return rng.choices(choices, weights=[weights[choice] for choice in choices])[0]
