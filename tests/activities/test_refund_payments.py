"""Refund payments against a real SQLite database: paid back through the gateway or by hand, once per refund."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

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
from store import refunds
from store.schema import RefundPaymentRecord

SCHEDULED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def payments(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> PaymentActivities:
    """Payment activities on the test's database."""
    return PaymentActivities(sessions, settings)


def tried_for(elapsed: timedelta) -> ActivityEnvironment:
    """An activity context whose current attempt was scheduled `elapsed` after the first one (server time)."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        ActivityEnvironment.default_info(),
        scheduled_time=SCHEDULED,
        current_attempt_scheduled_time=SCHEDULED + elapsed,
        attempt=2 if elapsed else 1,
    )
    return env


def card(token: str = gateway.APPROVED_CARD) -> PaymentDetails:
    """Card payment details with a sandbox test token."""
    return PaymentDetails(method=PaymentMethod.CARD, token=token)


async def captured(
    payments: PaymentActivities, order_id: str, amount: str = "50.00", token: str = gateway.APPROVED_CARD
) -> api.PaymentCaptured:
    """Capture `amount` EUR for the order by card, as its workflow did at placement."""
    request = api.CapturePayment(order_id=order_id, payment=card(token), amount=Money.of(amount, "EUR"))
    return await ActivityEnvironment().run(payments.capture_payment, request)


def refund(
    order_id: str, refund_id: str, amount: str, token: str = gateway.APPROVED_CARD, currency: str = "EUR"
) -> api.RefundPayment:
    """Pay `amount` back for the order's refund `refund_id` to the card it was paid with."""
    return api.RefundPayment(
        order_id=order_id, refund_id=refund_id, payment=card(token), amount=Money.of(amount, currency)
    )


def payout(order_id: str, refund_id: str, amount: str, reference: str | None = None) -> api.RecordRefundPayout:
    """The operator paid `amount` back by bank transfer."""
    return api.RecordRefundPayout(
        order_id=order_id,
        refund_id=refund_id,
        method=PaymentMethod.BANK_TRANSFER,
        amount=Money.of(amount, "EUR"),
        reference=reference,
        by="alice",
    )


async def booked_transfer(payments: PaymentActivities, order_id: str, amount: str = "50.00") -> None:
    """Book the order's bank transfer, as `oms order pay` does."""
    transfer = api.RecordPayment(order_id=order_id, method=PaymentMethod.BANK_TRANSFER, amount=Money.of(amount, "EUR"))
    await ActivityEnvironment().run(payments.record_payment, transfer)


async def refund_rows(sessions: async_sessionmaker[AsyncSession]) -> int:
    """How many refund payments exist in the whole database."""
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(RefundPaymentRecord)) or 0)


# --- the sandbox gateway --------------------------------------------------------------------------------------


def test_the_gateway_gives_a_repeated_refund_the_same_reference() -> None:
    first = gateway.refund(card(), "sbx_1", Money.of("5", "EUR"), idempotency_key="refund:r-1", elapsed=timedelta())
    again = gateway.refund(card(), "sbx_1", Money.of("5", "EUR"), idempotency_key="refund:r-1", elapsed=timedelta())
    other = gateway.refund(card(), "sbx_1", Money.of("5", "EUR"), idempotency_key="refund:r-2", elapsed=timedelta())

    assert first == again
    assert first.reference.startswith("sbx_re_")
    assert other.reference != first.reference
    assert first.reference != gateway.charge_reference("refund:r-1")


@pytest.mark.parametrize("method", [PaymentMethod.BANK_TRANSFER, PaymentMethod.INVOICE, PaymentMethod.CASH_ON_DELIVERY])
def test_the_gateway_refuses_to_refund_money_it_never_took(method: PaymentMethod) -> None:
    with pytest.raises(ValueError, match=method.value):
        gateway.refund(
            PaymentDetails(method=method), "sbx_1", Money.of("5", "EUR"), idempotency_key="k", elapsed=timedelta()
        )


def test_the_outage_card_is_charged_like_any_other() -> None:
    charge = gateway.charge(card(gateway.REFUND_OUTAGE_CARD), Money.of("5", "EUR"), idempotency_key="k", attempt=1)

    assert charge.amount == Money.of("5", "EUR")


def test_the_outage_cards_refunds_fail_for_48_hours_and_then_succeed() -> None:
    def refunded(elapsed: timedelta) -> gateway.RefundReceipt:
        outage = card(gateway.REFUND_OUTAGE_CARD)
        return gateway.refund(outage, "sbx_1", Money.of("5", "EUR"), idempotency_key="k", elapsed=elapsed)

    with pytest.raises(gateway.GatewayUnavailable, match="processing_error"):
        refunded(gateway.REFUND_OUTAGE - timedelta(seconds=1))
    assert refunded(gateway.REFUND_OUTAGE).amount == Money.of("5", "EUR")


