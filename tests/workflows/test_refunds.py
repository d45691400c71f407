"""Refunds and cancellations on a time-skipping server: the child workflow, its deadline, money, stock and email."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from domain.calendar import WorkingHours
from domain.commands import CommandAccepted
from domain.money import Money
from domain.order import FulfilmentMode, Order
from domain.refund import Cancel, Refund, RefundItem, RefundPaidOut
from domain.status import OrderStatus
from domain.view import OrderView
from gateways.payments import REFUND_OUTAGE_CARD
from store.catalogue import ledger_balance, stock_levels
from tests.conftest import outbox_sent
from tests.sample_orders import an_order
from tests.workflows.conftest import Shop
from workflows.order import OrderWorkflow

BERLIN = ZoneInfo("Europe/Berlin")
Handle = WorkflowHandle[OrderWorkflow, OrderView]


async def ask(handle: Handle, command: str, payload: object) -> CommandAccepted:
    """Send an operator command as the CLI does: an Update whose answer comes back at once."""
    return await handle.execute_update(command, payload, result_type=CommandAccepted)


async def refused(handle: Handle, command: str, payload: object) -> str:
    """Send a command that must be refused; return the reason."""
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await ask(handle, command, payload)
    return str(failure.value.cause)


async def completed(shop: Shop, order: Order, mode: FulfilmentMode = FulfilmentMode.AUTO) -> Handle:
    """Place an order and let it run until it is completed."""
    handle = await shop.place(order, mode)
    await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)
    return handle


async def refund_payments(shop: Shop) -> dict[str, int]:
    """Gateway refunds and payouts booked, per refund id."""
    async with shop.sessions() as session:
        rows = await session.execute(text("SELECT refund_id, COUNT(*) FROM refund_payments GROUP BY refund_id"))
        return {refund_id: count for refund_id, count in rows}


async def warehouse_tasks(shop: Shop, order_id: str) -> dict[str, str]:
    """The order's warehouse tasks: kind -> status."""
    async with shop.sessions() as session:
        rows = await session.execute(
            text("SELECT kind, status FROM warehouse_tasks WHERE order_id = :order"), {"order": order_id}
        )
        return {kind: status for kind, status in rows}


async def assert_exactly_once(shop: Shop, final: OrderView) -> None:
    """One gateway refund and one customer email per refund that moved money; stock that adds up."""
    # Refund emails leave through the outbox: the mail relay sends them soon after the refund has queued them.
    await outbox_sent(shop.sessions)
    paid = await refund_payments(shop)
    for refund in final.refunds:
        assert paid.get(refund.refund_id, 0) == (0 if refund.amount.is_zero else 1), refund.refund_id
        about = [
            message
            for message in shop.mailbox.to(final.customer.email)
            if message["Message-ID"].split("@")[0].endswith(f".{refund.refund_id}")
        ]
        assert len(about) == 1, [message["Subject"] for message in about]
    balances = await ledger_balance(shop.sessions)
    assert all(balance.balanced for balance in balances.values()), balances


def the_deadline(shop: Shop, requested_at: datetime) -> datetime:
    return shop.settings.calendar.deadline(requested_at, 5)


