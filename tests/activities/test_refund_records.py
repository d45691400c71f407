"""The `refunds` table: each refund recorded once, never moved back by a late retry, listed per order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.orders import OrderActivities
from domain.money import Money
from domain.order import PaymentMethod
from domain.refund import RefundState, RefundView
from settings import Settings
from store import refunds
from store.schema import RefundRecord
from tests.activities.test_notifications import a_refund

PAID_AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def orders(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> OrderActivities:
    """Order read-model activities on the test's database."""
    return OrderActivities(sessions, settings)


async def record(orders: OrderActivities, refund: RefundView, order_id: str = "web-1001") -> api.RefundRecorded:
    """Run the record-refund activity once."""
    return await ActivityEnvironment().run(orders.record_refund, api.RecordRefund(order_id=order_id, refund=refund))


def finished(refund: RefundView) -> RefundView:
    """The refund as its workflow sees it at the end: paid, restocked, within its SLA."""
    return refund.model_copy(
        update={
            "state": RefundState.FINISHED,
            "restocked_units": 2,
            "gateway_reference": "sbx_re_1",
            "paid_at": PAID_AT,
            "finished_at": PAID_AT + timedelta(minutes=1),
            "within_sla": True,
        }
    )


async def refund_rows(sessions: async_sessionmaker[AsyncSession]) -> int:
    """How many refunds the table holds."""
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(RefundRecord)) or 0)


async def test_a_refund_is_recorded_with_everything_its_view_says(
    orders: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    refund = finished(a_refund(lines=(("MUG-BLUE", 2, "12.50", "Blue mug"),), shipping="4.90"))

    recorded = await record(orders, refund)

    assert recorded == api.RefundRecorded(refund_id="refund-web-1001-1", state="finished")
    assert await refunds.find_refund(sessions, "refund-web-1001-1") == refund
    async with sessions() as session:
        row = (await session.scalars(select(RefundRecord))).one()
    assert (row.order_id, row.amount_minor, row.currency, row.method) == ("web-1001", 2990, "EUR", "card")


async def test_recording_a_refund_again_keeps_one_row(
    orders: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await record(orders, a_refund())
    await record(orders, a_refund().model_copy(update={"state": RefundState.RUNNING}))

    assert await refund_rows(sessions) == 1


async def test_a_late_record_of_an_earlier_state_does_not_move_the_refund_back(
    orders: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    refund = a_refund(method=PaymentMethod.BANK_TRANSFER)
    await record(orders, finished(refund))

    late = await record(orders, refund.model_copy(update={"state": RefundState.AWAITING_PAYOUT, "reminders_sent": 1}))

    assert late.state == "finished"
    stored = await refunds.find_refund(sessions, refund.refund_id)
    assert stored == finished(refund).model_copy(update={"reminders_sent": 1})


async def test_a_set_timestamp_or_reference_is_never_cleared(
    orders: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    escalated = a_refund().model_copy(
        update={"state": RefundState.RUNNING, "escalated_at": PAID_AT, "gateway_reference": "sbx_re_1"}
    )
    await record(orders, escalated)

    await record(orders, a_refund().model_copy(update={"state": RefundState.FINISHED, "finished_at": PAID_AT}))

    stored = await refunds.find_refund(sessions, "refund-web-1001-1")
    assert stored is not None
    assert (stored.state, stored.escalated_at, stored.gateway_reference, stored.finished_at) == (
        RefundState.FINISHED,
        PAID_AT,
        "sbx_re_1",
        PAID_AT,
    )


async def test_counts_never_shrink(orders: OrderActivities, sessions: async_sessionmaker[AsyncSession]) -> None:
    await record(orders, a_refund().model_copy(update={"reminders_sent": 3, "restocked_units": 2}))

    await record(orders, a_refund().model_copy(update={"reminders_sent": 1}))

    stored = await refunds.find_refund(sessions, "refund-web-1001-1")
    assert stored is not None
    assert (stored.reminders_sent, stored.restocked_units) == (3, 2)


async def test_a_newer_record_clears_the_gateways_last_error(
    orders: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    failing = a_refund().model_copy(update={"state": RefundState.RUNNING, "last_error": "processing_error"})
    await record(orders, failing)

    await record(orders, finished(a_refund()))

    stored = await refunds.find_refund(sessions, "refund-web-1001-1")
    assert stored is not None
    assert stored.last_error is None


async def test_refunds_of_an_order_are_listed_oldest_first(
    orders: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first, second = a_refund("refund-web-1001-1"), a_refund("refund-web-1001-2")
    later = second.model_copy(update={"requested_at": second.requested_at + timedelta(days=1)})
    await record(orders, later)
    await record(orders, first)
    await record(orders, a_refund("refund-web-9999-1"), order_id="web-9999")

    listed = await refunds.refunds_of(sessions, "web-1001")

    assert [refund.refund_id for refund in listed] == ["refund-web-1001-1", "refund-web-1001-2"]


async def test_a_refund_id_recorded_for_another_order_is_refused_without_retrying(orders: OrderActivities) -> None:
    await record(orders, a_refund())

    with pytest.raises(ApplicationError) as refused:
        await record(orders, a_refund(), order_id="web-2002")

    assert refused.value.non_retryable
    assert "web-1001" in refused.value.message


async def test_racing_records_of_one_refund_keep_one_row_in_the_latest_state(
    orders: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    states = [RefundState.REQUESTED, RefundState.FINISHED, RefundState.RUNNING] * 3

    await asyncio.gather(*(record(orders, a_refund().model_copy(update={"state": state})) for state in states))

    assert await refund_rows(sessions) == 1
    stored = await refunds.find_refund(sessions, "refund-web-1001-1")
    assert stored is not None
    assert stored.state is RefundState.FINISHED


async def test_the_money_paid_back_is_stored_once_per_refund(sessions: async_sessionmaker[AsyncSession]) -> None:
    first = await refunds.record_refund_payment(
        sessions,
        refund_id="refund-web-1001-1",
        order_id="web-1001",
        kind=refunds.PAYOUT,
        method=PaymentMethod.BANK_TRANSFER,
        amount=Money.of("10.00", "EUR"),
        reference="SEPA 1",
        paid_by="alice",
    )
    again = await refunds.record_refund_payment(
        sessions,
        refund_id="refund-web-1001-1",
        order_id="web-1001",
        kind=refunds.PAYOUT,
        method=PaymentMethod.BANK_TRANSFER,
        amount=Money.of("99.00", "EUR"),
        reference="SEPA 2",
    )

    assert again == first
    assert await refunds.refunded_total(sessions, "web-1001", "EUR") == Money.of("10.00", "EUR")
    assert await refunds.refunded_total(sessions, "web-1001", "EUR", excluding="refund-web-1001-1") == Money.zero("EUR")


def test_the_order_activities_include_recording_refunds(orders: OrderActivities) -> None:
    names = [handler.__temporal_activity_definition.name for handler in orders.handlers()]  # type: ignore[attr-defined]

    assert names[-1] == api.RECORD_REFUND.name