def test_a_legacy_order_paid_with_the_outage_card_number_still_meets_the_refund_outage() -> None:
    legacy = PaymentDetails(method=PaymentMethod.CARD, card_number="4000000000000341")

    with pytest.raises(gateway.GatewayUnavailable, match="processing_error"):
        gateway.refund(legacy, "sbx_1", Money.of("5", "EUR"), idempotency_key="k", elapsed=timedelta(hours=1))
    paid = gateway.refund(legacy, "sbx_1", Money.of("5", "EUR"), idempotency_key="k", elapsed=gateway.REFUND_OUTAGE)
    assert paid.amount == Money.of("5", "EUR")


@pytest.mark.parametrize(
    "payment",
    [card(gateway.APPROVED_CARD), PaymentDetails(method=PaymentMethod.CARD, card_number="4242424242424242")],
    ids=["token", "legacy card number"],
)
def test_other_cards_are_refunded_at_once(payment: PaymentDetails) -> None:
    paid = gateway.refund(payment, "sbx_1", Money.of("5", "EUR"), idempotency_key="k", elapsed=timedelta())

    assert paid.amount == Money.of("5", "EUR")


# --- refund_payment -------------------------------------------------------------------------------------------


async def test_a_refund_is_paid_back_to_the_card_and_stored_in_minor_units(
    payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await captured(payments, "web-2001")

    paid = await tried_for(timedelta()).run(payments.refund_payment, refund("web-2001", "refund-web-2001-1", "20.00"))

    assert paid.refund_id == "refund-web-2001-1"
    assert paid.amount == Money.of("20.00", "EUR")
    assert paid.reference == gateway.refund_reference("refund:refund-web-2001-1")
    async with sessions() as session:
        row = (await session.scalars(select(RefundPaymentRecord))).one()
    assert (row.order_id, row.kind, row.method, row.amount_minor, row.currency) == (
        "web-2001",
        "gateway",
        "card",
        2000,
        "EUR",
    )


@pytest.mark.parametrize("elapsed", [timedelta(0), timedelta(hours=1), timedelta(hours=47, minutes=59)])
async def test_the_outage_cards_refund_fails_retryably_for_its_first_48_hours(
    payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession], elapsed: timedelta
) -> None:
    await captured(payments, "web-2002", token=gateway.REFUND_OUTAGE_CARD)
    request = refund("web-2002", "refund-web-2002-1", "10.00", token=gateway.REFUND_OUTAGE_CARD)

    with pytest.raises(ApplicationError) as failed:
        await tried_for(elapsed).run(payments.refund_payment, request)

    assert not failed.value.non_retryable
    assert failed.value.type == ErrorType.GATEWAY_UNAVAILABLE
    assert "processing_error" in failed.value.message
    assert "will retry" in failed.value.message
    assert await refund_rows(sessions) == 0