async def test_a_completed_order_is_refunded_in_full_within_five_business_days(shop: Shop) -> None:
    order = an_order(lines=[("MUG-ENAMEL", 2, "14.90")], shipping="4.90")
    handle = await completed(shop, order)
    stock_before = {level.sku: level.available for level in await stock_levels(shop.sessions)}

    answer = await ask(handle, "refund", Refund(reason="arrived broken"))
    final = await handle.result()

    assert answer.refund is not None
    assert answer.refund.deadline == the_deadline(shop, answer.refund.requested_at)
    assert answer.refund.amount == order.total
    assert final.status is OrderStatus.REFUNDED
    refund = final.refunds[0]
    assert refund.refund_id == f"refund-{order.order_id}"
    assert refund.finished_at is not None
    assert refund.finished_at <= refund.deadline
    assert refund.within_sla is True
    assert refund.restocked_units == 2
    stock_after = {level.sku: level.available for level in await stock_levels(shop.sessions)}
    assert stock_after["MUG-ENAMEL"] == stock_before["MUG-ENAMEL"] + 2
    await outbox_sent(shop.sessions)
    refunded_email = shop.mailbox.with_subject("refund")
    assert len(refunded_email) == 1
    assert "34.70" in refunded_email[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    await assert_exactly_once(shop, final)


async def test_a_partial_refund_then_the_rest_gives_back_every_unit_and_the_shipping_once(shop: Shop) -> None:
    order = an_order(lines=[("MUG-ENAMEL", 2, "14.90"), ("NOTEBOOK-A5", 1, "9.50")], shipping="4.90")
    handle = await completed(shop, order)

    first = await ask(
        handle, "refund", Refund(reason="one mug chipped", lines=[RefundItem(sku="MUG-ENAMEL", quantity=1)])
    )
    after_first = await shop.until(handle, lambda view: not view.refunds[0].is_open)
    assert after_first.status is OrderStatus.COMPLETED
    rest = await ask(handle, "refund", Refund(reason="customer returned the rest"))
    final = await handle.result()

    assert first.refund is not None
    assert rest.refund is not None
    assert first.refund.amount == Money.of("14.90", "EUR")
    assert rest.refund.amount == Money.of("29.30", "EUR")  # the other mug 14.90, the notebook 9.50, shipping 4.90
    assert [refund.refund_id for refund in final.refunds] == [
        f"refund-{order.order_id}",
        f"refund-{order.order_id}-2",
    ]
    assert final.status is OrderStatus.REFUNDED
    assert final.refunds[0].amount + final.refunds[1].amount == order.total
    statuses = [entry.status for entry in final.timeline if entry.status]
    assert statuses[-4:] == [OrderStatus.REFUNDING, OrderStatus.COMPLETED, OrderStatus.REFUNDING, OrderStatus.REFUNDED]
    await outbox_sent(shop.sessions)
    assert len(shop.mailbox.with_subject("refund")) == 2
    await assert_exactly_once(shop, final)


async def test_a_refund_while_picking_stops_the_pick_task_and_releases_the_stock_without_restocking(
    shop: Shop,
) -> None:
    order = an_order(lines=[("TOTE-CANVAS", 3, "12.00")])
    handle = await shop.place(order, FulfilmentMode.MANUAL)
    await shop.until(handle, lambda view: view.status is OrderStatus.PICKING)
    before = {level.sku: level for level in await stock_levels(shop.sessions)}
    assert before["TOTE-CANVAS"].reserved == 3

    await ask(handle, "refund", Refund(reason="customer changed their mind"))
    final = await handle.result()

    assert final.status is OrderStatus.REFUNDED
    assert final.refunds[0].released_units == 3
    assert final.refunds[0].restocked_units == 0
    after = {level.sku: level for level in await stock_levels(shop.sessions)}
    assert after["TOTE-CANVAS"].reserved == 0
    assert after["TOTE-CANVAS"].available == before["TOTE-CANVAS"].available + 3
    assert await warehouse_tasks(shop, order.order_id) == {"pick": "cancelled"}
    balance = (await ledger_balance(shop.sessions))[("TOTE-CANVAS", "main")]
    assert balance.restocked == 0
    await assert_exactly_once(shop, final)


async def test_a_second_full_refund_and_a_refund_of_more_than_was_bought_are_rejected(shop: Shop) -> None:
    order = an_order(lines=[("MUG-ENAMEL", 2, "14.90")])
    handle = await completed(shop, order)

    too_many = await refused(handle, "refund", Refund(reason="x", lines=[RefundItem(sku="MUG-ENAMEL", quantity=3)]))
    await ask(handle, "refund", Refund(reason="damaged in transit"))
    again = await refused(handle, "refund", Refund(reason="damaged in transit"))
    await handle.signal("refund", Refund(reason="sent twice from Temporal UI"))
    final = await handle.result()

    assert "only 2 of SKU MUG-ENAMEL can still be refunded" in too_many
    assert "being refunded" in again
    assert len(final.refunds) == 1
    rejected = [entry for entry in final.timeline if entry.rejected]
    assert [entry.event for entry in rejected] == ["refund rejected"]
    await assert_exactly_once(shop, final)


async def test_cancelling_before_shipment_releases_the_stock_and_refunds_the_capture(shop: Shop) -> None:
    order = an_order(lines=[("TSHIRT-M", 2, "24.00")], shipping="4.90")
    handle = await shop.place(order, FulfilmentMode.MANUAL)
    await shop.until(handle, lambda view: view.status is OrderStatus.PICKING)
    await ask(handle, "picked", {})
    await shop.until(handle, lambda view: view.status is OrderStatus.PACKING)

    answer = await ask(handle, "cancel", Cancel(reason="customer asked to cancel"))
    final = await handle.result()

    assert answer.refund is not None
    assert answer.refund.amount == order.total
    assert final.status is OrderStatus.CANCELLED
    assert final.refunds[0].released_units == 2
    assert final.refunds[0].within_sla is True
    statuses = [entry.status for entry in final.timeline if entry.status]
    assert statuses[-2:] == [OrderStatus.REFUNDING, OrderStatus.CANCELLED]
    levels = {level.sku: level for level in await stock_levels(shop.sessions)}
    assert levels["TSHIRT-M"].reserved == 0
    await outbox_sent(shop.sessions)
    assert len(shop.mailbox.with_subject("cancelled")) == 1
    await assert_exactly_once(shop, final)


async def test_cancelling_an_unpaid_order_needs_no_refund(shop: Shop) -> None:
    handle = await shop.place(an_order(method="bank_transfer"))
    await shop.until(handle, lambda view: view.status is OrderStatus.AWAITING_PAYMENT)

    answer = await ask(handle, "cancel", Cancel(reason="duplicate order"))
    final = await handle.result()

    assert answer.refund is not None
    assert answer.refund.amount.is_zero
    assert final.status is OrderStatus.CANCELLED
    assert OrderStatus.REFUNDING not in [entry.status for entry in final.timeline]
    assert await refund_payments(shop) == {}
    await assert_exactly_once(shop, final)


async def test_cancelling_after_shipment_is_rejected_and_changes_nothing(shop: Shop) -> None:
    handle = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.until(handle, lambda view: view.status is OrderStatus.PICKING)
    await ask(handle, "picked", {})
    await shop.until(handle, lambda view: view.status is OrderStatus.PACKING)
    await ask(handle, "packed", {})
    await ask(handle, "shipped", {"carrier": "DHL", "tracking": "00340434161234567890"})
    await shop.until(handle, lambda view: view.status is OrderStatus.SHIPPED)

    reason = await refused(handle, "cancel", Cancel(reason="too late"))

    assert "it has shipped, so refund it instead" in reason
    view = await shop.status(handle)
    assert view.status is OrderStatus.SHIPPED
    assert view.refunds == []


async def test_a_bank_transfer_refund_waits_for_the_payout_with_reminders_and_an_escalation(shop: Shop) -> None:
    order = an_order(method="bank_transfer", lines=[("NOTEBOOK-A5", 2, "9.50")])
    handle = await shop.place(order)
    await shop.until(handle, lambda view: view.status is OrderStatus.AWAITING_PAYMENT)
    await handle.signal("payment_received", {"reference": "SEPA-1"})
    await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)

    answer = await ask(handle, "refund", Refund(reason="wrong colour"))
    assert answer.refund is not None
    refund = answer.refund
    calendar = shop.settings.calendar
    escalation_at = calendar.deadline(refund.requested_at, 4)
    await shop.env.sleep(escalation_at - await shop.env.get_current_time() + timedelta(minutes=5))
    # The order hears of the escalation once its email is queued; the mail relay sends it soon after.
    waiting = await shop.until(handle, lambda view: view.refunds[0].escalated_at is not None)
    await outbox_sent(shop.sessions)

    operator = shop.mailbox.to(shop.settings.operator_email)
    subjects = [message["Subject"] for message in operator]
    assert waiting.status is OrderStatus.REFUNDING
    assert any("[urgent]" in subject.lower() for subject in subjects), subjects
    reminders = [subject for subject in subjects if "reminder" in subject.lower()]
    assert len(reminders) >= 3, subjects  # business days 1 to 4 each bring one

    accepted = await ask(handle, "refund_paid_out", RefundPaidOut(reference="SEPA-BACK-1", by="Grace"))
    final = await handle.result()

    assert "payout recorded" in accepted.message
    assert final.status is OrderStatus.REFUNDED
    assert final.refunds[0].payout_reference == "SEPA-BACK-1"
    assert final.refunds[0].within_sla is True
    await assert_exactly_once(shop, final)


