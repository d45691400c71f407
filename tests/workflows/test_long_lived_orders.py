"""Orders that live for months keep a short history: backorders back off, a lost parcel stops being polled, refunds
and refused Signals have a most an order takes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle

from domain.commands import CommandAccepted
from domain.money import Money
from domain.refund import Refund, RefundItem
from domain.status import OrderStatus
from domain.view import OrderView
from settings import Settings
from store.catalogue import add_product, receive_stock
from tests.conftest import Mailbox
from tests.sample_orders import an_order
from tests.workflows.conftest import Shop, open_shop
from workflows.order import OrderWorkflow
from workflows.order_v1 import REJECTIONS_NOTED

Handle = WorkflowHandle[OrderWorkflow, OrderView]
# Temporal refuses a history of more events than this; an order must stay far below it.
HISTORY_LIMIT = 51_200


async def events(handle: Handle) -> int:
    return len((await handle.fetch_history()).events)


async def test_a_backorder_of_four_months_rechecks_less_and_less_and_stock_still_resumes_it(shop: Shop) -> None:
    await add_product(shop.sessions, "PREORDER-LAMP", "Lamp, ships in spring", Money.of("40.00", "EUR"))
    handle = await shop.place(an_order(lines=[("PREORDER-LAMP", 1, "40.00")]))
    await shop.until(handle, lambda view: view.status is OrderStatus.BACKORDERED)

    await shop.env.sleep(timedelta(days=120))
    waited = await events(handle)
    await receive_stock(shop.sessions, "PREORDER-LAMP", 1, shop.settings.warehouse, "spring-delivery")
    await handle.signal("stock_arrived", {"sku": "PREORDER-LAMP"})
    view = await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)

    # Hourly for 120 days would be 2,880 rechecks, some 20,000 events; doubling from an hour to a day, 125.
    assert waited < 1_500, waited
    assert [entry.event for entry in view.timeline].count("backordered") == 1


@pytest.fixture
async def lost_parcels(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], smtp: Mailbox
) -> AsyncIterator[Shop]:
    """A shop whose sandbox parcels report nothing after their label, as one lost on the way; polls give up after
    5 days (60 by default: the same loop, twelve times the polls and the suite's time)."""
    lost = settings.model_copy(
        update={
            "carrier_transit_seconds": 365 * 86_400.0,
            "tracking_poll_max_seconds": 3600,
            "tracking_give_up_days": 5,
        }
    )
    async with open_shop(lost, sessions, smtp) as shop:
        yield shop


async def test_a_parcel_lost_on_the_way_is_polled_until_its_give_up_day_then_waits_for_word_of_its_delivery(
    lost_parcels: Shop,
) -> None:
    shop = lost_parcels
    handle = await shop.place(an_order())
    await shop.until(handle, lambda view: view.status is OrderStatus.SHIPPED)

    view = await shop.until(
        handle,
        lambda view: any(entry.event == "tracking stopped" for entry in view.timeline),
        step=timedelta(days=1),
        attempts=10,
    )
    stopped = await events(handle)
    await shop.env.sleep(timedelta(days=200))
    later = await events(handle)
    await handle.signal("delivery_event", {"event": "delivered", "detail": "found at the depot"})
    final = await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)

    [entry] = [entry for entry in view.timeline if entry.event == "tracking stopped"]
    assert entry.detail == (
        "not delivered after 5 days; a delivery event from the carrier or an operator completes the order"
    )
    # Five days of polls backing off to hourly: some 130 polls; 200 days more add no event at all.
    assert stopped < HISTORY_LIMIT // 20, stopped
    assert later == stopped
    assert final.shipment is not None
    assert final.shipment.delivered_at is not None


async def test_an_order_takes_its_most_refunds_and_refuses_the_next_with_the_reason(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], smtp: Mailbox
) -> None:
    few = settings.model_copy(update={"max_refunds": 2})
    async with open_shop(few, sessions, smtp) as shop:
        handle = await shop.place(an_order(lines=[("MUG-ENAMEL", 3, "14.90")]))
        await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)
        one_mug = Refund(reason="chipped", lines=[RefundItem(sku="MUG-ENAMEL", quantity=1)])

        for number in (1, 2):
            await handle.execute_update("refund", one_mug, result_type=CommandAccepted)
            await shop.until(handle, lambda view, n=number: len(view.refunds) == n and not view.refunds[-1].is_open)
        await handle.signal("refund", one_mug.model_dump(mode="json"))
        view = await shop.until(handle, lambda view: any(entry.rejected for entry in view.timeline))

    [rejected] = [entry for entry in view.timeline if entry.rejected]
    assert rejected.detail == (
        "the order has had 2 refunds, the most one order takes; give the rest back outside the system"
    )
    assert view.status is OrderStatus.COMPLETED


async def test_a_flood_of_refused_signals_notes_a_hundred_and_logs_the_rest(shop: Shop) -> None:
    handle = await shop.place(an_order())
    await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)

    for _ in range(REJECTIONS_NOTED + 20):
        await handle.signal("picked", {})
    view = await shop.until(
        handle, lambda view: any("Signals refused" in (entry.detail or "") for entry in view.timeline)
    )
    await handle.signal("feedback", {"rating": 5})
    final = await shop.until(handle, lambda view: view.follow_up.feedback_rating == 5)

    rejected = [entry for entry in view.timeline if entry.rejected]
    assert len(rejected) == REJECTIONS_NOTED + 1
    assert rejected[-1].detail == f"more than {REJECTIONS_NOTED} Signals refused: the rest are only logged"
    assert sum(entry.rejected for entry in final.timeline) == REJECTIONS_NOTED + 1
