"""Payment activities against a real SQLite database: captures, declines, retries and bookings, each once."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import gateways.payments as gateway
from activities import api
from activities.api import ErrorType
from activities.payments import PaymentActivities
from domain.money import Money
from domain.order import PaymentDetails, PaymentMethod
from settings import Settings
from store.payments import payments_for_order
from store.schema import PaymentRecord


@pytest.fixture
def env() -> ActivityEnvironment:
    """An activity context on its first attempt; tests replace `env.info` to simulate retries."""
    return ActivityEnvironment()


@pytest.fixture
def payments(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> PaymentActivities:
    """Payment activities on the test's database."""
    return PaymentActivities(sessions, settings)


def card(order_id: str, token: str, amount: str = "14.90", currency: str = "EUR") -> api.CapturePayment:
    """A card capture request for `order_id`, paid with the sandbox's test card `token` (Visa ending 4242)."""
    return api.CapturePayment(
        order_id=order_id,
        payment=PaymentDetails(method=PaymentMethod.CARD, token=token, brand="visa", last4="4242"),
        amount=Money.of(amount, currency),
    )


def paypal(order_id: str, email: str) -> api.CapturePayment:
    """A PayPal capture request for `order_id`."""
    return api.CapturePayment(
        order_id=order_id,
        payment=PaymentDetails(method=PaymentMethod.PAYPAL, paypal_email=email),
        amount=Money.of("30.00", "EUR"),
    )


def on_attempt(env: ActivityEnvironment, attempt: int) -> ActivityEnvironment:
    """`env` as the activity sees it on retry number `attempt`."""
    env.info = dataclasses.replace(ActivityEnvironment.default_info(), attempt=attempt)
    return env


async def payment_rows(sessions: async_sessionmaker[AsyncSession]) -> int:
    """How many payment rows exist in the whole database."""
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(PaymentRecord)) or 0)


async def test_an_approved_card_is_captured_in_minor_units(
    env: ActivityEnvironment, payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    captured = await env.run(payments.capture_payment, card("web-1001", gateway.APPROVED_CARD))

    assert captured.amount == Money.of("14.90", "EUR")
    async with sessions() as session:
        row = (await session.scalars(select(PaymentRecord))).one()
    assert (row.idempotency_key, row.amount_minor, row.currency) == ("web-1001:capture", 1490, "EUR")
    assert row.gateway_reference == captured.gateway_reference
    assert row.reference == "Visa ending 4242"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (gateway.DECLINED_CARD, "card_declined"),
        (gateway.INSUFFICIENT_FUNDS_CARD, "insufficient_funds"),
        ("tok_made_up", "invalid_token"),
    ],
)
async def test_a_declined_card_is_a_non_retryable_payment_declined_error(
    env: ActivityEnvironment,
    payments: PaymentActivities,
    sessions: async_sessionmaker[AsyncSession],
    token: str,
    reason: str,
) -> None:
    with pytest.raises(ApplicationError) as declined:
        await env.run(payments.capture_payment, card("web-1002", token))

    assert declined.value.type == ErrorType.PAYMENT_DECLINED
    assert declined.value.non_retryable
    assert "web-1002" in declined.value.message
    assert reason in declined.value.message
    assert declined.value.details == (reason,)
    assert await payment_rows(sessions) == 0


# --- the sandbox gateway's test cards -------------------------------------------------------------------------


def charged(payment: PaymentDetails, attempt: int = 1) -> gateway.Charge:
    """What the sandbox gateway does with a 5 EUR charge on `attempt`."""
    return gateway.charge(payment, Money.of("5", "EUR"), idempotency_key="k", attempt=attempt)


def by_token(token: str) -> PaymentDetails:
    return PaymentDetails(method=PaymentMethod.CARD, token=token)


def by_legacy_number(number: str) -> PaymentDetails:
    """A card payment as orders placed before tokens carry it."""
    return PaymentDetails(method=PaymentMethod.CARD, card_number=number)


