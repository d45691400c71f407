"""Whoever gives an order a command, by Update or by Signal, is named in the order's timeline as `by`."""

from __future__ import annotations

from sqlalchemy import text
from temporalio.client import WorkflowHandle

from domain.commands import CommandAccepted, Complete, DeliveryEvent, Packed, PaymentReceived, Picked, Shipped
from domain.order import FulfilmentMode
from domain.refund import Cancel, Refund, RefundPaidOut
from domain.status import OrderStatus
from domain.view import OrderView, TimelineEntry
from tests.sample_orders import an_order
from tests.workflows.conftest import Shop
from workflows.order import OrderWorkflow

ANNA = "anna@shop.example"
BEN = "ben@shop.example"
Handle = WorkflowHandle[OrderWorkflow, OrderView]


async def ask(handle: Handle, command: str, payload: object) -> CommandAccepted:
    """Send a command as the console and the CLI do: an Update whose answer comes back at once."""
    return await handle.execute_update(command, payload, result_type=CommandAccepted)


def acts(view: OrderView) -> list[tuple[str, str | None]]:
    """The timeline's entries that name who gave a command: (event, by), oldest first."""
    return [(entry.event, entry.by) for entry in view.timeline if entry.by is not None]


def entry(view: OrderView, event: str) -> TimelineEntry:
    """The timeline's one entry for `event`."""
    [found] = [entry for entry in view.timeline if entry.event == event]
    return found


async def one_value(shop: Shop, sql: str, order_id: str) -> object:
    """One value from the shop's database about the order."""
    async with shop.sessions() as session:
        return (await session.execute(text(sql), {"order": order_id})).scalar_one()


async def test_a_manual_order_driven_by_updates_names_the_operator_on_every_step_they_confirmed(shop: Shop) -> None:
    order = an_order()
    handle = await shop.place(order, FulfilmentMode.MANUAL)
    await shop.until(handle, lambda view: view.status is OrderStatus.PICKING)

    await ask(handle, "picked", Picked(by=ANNA))
    await shop.until(handle, lambda view: view.status is OrderStatus.PACKING)
    await ask(handle, "packed", Packed(by=ANNA))
    await ask(handle, "shipped", Shipped(carrier="DHL", tracking="JJD0001", by=ANNA))
    await shop.until(handle, lambda view: view.status is OrderStatus.SHIPPED)
    await ask(handle, "complete", Complete(note="handed over at the counter", by=ANNA))
    view = await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)

    assert acts(view) == [
        ("picking confirmed", ANNA),
        ("packing confirmed", ANNA),
        ("shipping confirmed", ANNA),
        ("fulfilled outside the system", ANNA),
    ]
    assert entry(view, "shipping confirmed").detail == "DHL JJD0001"
    assert entry(view, "fulfilled outside the system").detail == "handed over at the counter"
    # The steps the order took itself on the operator's word name nobody: they follow from the entries above.
    assert [entry.by for entry in view.timeline if entry.status is not None] == [None] * 6
    closed_by = "SELECT done_by FROM warehouse_tasks WHERE order_id = :order AND kind = 'pack'"
    assert await one_value(shop, closed_by, order.order_id) == ANNA


async def test_a_refund_names_who_asked_for_it_and_its_payout_by_hand_names_who_paid_it(shop: Shop) -> None:
    order = an_order(method="bank_transfer")
    handle = await shop.place(order)
    await shop.until(handle, lambda view: view.status is OrderStatus.AWAITING_PAYMENT)
    await ask(handle, "payment_received", PaymentReceived(reference="SEPA-1", by=ANNA))
    await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)

    await ask(handle, "refund", Refund(reason="arrived broken", by=ANNA))
    await ask(handle, "refund_paid_out", RefundPaidOut(reference="SEPA-BACK-1", by=BEN))
    final = await handle.result()

    refund_id = f"refund-{order.order_id}"
    assert acts(final) == [("payment confirmed", ANNA), ("refund requested", ANNA), ("refund paid out", BEN)]
    assert entry(final, "refund paid out").detail == f"{refund_id}, reference SEPA-BACK-1"
    assert final.status is OrderStatus.REFUNDED
    assert final.refunds[0].paid_out_by == BEN
    assert await one_value(shop, "SELECT paid_out_by FROM refunds WHERE order_id = :order", order.order_id) == BEN


async def test_a_cancellation_names_who_cancelled(shop: Shop) -> None:
    handle = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.until(handle, lambda view: view.status is OrderStatus.PICKING)

    await ask(handle, "cancel", Cancel(reason="customer asked to cancel", by=ANNA))
    final = await handle.result()

    assert final.status is OrderStatus.CANCELLED
    assert acts(final) == [("cancellation requested", ANNA)]


async def test_a_rejected_signal_names_who_sent_it(shop: Shop) -> None:
    handle = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.until(handle, lambda view: view.status is OrderStatus.PICKING)

    await handle.signal("packed", Packed(by=ANNA))
    view = await shop.until(handle, lambda view: any(entry.rejected for entry in view.timeline))

    [rejected] = [entry for entry in view.timeline if entry.rejected]
    assert (rejected.event, rejected.by) == ("packed rejected", ANNA)
    assert view.status is OrderStatus.PICKING


async def test_a_carriers_delivery_signal_is_recorded_in_the_carriers_name(shop: Shop) -> None:
    handle = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.until(handle, lambda view: view.status is OrderStatus.PICKING)
    await ask(handle, "picked", Picked())
    await shop.until(handle, lambda view: view.status is OrderStatus.PACKING)
    await ask(handle, "packed", Packed())
    await ask(handle, "shipped", Shipped(carrier="DHL", tracking="JJD0002"))
    await shop.until(handle, lambda view: view.status is OrderStatus.SHIPPED)

    await handle.signal("delivery_event", DeliveryEvent(event="delivered", by="dhl webhook"))
    view = await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)

    assert acts(view) == [("carrier: delivered", "dhl webhook")]
    assert [entry.event for entry in view.timeline if entry.event.endswith("confirmed")] == [
        "picking confirmed",
        "packing confirmed",
        "shipping confirmed",
    ]