async def test_malformed_payouts_sent_to_the_refund_itself_are_logged_and_a_good_one_finishes_it(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    order = an_order(method="bank_transfer", lines=[("NOTEBOOK-A5", 1, "9.50")])
    handle = await shop.place(order)
    await shop.until(handle, lambda view: view.status is OrderStatus.AWAITING_PAYMENT)
    await handle.signal("payment_received", {})
    await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)
    answer = await ask(handle, "refund", Refund(reason="wrong colour"))
    assert answer.refund is not None
    refund = shop.client.get_workflow_handle(answer.refund.refund_id)
    await shop.until(handle, lambda view: any(entry.event == "refund workflow started" for entry in view.timeline))

    await refund.signal("refund_paid_out", "garbage")
    await refund.signal("refund_paid_out", args=[{}, {}])
    await refund.signal("refund_paid_out", {"reference": "SEPA\r\nBACK"})
    await refund.signal("refund_paid_out", {"reference": "SEPA-BACK-2", "by": "Grace"})
    final = await handle.result()

    assert final.status is OrderStatus.REFUNDED
    assert final.refunds[0].payout_reference == "SEPA-BACK-2"
    rejected = [record.getMessage() for record in caplog.records if "refund_paid_out rejected" in record.getMessage()]
    # Each a line of its own; the workflow logger adds the run's details in braces.
    assert [line.split(": ", 2)[2].split(" ({'attempt'")[0] for line in rejected] == [
        "input: Input should be an object",
        "input: refund_paid_out takes one JSON object; 2 values were sent",
        "reference: must not contain control characters (U+000D at position 5); give it on one line of plain text",
    ]
    assert not [record for record in caplog.records if record.exc_info]