@pytest.mark.parametrize("token", [gateway.APPROVED_CARD, gateway.MASTERCARD, gateway.AMEX, gateway.REFUND_OUTAGE_CARD])
def test_the_approving_test_cards_are_charged(token: str) -> None:
    assert charged(by_token(token)).amount == Money.of("5", "EUR")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (gateway.DECLINED_CARD, "card_declined"),
        (gateway.INSUFFICIENT_FUNDS_CARD, "insufficient_funds"),
        ("tok_visa_gold", "invalid_token"),
    ],
)
def test_the_declining_test_cards_and_unknown_tokens_are_declined_with_their_reason(token: str, reason: str) -> None:
    with pytest.raises(gateway.PaymentDeclined) as declined:
        charged(by_token(token))

    assert declined.value.reason == reason


def test_the_flaky_test_card_fails_twice_then_is_approved() -> None:
    for attempt in range(1, gateway.FLAKY_CARD_FAILURES + 1):
        with pytest.raises(gateway.GatewayUnavailable, match="processing_error"):
            charged(by_token(gateway.FLAKY_CARD), attempt)

    assert charged(by_token(gateway.FLAKY_CARD), gateway.FLAKY_CARD_FAILURES + 1).amount == Money.of("5", "EUR")


@pytest.mark.parametrize(
    ("number", "reason"), [("4000000000000002", "card_declined"), ("4000000000009995", "insufficient_funds")]
)
def test_a_legacy_order_with_a_declining_test_card_number_is_still_declined(number: str, reason: str) -> None:
    with pytest.raises(gateway.PaymentDeclined) as declined:
        charged(by_legacy_number(number))

    assert declined.value.reason == reason


@pytest.mark.parametrize("number", ["4242424242424242", "5555555555554444"])
def test_a_legacy_order_with_any_other_card_number_is_still_approved(number: str) -> None:
    assert charged(by_legacy_number(number)).amount == Money.of("5", "EUR")


def test_a_legacy_order_with_the_flaky_test_card_number_still_fails_twice_first() -> None:
    with pytest.raises(gateway.GatewayUnavailable):
        charged(by_legacy_number("4000000000000119"), attempt=2)
    assert charged(by_legacy_number("4000000000000119"), attempt=3).amount == Money.of("5", "EUR")


async def test_a_declined_paypal_account_is_a_non_retryable_payment_declined_error(
    env: ActivityEnvironment, payments: PaymentActivities
) -> None:
    with pytest.raises(ApplicationError) as declined:
        await env.run(payments.capture_payment, paypal("web-1003", gateway.DECLINING_PAYPAL_EMAIL))

    assert declined.value.type == ErrorType.PAYMENT_DECLINED
    assert declined.value.non_retryable


async def test_paypal_is_captured_at_once(env: ActivityEnvironment, payments: PaymentActivities) -> None:
    captured = await env.run(payments.capture_payment, paypal("web-1004", "anna@example.com"))

    assert captured.amount == Money.of("30.00", "EUR")


@pytest.mark.parametrize("attempt", [1, 2])
async def test_the_transient_test_card_fails_retryably_on_its_first_two_attempts(
    env: ActivityEnvironment, payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession], attempt: int
) -> None:
    with pytest.raises(ApplicationError) as failed:
        await on_attempt(env, attempt).run(payments.capture_payment, card("web-1005", gateway.FLAKY_CARD))

    assert not failed.value.non_retryable
    assert failed.value.type != ErrorType.PAYMENT_DECLINED
    assert "processing_error" in failed.value.message
    assert await payment_rows(sessions) == 0


