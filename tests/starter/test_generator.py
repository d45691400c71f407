"""The orders an automated run generates: deterministic per seed, valid, priced at the shop's rates, varied."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.money import ExchangeRates, Money
from domain.order import Channel, Order, PaymentMethod
from gateways import payments
from starter import generator
from starter.generator import OrderGenerator, OrderMix, RunCurrencyError, generate_orders, price_in, run_currencies
from store.catalogue import DEMO_CATALOGUE, CatalogueItem

RATES = ExchangeRates.parse("EUR", "USD=0.92,GBP=1.17,CHF=1.05,JPY=0.0061,KWD=2.98")
PRODUCTS = [CatalogueItem(product.sku, product.name, product.price) for product in DEMO_CATALOGUE]


def orders(count: int = 200, *, currencies: list[str] | None = None, decline_rate: float = 0.0) -> list[Order]:
    """`count` orders of seed 7 and run abc123 from the demo catalogue."""
    return generate_orders(
        PRODUCTS, RATES, count=count, seed=7, run_id="abc123", currencies=currencies, decline_rate=decline_rate
    )


def test_the_same_seed_gives_the_same_orders_and_another_seed_others() -> None:
    first = orders(50)

    assert [order.model_dump() for order in first] == [order.model_dump() for order in orders(50)]
    other = generate_orders(PRODUCTS, RATES, count=50, seed=8, run_id="abc123")
    assert [order.customer for order in other] != [order.customer for order in first]


def test_a_longer_run_starts_with_the_orders_of_a_shorter_one() -> None:
    assert [order.model_dump() for order in orders(100)[:20]] == [order.model_dump() for order in orders(20)]


def test_every_order_is_valid_and_ids_are_unique_and_name_the_run() -> None:
    made = orders(200)

    for order in made:
        # Round-tripped through JSON as a channel would send it: still a valid order with matching totals.
        assert Order.model_validate_json(order.model_dump_json()) == order
        assert 1 <= len(order.lines) <= 4
        assert order.totals is not None
        assert order.totals.total == order.total
    assert len({order.order_id for order in made}) == 200
    assert made[0].external_id == "run-abc123-0001"
    assert made[-1].external_id == "run-abc123-0200"
    assert all(order.external_id.startswith(generator.external_id_prefix("abc123")) for order in made)


def test_two_hundred_orders_mix_every_channel_method_and_market_currency() -> None:
    mix = OrderMix.of(orders(200))

    assert set(mix.channels) == {channel.value for channel in Channel}
    assert set(mix.payment_methods) == {method.value for method in PaymentMethod}
    assert set(mix.currencies) == {"EUR", "USD", "GBP", "CHF", "JPY", "KWD"}
    assert max(mix.currencies, key=lambda currency: mix.currencies[currency]) == "EUR"
    assert {"DE", "GB", "US", "JP", "KW"} <= set(mix.countries)
    assert mix.declining == 0


def test_prices_come_from_the_rates_in_each_currencys_minor_unit() -> None:
    mug = Money.of("14.90", "EUR")

    assert price_in(mug, "JPY", RATES) == Money.of("2443", "JPY")  # 14.90 / 0.0061 = 2442.62...
    assert price_in(mug, "KWD", RATES) == Money.of("5.000", "KWD")  # 14.90 / 2.98
    assert price_in(Money.of("9.50", "EUR"), "KWD", RATES).amount == Decimal("3.188")  # 3.18791...
    assert price_in(mug, "USD", RATES) == Money.of("16.20", "USD")  # 16.1956...
    assert price_in(mug, "EUR", RATES) is mug


def test_generated_lines_carry_the_converted_catalogue_price() -> None:
    catalogue = {product.sku: product.price for product in PRODUCTS}

    for order in orders(200):
        for line in order.lines:
            assert line.unit_price == price_in(catalogue[line.sku], order.currency, RATES)
        if order.currency == "JPY":
            assert all(line.unit_price.amount == line.unit_price.amount.to_integral_value() for line in order.lines)
            assert order.total.amount.as_tuple().exponent == 0
        if order.currency == "KWD":
            assert order.total.amount.as_tuple().exponent == -3


def test_customers_live_where_they_pay_with_names_from_their_locale() -> None:
    made = orders(200)
    by_country = {order.shipping_address.country: order for order in made}

    assert by_country["JP"].currency == "JPY"
    assert by_country["GB"].currency == "GBP"
    assert by_country["KW"].currency == "KWD"
    assert by_country["DE"].currency == "EUR"
    assert any("\u3040" <= char <= "\u9fff" for char in by_country["JP"].customer.name)  # kana or kanji
    assert by_country["KW"].shipping_address.line1.startswith("Block ")
    # Nobody real is ever emailed: Faker's safe domains only.
    assert all(order.customer.email.rsplit("@", 1)[1].startswith("example.") for order in made)


def test_card_and_paypal_orders_use_sandbox_accounts_and_a_decline_rate_makes_some_decline() -> None:
    sandbox = {card.token: card for card in payments.TEST_CARDS}
    assert set(generator.APPROVED_CARDS) <= {token for token, card in sandbox.items() if card.outcome == "approved"}
    assert generator.DECLINED_CARD == payments.DECLINED_CARD
    assert generator.DECLINING_PAYPAL_EMAIL == payments.DECLINING_PAYPAL_EMAIL
    approved = orders(200)
    cards = [order.payment for order in approved if order.payment.method is PaymentMethod.CARD]
    assert {card.token for card in cards} == set(generator.APPROVED_CARDS)
    for card in cards:
        assert card.card_number is None
        assert (card.brand, card.last4) == (sandbox[card.token or ""].brand, sandbox[card.token or ""].last4)

    declining = [order for order in orders(200, decline_rate=0.5) if generator.declines(order)]

    assert 40 < len(declining) < 140
    assert all(order.payment.method.captures_at_once for order in declining)


def test_a_run_can_be_limited_to_some_currencies() -> None:
    made = orders(50, currencies=["jpy", "KWD"])

    assert {order.currency for order in made} == {"JPY", "KWD"}
    assert {order.shipping_address.country for order in made} == {"JP", "KW"}


def test_a_run_currency_without_a_rate_is_refused_naming_the_setting() -> None:
    euro_only = ExchangeRates.parse("EUR", "USD=0.92")

    with pytest.raises(RunCurrencyError, match=r"JPY has no exchange rate into EUR.*OMS_FX_RATES"):
        run_currencies(euro_only, ["JPY"])
    with pytest.raises(RunCurrencyError, match="no market of a run pays in SEK"):
        run_currencies(ExchangeRates.parse("EUR", "SEK=0.087"), ["SEK"])
    with pytest.raises(RunCurrencyError, match="'XYZ' is not a supported ISO 4217 currency"):
        run_currencies(RATES, ["XYZ"])
    # Without a choice, a run sells only where it can price.
    assert run_currencies(euro_only) == ["EUR", "USD"]


def test_a_product_priced_in_a_currency_without_a_rate_is_named() -> None:
    odd = [*PRODUCTS, CatalogueItem("SOCKS", "Wool socks", Money.of("99", "SEK"))]

    with pytest.raises(RunCurrencyError, match="product SOCKS: SEK has no exchange rate"):
        OrderGenerator(odd, RATES, seed=1, run_id="x")


def test_run_ids_are_short_sort_by_time_and_differ_within_a_second() -> None:
    earlier = generator.new_run_id(datetime(2026, 5, 1, tzinfo=UTC))
    later = generator.new_run_id(datetime(2027, 5, 1, tzinfo=UTC))

    assert len(earlier) == 10
    assert earlier[:6] < later[:6]
    assert len({generator.new_run_id(datetime(2026, 5, 1, tzinfo=UTC)) for _ in range(50)}) == 50


def test_units_needed_adds_up_every_line_per_sku_of_orders_that_will_reserve() -> None:
    made = orders(30)

    needed = generator.units_needed(made)

    assert sum(needed.values()) == sum(line.quantity for order in made for line in order.lines)
    assert list(needed) == sorted(needed)
    some_decline = orders(30, decline_rate=0.5)
    taking = [order for order in some_decline if not generator.declines(order)]
    assert len(taking) < 30
    assert generator.units_needed(some_decline) == generator.units_needed(taking)