async def test_a_payment_gateway_down_for_two_days_still_refunds_within_the_sla(shop: Shop) -> None:
    order = an_order(card=REFUND_OUTAGE_CARD)
    handle = await completed(shop, order)

    await ask(handle, "refund", Refund(reason="not as described"))
    final = await handle.result()

    refund = final.refunds[0]
    assert refund.paid_at is not None
    assert refund.paid_at - refund.requested_at >= timedelta(hours=48)
    assert refund.within_sla is True
    assert final.status is OrderStatus.REFUNDED
    await assert_exactly_once(shop, final)


async def test_a_refund_twenty_days_after_delivery_reaches_the_still_running_order(shop: Shop) -> None:
    handle = await completed(shop, an_order())
    await shop.env.sleep(timedelta(days=20))

    await ask(handle, "refund", Refund(reason="stopped working"))
    final = await handle.result()

    assert final.status is OrderStatus.REFUNDED
    await assert_exactly_once(shop, final)


async def test_a_refund_after_the_refund_window_is_refused_with_that_reason(shop: Shop) -> None:
    # A long feedback window keeps the order open past its refund window, so the order itself must refuse.
    policy = shop.settings.order_policy().model_copy(update={"feedback_window": timedelta(days=60)})
    handle = await shop.place(an_order(), policy=policy)
    await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)
    await shop.env.sleep(timedelta(days=31))

    reason = await refused(handle, "refund", Refund(reason="too late"))

    assert "the refund window closed on" in reason
    assert "30 days after delivery" in reason


async def test_an_order_paid_on_saturday_evening_starts_picking_at_mondays_opening(shop: Shop) -> None:
    calendar = shop.settings.calendar
    hours = WorkingHours.parse("Mon-Fri 08:00-18:00", calendar)
    policy = shop.settings.order_policy().model_copy(update={"warehouse_hours": hours})
    now = (await shop.env.get_current_time()).astimezone(BERLIN)
    saturday = now.date() + timedelta(days=(5 - now.weekday()) % 7 or 7)
    while not calendar.is_business_day(saturday + timedelta(days=2)):
        saturday += timedelta(days=7)
    saturday_evening = datetime.combine(saturday, time(19, 30), BERLIN)
    await shop.env.sleep(saturday_evening - await shop.env.get_current_time())

    handle = await shop.place(an_order(), policy=policy)
    final = await handle.result()

    paid = next(entry for entry in final.timeline if entry.status is OrderStatus.PAID)
    picking = next(entry for entry in final.timeline if entry.status is OrderStatus.PICKING)
    assert paid.at.astimezone(BERLIN).date() == saturday
    monday_opening = datetime.combine(saturday + timedelta(days=2), time(8, 0), BERLIN)
    assert monday_opening <= picking.at < monday_opening + timedelta(minutes=1)
    assert any(entry.event == "warehouse closed" for entry in final.timeline)


async def test_an_unpaid_invoice_is_cancelled_at_the_end_of_its_last_business_day(shop: Shop) -> None:
    handle = await shop.place(an_order(method="invoice"))

    final = await handle.result()

    failed = final.timeline[-1]
    assert final.status is OrderStatus.PAYMENT_FAILED
    expected = shop.settings.calendar.deadline(final.placed_at, shop.settings.payment_due_days)
    assert expected <= failed.at < expected + timedelta(minutes=1)


async def test_a_refund_while_the_warehouse_system_is_picking_stops_the_pick_for_good(shop: Shop) -> None:
    # Auto mode with a slow warehouse: the pick activity is running when the refund arrives.
    pick = timedelta(seconds=3)
    policy = shop.settings.order_policy().model_copy(update={"pick_duration": pick})
    order = an_order(lines=[("TOTE-CANVAS", 2, "12.00")])
    handle = await shop.place(order, policy=policy)
    await shop.until(handle, lambda view: view.status is OrderStatus.PICKING, step=timedelta(milliseconds=200))

    await ask(handle, "refund", Refund(reason="ordered by mistake"))
    final = await handle.result()

    assert final.status is OrderStatus.REFUNDED
    assert final.refunds[0].released_units == 2
    # The warehouse system's own clock runs in real time: let its pick run out, which must not undo the stop.
    await asyncio.sleep(pick.total_seconds() + 1)
    assert await warehouse_tasks(shop, order.order_id) == {"pick": "cancelled"}
    await assert_exactly_once(shop, final)