async def test_the_transient_test_card_succeeds_on_the_third_attempt(
    env: ActivityEnvironment, payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    captured = await on_attempt(env, 3).run(payments.capture_payment, card("web-1006", gateway.FLAKY_CARD))

    assert captured.amount == Money.of("14.90", "EUR")
    assert await payment_rows(sessions) == 1


async def test_capturing_twice_charges_once(
    env: ActivityEnvironment, payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await env.run(payments.capture_payment, card("web-1007", gateway.APPROVED_CARD))
    retried = await on_attempt(env, 2).run(payments.capture_payment, card("web-1007", gateway.APPROVED_CARD))

    assert retried == first
    assert len(await payments_for_order(sessions, "web-1007")) == 1


async def test_attempts_racing_to_capture_the_same_order_charge_once(
    env: ActivityEnvironment, payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    request = card("web-1008", gateway.APPROVED_CARD)

    results = await asyncio.gather(*(env.run(payments.capture_payment, request) for _ in range(8)))

    assert len({result.gateway_reference for result in results}) == 1
    assert len({result.captured_at for result in results}) == 1
    assert await payment_rows(sessions) == 1


@pytest.mark.parametrize(("amount", "currency", "minor"), [("1500", "JPY", 1500), ("12.345", "KWD", 12345)])
async def test_amounts_are_stored_in_the_currencys_own_minor_unit(
    env: ActivityEnvironment,
    payments: PaymentActivities,
    sessions: async_sessionmaker[AsyncSession],
    amount: str,
    currency: str,
    minor: int,
) -> None:
    captured = await env.run(payments.capture_payment, card(f"web-{currency}", gateway.APPROVED_CARD, amount, currency))

    (booked,) = await payments_for_order(sessions, f"web-{currency}")
    assert booked.amount == captured.amount == Money.of(amount, currency)
    async with sessions() as session:
        assert await session.scalar(select(PaymentRecord.amount_minor)) == minor


async def test_a_bank_transfer_is_booked_once(
    env: ActivityEnvironment, payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    transfer = api.RecordPayment(
        order_id="web-1009",
        method=PaymentMethod.BANK_TRANSFER,
        amount=Money.of("49.00", "EUR"),
        reference="SEPA 2024-118",
    )

    first = await env.run(payments.record_payment, transfer)
    again = await env.run(payments.record_payment, transfer)

    assert again == first
    (booked,) = await payments_for_order(sessions, "web-1009")
    assert (booked.method, booked.reference, booked.amount) == (
        PaymentMethod.BANK_TRANSFER,
        "SEPA 2024-118",
        Money.of("49.00", "EUR"),
    )


async def test_booking_money_for_an_order_already_captured_adds_no_second_payment(
    env: ActivityEnvironment, payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    captured = await env.run(payments.capture_payment, card("web-1010", gateway.APPROVED_CARD))
    cash = api.RecordPayment(
        order_id="web-1010", method=PaymentMethod.CASH_ON_DELIVERY, amount=Money.of("14.90", "EUR")
    )

    booked = await env.run(payments.record_payment, cash)

    assert booked == captured
    assert await payment_rows(sessions) == 1


async def test_a_bank_transfer_cannot_be_charged_through_the_gateway(
    env: ActivityEnvironment, payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    request = api.CapturePayment(
        order_id="web-1011",
        payment=PaymentDetails(method=PaymentMethod.BANK_TRANSFER),
        amount=Money.of("10.00", "EUR"),
    )

    with pytest.raises(ApplicationError) as refused:
        await env.run(payments.capture_payment, request)

    assert refused.value.non_retryable
    assert "record_payment" in refused.value.message
    assert await payment_rows(sessions) == 0


def test_every_test_card_is_documented_for_the_readme() -> None:
    documented = gateway.__doc__ or ""

    for test_card in gateway.TEST_CARDS:
        assert f"``{test_card.token}``" in documented
        assert f"{test_card.brand} {test_card.last4}" in documented
    assert f"``{gateway.UNKNOWN_CARD_REASON}``" in documented
    assert gateway.DECLINING_PAYPAL_EMAIL in documented


def test_the_activities_register_under_the_contracts_names(payments: PaymentActivities) -> None:
    names = [handler.__temporal_activity_definition.name for handler in payments.handlers()]  # type: ignore[attr-defined]

    assert names == [
        api.CAPTURE_PAYMENT.name,
        api.CAPTURE_ORDER_PAYMENT.name,
        api.RECORD_PAYMENT.name,
        api.REFUND_PAYMENT.name,
        api.RECORD_REFUND_PAYOUT.name,
    ]


async def test_a_sandbox_gateway_set_to_fail_now_and_then_fails_retryably_and_books_each_charge_once(
    env: ActivityEnvironment, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    flaky = PaymentActivities(sessions, settings.model_copy(update={"sandbox_gateway_failure_rate": 0.5}))
    failures = 0
    for number in range(40):
        while True:
            try:
                await env.run(flaky.capture_payment, card(f"web-2{number:03}", gateway.APPROVED_CARD))
            except ApplicationError as error:
                failed = error
            else:
                break
            assert not failed.non_retryable
            assert "processing_error (sandbox: OMS_SANDBOX_GATEWAY_FAILURE_RATE)" in failed.message
            failures += 1

    # Half of the calls fail: that none of 40 orders' first tries did would be a chance of one in 10^12.
    assert failures > 0
    assert await payment_rows(sessions) == 40
