"""An order's whole life on a time-skipping server: days pass in milliseconds, side effects are real."""

from __future__ import annotations

from datetime import timedelta

from domain.status import OrderStatus
from domain.view import OrderView
from store.catalogue import ledger_balance, stock_levels
from store.orders import get_order
from tests.conftest import outbox_sent
from tests.sample_orders import CARD_DECLINES, an_order
from tests.workflows.conftest import Shop


def events(view_timeline: list) -> list[str]:  # type: ignore[type-arg]
    """The timeline's event names, in order."""
    return [entry.event for entry in view_timeline]


async def test_an_auto_mode_order_goes_from_payment_to_completed(shop: Shop) -> None:
    order = an_order()
    handle = await shop.place(order)

    final = await handle.result()

    statuses = [entry.status for entry in final.timeline if entry.status]
    assert statuses == [
        OrderStatus.RECEIVED,
        OrderStatus.PAID,
        OrderStatus.PICKING,
        OrderStatus.PACKING,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.COMPLETED,
    ]
    assert final.status is OrderStatus.COMPLETED
    assert final.payment.captured == order.total
    assert final.shipment is not None
    assert final.shipment.tracking.startswith("SBX")
    await outbox_sent(shop.sessions)
    kinds = sorted(message["Subject"] for message in shop.mailbox.to("ada@example.com"))
    assert len(kinds) == 4  # confirmation, shipped, completed, survey
    assert all(balance.balanced for balance in (await ledger_balance(shop.sessions)).values())


async def test_survey_goes_out_days_after_delivery_and_the_order_closes_after_the_refund_window(shop: Shop) -> None:
    handle = await shop.place(an_order())

    final = await handle.result()

    assert final.shipment is not None
    assert final.shipment.delivered_at is not None
    delivered = final.shipment.delivered_at
    survey = next(entry for entry in final.timeline if entry.event == "satisfaction survey sent")
    assert survey.at - delivered >= shop.settings.order_policy().survey_delay
    assert survey.at - delivered < shop.settings.order_policy().survey_delay + timedelta(minutes=1)
    closed = final.timeline[-1]
    assert closed.event == "order closed"
    assert closed.at - delivered >= timedelta(days=30)
    await outbox_sent(shop.sessions)
    assert len(shop.mailbox.with_subject("how was your order")) == 1


async def test_feedback_after_the_survey_is_recorded_in_the_order(shop: Shop) -> None:
    handle = await shop.place(an_order())
    await shop.env.sleep(timedelta(days=4))
    assert (await shop.status(handle)).follow_up.survey_sent_at is not None

    await handle.signal("feedback", {"rating": 5, "comment": "Lovely mug"})
    final = await handle.result()

    assert final.follow_up.feedback_rating == 5
    assert final.follow_up.feedback_comment == "Lovely mug"


async def test_a_bank_transfer_order_waits_days_for_payment_received(shop: Shop) -> None:
    handle = await shop.place(an_order(method="bank_transfer"))
    await shop.env.sleep(timedelta(days=3))
    waiting = await shop.status(handle)
    assert waiting.status is OrderStatus.AWAITING_PAYMENT
    assert waiting.payment.captured is None

    await handle.signal("payment_received", {"reference": "SEPA-778812"})
    final = await handle.result()

    assert final.status is OrderStatus.COMPLETED
    paid = next(entry for entry in final.timeline if entry.status is OrderStatus.PAID)
    assert paid.at - final.placed_at >= timedelta(days=3)
    assert final.payment.captured is not None


async def test_an_unpaid_bank_transfer_order_fails_after_its_payment_due_days(shop: Shop) -> None:
    handle = await shop.place(an_order(method="invoice"))

    final = await handle.result()

    assert final.status is OrderStatus.PAYMENT_FAILED
    failed = final.timeline[-1]
    assert failed.at - final.placed_at >= timedelta(days=shop.settings.payment_due_days)
    levels = {level.sku: level for level in await stock_levels(shop.sessions)}
    assert levels["MUG-ENAMEL"].reserved == 0


async def test_a_declined_card_ends_in_payment_failed_with_nothing_reserved_and_only_the_decline_notice(
    shop: Shop,
) -> None:
    before = {level.sku: level.available for level in await stock_levels(shop.sessions)}
    handle = await shop.place(an_order(card=CARD_DECLINES))

    final = await handle.result()

    assert final.status is OrderStatus.PAYMENT_FAILED
    assert final.payment.failure is not None
    assert "declined" in final.payment.failure
    after = {level.sku: level.available for level in await stock_levels(shop.sessions)}
    assert after == before
    assert all(level.reserved == 0 for level in await stock_levels(shop.sessions))
    await outbox_sent(shop.sessions)
    messages = shop.mailbox.to("ada@example.com")
    assert len(messages) == 1
    assert "declined" in messages[0]["Subject"].lower()


async def test_cash_on_delivery_is_collected_when_the_parcel_is_delivered(shop: Shop) -> None:
    handle = await shop.place(an_order(method="cash_on_delivery"))

    final = await handle.result()

    assert final.status is OrderStatus.COMPLETED
    assert final.payment.captured is not None
    assert final.shipment is not None
    assert final.shipment.delivered_at is not None
    assert final.payment.captured_at is not None
    assert final.payment.captured_at >= final.shipment.shipped_at


async def test_feedback_after_the_survey_has_closed_is_rejected_in_the_timeline(shop: Shop) -> None:
    handle = await shop.place(an_order())
    policy = shop.settings.order_policy()
    await shop.env.sleep(policy.survey_delay + policy.feedback_window + timedelta(days=1))

    await handle.signal("feedback", {"rating": 2})
    final = await handle.result()

    assert final.follow_up.feedback_rating is None
    rejected = [entry for entry in final.timeline if entry.rejected]
    assert [entry.event for entry in rejected] == ["feedback rejected"]


async def test_the_read_model_holds_the_completed_orders_timeline_as_the_status_query_shows_it(shop: Shop) -> None:
    handle = await shop.place(an_order())
    view = await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)

    stored = await get_order(shop.sessions, view.order_id)

    assert stored is not None
    events = [(entry.event, entry.status) for entry in OrderView.model_validate_json(stored.view_json).timeline]
    assert events == [(entry.event, entry.status) for entry in view.timeline]
    assert ("pick done", None) in events
    assert ("pack done", None) in events