async def test_the_outage_cards_refund_succeeds_once_it_has_been_tried_for_48_hours(
    payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await captured(payments, "web-2003", token=gateway.REFUND_OUTAGE_CARD)
    request = refund("web-2003", "refund-web-2003-1", "10.00", token=gateway.REFUND_OUTAGE_CARD)

    paid = await tried_for(gateway.REFUND_OUTAGE).run(payments.refund_payment, request)

    assert paid.amount == Money.of("10.00", "EUR")
    assert await refund_rows(sessions) == 1


async def test_a_refund_repeated_after_a_crash_pays_back_once(
    payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await captured(payments, "web-2004", token=gateway.REFUND_OUTAGE_CARD)
    request = refund("web-2004", "refund-web-2004-1", "10.00", token=gateway.REFUND_OUTAGE_CARD)
    first = await tried_for(timedelta(hours=50)).run(payments.refund_payment, request)

    # A fresh attempt would meet the outage at the gateway: it succeeds only because it never asks it again.
    again = await tried_for(timedelta()).run(payments.refund_payment, request)

    assert again == first
    assert await refund_rows(sessions) == 1


async def test_attempts_racing_to_refund_the_same_refund_pay_back_once(
    payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await captured(payments, "web-2005")
    request = refund("web-2005", "refund-web-2005-1", "30.00")

    results = await asyncio.gather(*(tried_for(timedelta()).run(payments.refund_payment, request) for _ in range(8)))

    assert len({(result.reference, result.paid_at) for result in results}) == 1
    assert await refund_rows(sessions) == 1
    assert await refunds.refunded_total(sessions, "web-2005", "EUR") == Money.of("30.00", "EUR")


async def test_partial_refunds_may_add_up_to_the_capture(
    payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await captured(payments, "web-2006", "50.00")

    for n, amount in enumerate(("20.00", "25.10", "4.90"), start=1):
        await tried_for(timedelta()).run(payments.refund_payment, refund("web-2006", f"refund-web-2006-{n}", amount))

    assert await refunds.refunded_total(sessions, "web-2006", "EUR") == Money.of("50.00", "EUR")


async def test_refunding_more_than_was_captured_is_rejected_naming_the_amounts(
    payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await captured(payments, "web-2007", "50.00")
    await tried_for(timedelta()).run(payments.refund_payment, refund("web-2007", "refund-web-2007-1", "40.00"))

    with pytest.raises(ApplicationError) as rejected:
        await tried_for(timedelta()).run(payments.refund_payment, refund("web-2007", "refund-web-2007-2", "10.01"))

    assert rejected.value.type == ErrorType.REFUND_REJECTED
    assert rejected.value.non_retryable
    for figure in ("refund-web-2007-2", "web-2007", "10.01 EUR", "50.00 EUR", "40.00 EUR", "10.00 EUR left"):
        assert figure in rejected.value.message
    assert await refund_rows(sessions) == 1


async def test_a_refund_of_an_order_that_was_never_charged_is_rejected(
    payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    with pytest.raises(ApplicationError) as rejected:
        await tried_for(timedelta()).run(payments.refund_payment, refund("web-2008", "refund-web-2008-1", "5.00"))

    assert rejected.value.type == ErrorType.REFUND_REJECTED
    assert rejected.value.non_retryable
    assert "no payment was taken" in rejected.value.message
    assert await refund_rows(sessions) == 0


async def test_a_refund_in_another_currency_than_the_capture_is_rejected(payments: PaymentActivities) -> None:
    await captured(payments, "web-2009")

    request = refund("web-2009", "refund-web-2009-1", "5.00", currency="USD")

    with pytest.raises(ApplicationError) as rejected:
        await tried_for(timedelta()).run(payments.refund_payment, request)

    assert rejected.value.type == ErrorType.REFUND_REJECTED


async def test_a_bank_transfer_cannot_be_refunded_through_the_gateway(
    payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await booked_transfer(payments, "web-2010")
    request = api.RefundPayment(
        order_id="web-2010",
        refund_id="refund-web-2010-1",
        payment=PaymentDetails(method=PaymentMethod.BANK_TRANSFER),
        amount=Money.of("5.00", "EUR"),
    )

    with pytest.raises(ApplicationError) as refused:
        await tried_for(timedelta()).run(payments.refund_payment, request)

    assert refused.value.non_retryable
    assert "record_refund_payout" in refused.value.message
    assert await refund_rows(sessions) == 0


# --- record_refund_payout -------------------------------------------------------------------------------------


async def test_a_manual_payout_is_booked_once(
    payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await booked_transfer(payments, "web-2011")
    request = payout("web-2011", "refund-web-2011-1", "50.00", reference="SEPA back 77")

    first = await ActivityEnvironment().run(payments.record_refund_payout, request)
    again = await ActivityEnvironment().run(payments.record_refund_payout, request)

    assert again == first
    assert first.reference == "SEPA back 77"
    booked = await refunds.find_refund_payment(sessions, "refund-web-2011-1")
    assert booked is not None
    assert (booked.kind, booked.method, booked.paid_by) == ("payout", PaymentMethod.BANK_TRANSFER, "alice")
    assert await refund_rows(sessions) == 1


async def test_a_payout_without_a_reference_gets_one_derived_from_the_refund(payments: PaymentActivities) -> None:
    await booked_transfer(payments, "web-2012")

    paid = await ActivityEnvironment().run(payments.record_refund_payout, payout("web-2012", "refund-web-2012-1", "5"))

    assert paid.reference == "payout:refund-web-2012-1"


async def test_a_payout_of_more_than_was_paid_is_rejected(payments: PaymentActivities) -> None:
    await booked_transfer(payments, "web-2013", "50.00")

    with pytest.raises(ApplicationError) as rejected:
        await ActivityEnvironment().run(payments.record_refund_payout, payout("web-2013", "refund-web-2013-1", "60"))

    assert rejected.value.type == ErrorType.REFUND_REJECTED
    assert rejected.value.non_retryable


async def test_a_refund_paid_out_by_hand_is_not_paid_again_through_the_gateway(
    payments: PaymentActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await captured(payments, "web-2014", token=gateway.REFUND_OUTAGE_CARD)
    by_hand = await ActivityEnvironment().run(
        payments.record_refund_payout, payout("web-2014", "refund-web-2014-1", "50")
    )

    request = refund("web-2014", "refund-web-2014-1", "50.00", token=gateway.REFUND_OUTAGE_CARD)
    retried = await tried_for(timedelta(hours=60)).run(payments.refund_payment, request)

    assert retried == by_hand
    assert await refund_rows(sessions) == 1


def test_the_refund_activities_register_under_the_contracts_names(payments: PaymentActivities) -> None:
    names = [handler.__temporal_activity_definition.name for handler in payments.handlers()]  # type: ignore[attr-defined]

    assert names[-2:] == [api.REFUND_PAYMENT.name, api.RECORD_REFUND_PAYOUT.name]
