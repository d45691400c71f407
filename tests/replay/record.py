"""Record the histories that `test_replay` replays: real orders run to their end by the real worker.

Run with `make histories` after a deliberate workflow change; commit the JSON files it writes.
`STORIES` run on the dev server, with follow-up and refund windows shortened to seconds so every recorded order
closes. `STAGED_STORIES` each get a fresh server and workers of their own settings, and keep the shop's real
windows: most wait for days (a backorder, a closed warehouse, a payout by hand, a parcel in transit, a refund through a
gateway outage, an invoice never paid, the follow-up after a hand-over or a cash delivery) on Temporal's time-skipping
test server. `first_type` ones run as the first order workflow (type `OrderWorkflow`), whose orders still drain,
and are written to `v1/`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import api
from domain.commands import (
    CommandAccepted,
    Complete,
    Confirmation,
    DeliveryEvent,
    Feedback,
    Packed,
    Picked,
    Shipped,
    StockArrived,
)
from domain.order import FulfilmentMode, Order, PaymentMethod
from domain.progress import booking_reference
from domain.refund import Cancel, Refund, RefundItem, RefundPaidOut, RefundState
from domain.status import OrderStatus
from domain.view import OrderView, PaymentState, TimelineEvent
from gateways.payments import REFUND_OUTAGE, REFUND_OUTAGE_CARD
from settings import Settings
from starter.placement import place_order
from store import migrate, orders, warehouse
from store.catalogue import receive_stock, seed_demo_catalogue
from store.db import create_engine, session_factory
from tests.conftest import TEMPORAL_CLI, TEMPORAL_TEST_SERVER, Mailbox, free_port
from tests.replay.patches import patch_markers
from tests.sample_orders import CARD_DECLINES, an_order
from worker import build_warehouse_worker, build_worker
from workflows import new_order_digest, search
from workflows.daily_report import SCHEDULE_ID, DailyReport, DailyReportWorkflow
from workflows.new_order_digest import NewOrderDigest, NewOrderDigestWorkflow
from workflows.order import STATUS_QUERY, OrderWorkflow, PlaceOrder, workflow_id
from workflows.order_v1 import STOP_AT_NEXT_ACTIVITY, TRACKING_BACKOFF, UPDATE_THEN_ACTIVITY, OrderWorkflowV1

HISTORIES = Path(__file__).parent.parent / "histories"
SECOND_IN_DAYS = 1 / 86_400
DAILY_REPORT = "daily_report"
NEW_ORDER_DIGEST = "new_order_digest"

Story = Callable[[Client, WorkflowHandle[OrderWorkflow, OrderView]], Awaitable[None]]


async def until(handle: WorkflowHandle[Any, OrderView], done: Callable[[OrderView], bool]) -> None:
    """Poll the order until `done` holds."""
    for _ in range(600):
        if done(await handle.query(STATUS_QUERY, result_type=OrderView)):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{handle.id} did not get there")


async def left_alone(_client: Client, _handle: WorkflowHandle[OrderWorkflow, OrderView]) -> None:
    """Auto mode: nobody touches the order."""


async def driven_by_hand(_client: Client, handle: WorkflowHandle[OrderWorkflow, OrderView]) -> None:
    """Manual mode: a refused signal, then pick by signal, pack and ship by update, delivery by carrier signal."""
    await until(handle, lambda view: view.status is OrderStatus.PICKING)
    await handle.signal("packed", Packed())
    await handle.signal("picked", Picked(by="sam"))
    await until(handle, lambda view: view.status is OrderStatus.PACKING)
    await handle.execute_update("packed", Packed(by="sam"), result_type=CommandAccepted)
    await until(handle, lambda view: any(entry.event == "pack done" for entry in view.timeline))
    await handle.execute_update("shipped", Shipped(carrier="DHL", tracking="JJD0001"), result_type=CommandAccepted)
    await until(handle, lambda view: view.status is OrderStatus.SHIPPED)
    await handle.signal("delivery_event", {"event": "delivered"})
    await until(handle, lambda view: view.status is OrderStatus.COMPLETED)
    await handle.signal("feedback", {"rating": 4, "comment": "quick"})


async def paid_by_transfer(_client: Client, handle: WorkflowHandle[OrderWorkflow, OrderView]) -> None:
    """Bank transfer: the money arrives a little later."""
    await until(handle, lambda view: view.status is OrderStatus.AWAITING_PAYMENT)
    await handle.signal("payment_received", {"reference": "SEPA-1"})


async def refunded_in_two_parts(_client: Client, handle: WorkflowHandle[OrderWorkflow, OrderView]) -> None:
    """A completed order: one mug refunded by Update, the rest by Signal (as from Temporal UI)."""
    await until(handle, lambda view: view.status is OrderStatus.COMPLETED)
    partial = Refund(reason="one mug chipped", lines=[RefundItem(sku="MUG-ENAMEL", quantity=1)])
    await handle.execute_update("refund", partial, result_type=CommandAccepted)
    await until(handle, lambda view: view.status is OrderStatus.COMPLETED and not view.refunds[0].is_open)
    await handle.signal("refund", Refund(reason="the other one too", no_restock=["MUG-ENAMEL"]))


async def cancelled_while_picking(_client: Client, handle: WorkflowHandle[OrderWorkflow, OrderView]) -> None:
    """Manual mode: the customer cancels while the warehouse is picking; the capture goes back."""
    await until(handle, lambda view: view.status is OrderStatus.PICKING)
    await handle.signal("shipped", {"carrier": "DHL", "tracking": "1"})  # refused: not packed
    await handle.execute_update("cancel", Cancel(reason="customer called"), result_type=CommandAccepted)


async def transfer_refunded_by_hand(_client: Client, handle: WorkflowHandle[OrderWorkflow, OrderView]) -> None:
    """Bank transfer: paid, completed, refunded; the operator pays the money back and says so."""
    await until(handle, lambda view: view.status is OrderStatus.AWAITING_PAYMENT)
    await handle.signal("payment_received", {"reference": "SEPA-2"})
    await until(handle, lambda view: view.status is OrderStatus.COMPLETED)
    await handle.execute_update("refund", Refund(reason="returned"), result_type=CommandAccepted)
    await until(handle, lambda view: view.refunds[0].state is RefundState.AWAITING_PAYOUT)
    await handle.execute_update("refund_paid_out", RefundPaidOut(reference="SEPA-BACK"), result_type=CommandAccepted)


STORIES: dict[str, tuple[Order, FulfilmentMode, Story]] = {
    "auto_card_order": (an_order(external_id="REC-AUTO"), FulfilmentMode.AUTO, left_alone),
    "manual_order": (an_order(external_id="REC-MANUAL"), FulfilmentMode.MANUAL, driven_by_hand),
    "bank_transfer_order": (
        an_order(external_id="REC-TRANSFER", method="bank_transfer"),
        FulfilmentMode.AUTO,
        paid_by_transfer,
    ),
    "declined_card_order": (
        an_order(external_id="REC-DECLINED", card=CARD_DECLINES),
        FulfilmentMode.AUTO,
        left_alone,
    ),
    "refunded_order": (
        an_order(external_id="REC-REFUND", lines=[("MUG-ENAMEL", 2, "14.90")], shipping="4.90"),
        FulfilmentMode.AUTO,
        refunded_in_two_parts,
    ),
    "cancelled_order": (an_order(external_id="REC-CANCEL"), FulfilmentMode.MANUAL, cancelled_while_picking),
    "bank_transfer_refund": (
        an_order(external_id="REC-PAYOUT", method="bank_transfer"),
        FulfilmentMode.AUTO,
        transfer_refunded_by_hand,
    ),
}


# --- stories on a server of their own: days of waiting skipped, workers stopped and started -------------------

# Sandbox scans follow the worker's wall clock, which time skipping does not move: a year-long transit keeps the
# parcel quiet after its label for as long as the story lasts, as a parcel between depots is.
A_YEAR_IN_SECONDS = 365 * 86_400.0
BERLIN = ZoneInfo("Europe/Berlin")
OrderHandle = WorkflowHandle[Any, OrderView]


class Stage:
    """A staged story's world: its server, the shop's database, the story's settings and its workers.

    The order worker can be stopped and started again while the story runs, as a deployment does.
    """

    def __init__(
        self, env: WorkflowEnvironment, settings: Settings, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        self.env = env
        self.settings = settings
        self.sessions = sessions
        self._order_worker: tuple[Worker, asyncio.Task[None]] | None = None

    async def start_order_worker(self) -> None:
        """Start a fresh real worker on the story's task queue."""
        worker = build_worker(self.env.client, self.settings, self.sessions)
        self._order_worker = (worker, asyncio.create_task(worker.run()))

    async def stop_order_worker(self) -> None:
        """Shut the order worker down, if it runs; its cached workflows go with it."""
        if self._order_worker is None:
            return
        worker, running = self._order_worker
        self._order_worker = None
        await worker.shutdown()
        await running

    async def skip_to(self, at: datetime) -> None:
        """Let the server's clock (and every timer due on the way) run on to `at`."""
        left = at - await self.env.get_current_time()
        if left > timedelta(0):
            await self.env.sleep(left)


StagedPlay = Callable[[Stage, OrderHandle], Awaitable[None]]


@dataclass(frozen=True)
class StagedStory:
    """An order on a server of its own: what it is, how it is driven, and the path its history must show."""

    order: Order
    mode: FulfilmentMode
    play: StagedPlay
    # Whether the finished order took the path the story is named for; otherwise nothing is written.
    shows: Callable[[OrderView], bool]
    # Worker settings of the story's own worker: the sandbox carrier's transit is the worker's, not the order's.
    settings: Mapping[str, Any] = field(default_factory=dict)
    # When the order is placed, from the server's clock and the story's settings; None: at once.
    placed_at: Callable[[datetime, Settings], datetime] | None = None
    # Run as the first order workflow (`OrderWorkflowV1`, type `OrderWorkflow`), stored in `v1/`.
    first_type: bool = False
    # Picking and packing on a warehouse task queue of their own, served by `worker.build_warehouse_worker`.
    warehouse_worker: bool = False
    # Refund workflows the order starts, each written beside it.
    refunds: int = 0
    # Patch ids whose markers the history must carry.
    patches: tuple[str, ...] = ()
    # The time-skipping test server; False: the dev server, for a story that stops its order worker (the test
    # server never moves a workflow task off a stopped worker's sticky queue, so a new worker never gets it).
    skips_time: bool = True

    @property
    def folder(self) -> Path:
        """Where its histories are written."""
        return HISTORIES / "v1" if self.first_type else HISTORIES


def rejected(view: OrderView) -> list[str]:
    """The events of the order's rejected timeline entries."""
    return [entry.event for entry in view.timeline if entry.rejected]


async def restocked_while_backordered(stage: Stage, handle: OrderHandle) -> None:
    """Sold out: the order waits as backordered, its rechecks backing off (after 1 h, 2 h more, then 4 h more), and
    a stock receipt resumes it before the third."""
    await until(handle, lambda view: view.status is OrderStatus.BACKORDERED)
    await stage.env.sleep(timedelta(hours=3, minutes=30))
    await receive_stock(stage.sessions, "COFFEE-1KG", 10, stage.settings.warehouse, "receipt-REC-BACKORDER")
    await handle.signal("stock_arrived", StockArrived(sku="COFFEE-1KG", by="oms cli"))


def resumed_and_completed(view: OrderView) -> bool:
    events = [entry.event for entry in view.timeline]
    return view.status is OrderStatus.COMPLETED and "backordered" in events and "stock arrived" in events


def saturday_evening(now: datetime, settings: Settings) -> datetime:
    """19:30 on the next Saturday whose Monday is a business day, so the warehouse opens at 08:00 that Monday."""
    calendar = settings.calendar
    today = now.astimezone(BERLIN).date()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    while not calendar.is_business_day(saturday + timedelta(days=2)):
        saturday += timedelta(days=7)
    return datetime.combine(saturday, time(19, 30), BERLIN)


async def waits_for_monday(_stage: Stage, _handle: OrderHandle) -> None:
    """Paid on Saturday evening: picking waits for the warehouse's Monday opening; nobody else touches it."""


def picked_at_mondays_opening(view: OrderView) -> bool:
    picking = next(entry for entry in view.timeline if entry.status is OrderStatus.PICKING)
    local = picking.at.astimezone(BERLIN)
    return "warehouse closed" in [entry.event for entry in view.timeline] and (
        local.weekday(),
        local.time().replace(second=0, microsecond=0),
    ) == (0, time(8, 0))


async def paid_out_after_reminders_and_escalation(stage: Stage, handle: OrderHandle) -> None:
    """Bank transfer refunded: nobody pays it out for four business days of reminders, then the escalation, then
    the operator does."""
    await until(handle, lambda view: view.status is OrderStatus.AWAITING_PAYMENT)
    await handle.signal("payment_received", {"reference": "SEPA-3"})
    await until(handle, lambda view: view.status is OrderStatus.COMPLETED)
    answer = await handle.execute_update("refund", Refund(reason="wrong colour"), result_type=CommandAccepted)
    assert answer.refund is not None
    settings = stage.settings
    escalation_at = settings.calendar.deadline(answer.refund.requested_at, settings.refund_sla_business_days - 1)
    await stage.skip_to(escalation_at + timedelta(minutes=5))
    await until(handle, lambda view: view.refunds[0].escalated_at is not None)
    payout = RefundPaidOut(reference="SEPA-BACK-3", by="grace@demo-shop.example")
    await handle.execute_update("refund_paid_out", payout, result_type=CommandAccepted)


def paid_out_late(view: OrderView) -> bool:
    refund = view.refunds[0]
    return (
        view.status is OrderStatus.REFUNDED
        and refund.reminders_sent >= 3
        and refund.escalated_at is not None
        and refund.payout_reference == "SEPA-BACK-3"
    )


async def quiet_in_transit(stage: Stage, handle: OrderHandle) -> None:
    """Shipped, then hours without a scan (polls backing off to hourly), then the carrier's webhook delivers it."""
    await until(handle, lambda view: view.status is OrderStatus.SHIPPED)
    await stage.env.sleep(timedelta(hours=4))
    await handle.signal("delivery_event", DeliveryEvent(event="delivered", detail="carrier webhook"))


async def lost_in_transit(stage: Stage, handle: OrderHandle) -> None:
    """Shipped and never scanned again: polling gives up, and days later the operator reports the delivery."""
    await until(handle, lambda view: view.status is OrderStatus.SHIPPED)
    await stage.env.sleep(timedelta(days=2))
    await handle.signal("delivery_event", DeliveryEvent(event="delivered", detail="customer called", by="grace"))


def given_up_then_delivered(view: OrderView) -> bool:
    return delivered_by_webhook(view) and "tracking stopped" in [entry.event for entry in view.timeline]


def delivered_by_webhook(view: OrderView) -> bool:
    return view.shipment is not None and view.shipment.delivered_at is not None and view.status is OrderStatus.COMPLETED


async def malformed_signals_then_driven_by_hand(_stage: Stage, handle: OrderHandle) -> None:
    """Manual mode: Signals with bad input and one with a misspelt name are rejected; then the order is driven on."""
    await until(handle, lambda view: view.status is OrderStatus.PICKING)
    await handle.signal("picked", "garbage")
    await handle.signal("feedback", {"rating": 99})
    await handle.signal("pikced", {})
    await handle.signal("packed", args=[{}, {}])
    await until(handle, lambda view: len(rejected(view)) == 4)
    await handle.signal("picked", Picked(by="sam"))
    await until(handle, lambda view: view.status is OrderStatus.PACKING)
    await handle.signal("packed", Packed(by="sam"))
    await until(handle, lambda view: any(entry.event == "pack done" for entry in view.timeline))
    await handle.signal("shipped", Shipped(carrier="DHL", tracking="JJD0002", by="sam"))
    await until(handle, lambda view: view.status is OrderStatus.SHIPPED)
    await handle.signal("delivery_event", DeliveryEvent(event="delivered"))
    await until(handle, lambda view: view.status is OrderStatus.COMPLETED)
    await handle.signal("feedback", Feedback(rating=5, comment="arrived fine"))


def rejected_then_completed(view: OrderView) -> bool:
    return view.status is OrderStatus.COMPLETED and rejected(view) == [
        "picked rejected",
        "feedback rejected",
        "signal rejected",
        "packed rejected",
    ]


async def cancelled_as_the_pick_finishes(stage: Stage, handle: OrderHandle) -> None:
    """The cancellation and the pick's completion reach the order in one workflow task: the pick's result wins the
    race, and the order stops at its next activity instead of carrying on to packing (`stop-at-next-activity`).

    The order worker is down meanwhile (a deployment, say), so both wait for it; the pick runs on the warehouse's
    own worker and finishes all the same.
    """
    order_id = (await handle.query(STATUS_QUERY, result_type=OrderView)).order_id
    for _ in range(600):
        task = await warehouse.get_task(stage.sessions, order_id, api.TaskKind.PICK.value)
        if task is not None and task.status == warehouse.OPEN:
            break
        await asyncio.sleep(0.05)
    else:
        raise TimeoutError(f"{handle.id}: the pick never started")
    await stage.stop_order_worker()
    await handle.signal("cancel", Cancel(reason="customer called while the pick ran"))
    for _ in range(600):
        if await activity_completed(handle, api.PERFORM_WAREHOUSE_TASK.name):
            break
        await asyncio.sleep(0.1)
    else:
        raise TimeoutError(f"{handle.id}: the pick never finished")
    await stage.start_order_worker()


async def activity_completed(handle: OrderHandle, activity_type: str) -> bool:
    """Whether the history already holds a completion of an activity of that type."""
    history = await handle.fetch_history()
    scheduled = {
        event.event_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == activity_type
    }
    return any(
        event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and event.activity_task_completed_event_attributes.scheduled_event_id in scheduled
        for event in history.events
    )


def cancelled_before_packing(view: OrderView) -> bool:
    return view.status is OrderStatus.CANCELLED and OrderStatus.PACKING not in [entry.status for entry in view.timeline]


async def refunded_through_a_gateway_outage(_stage: Stage, handle: OrderHandle) -> None:
    """A completed card order refunded while the gateway fails every refund of its card for 48 hours; the refund's
    activity keeps retrying (backing off to hourly) until the outage is over."""
    await until(handle, lambda view: view.status is OrderStatus.COMPLETED)
    await handle.execute_update("refund", Refund(reason="not as described"), result_type=CommandAccepted)


def refunded_after_the_outage(view: OrderView) -> bool:
    if view.status is not OrderStatus.REFUNDED or len(view.refunds) != 1:
        return False
    refund = view.refunds[0]
    # Paid before the outage ended would mean the sandbox's outage never reached the refund.
    return (
        refund.paid_at is not None
        and refund.paid_at - refund.requested_at >= REFUND_OUTAGE
        and refund.gateway_reference is not None
        and refund.within_sla is True
    )


async def never_paid(_stage: Stage, _handle: OrderHandle) -> None:
    """An invoice nobody pays: the order waits out its payment due business days and gives up."""


def expired_at_its_due_time(view: OrderView) -> bool:
    statuses = [entry for entry in view.timeline if entry.status is not None]
    if len(statuses) < 2 or view.status is not OrderStatus.PAYMENT_FAILED:
        return False
    awaiting, failed = statuses[-2], statuses[-1]
    # Both entries name the due time fixed at placement: the order must have given up at that time, not another.
    due = failed.at.astimezone(BERLIN).strftime("%a %d %b %Y %H:%M %Z")
    return (
        view.payment.state is PaymentState.EXPIRED
        and (awaiting.event, failed.event) == (TimelineEvent.AWAITING_PAYMENT, TimelineEvent.PAYMENT_NEVER_ARRIVED)
        and awaiting.detail is not None
        and awaiting.detail.startswith(f"due by {due} (")
        and awaiting.detail.endswith(" business days)")
        and failed.detail == f"no payment{awaiting.detail.removeprefix('due')}"
        and TimelineEvent.STOCK_RESERVED not in [entry.event for entry in view.timeline]
    )


async def refunded_by_update(_stage: Stage, handle: OrderHandle) -> None:
    """A completed card order refunded whole by an Update, as the CLI and the console send it."""
    await until(handle, lambda view: view.status is OrderStatus.COMPLETED)
    await handle.execute_update("refund", Refund(reason="changed mind", by="sam"), result_type=CommandAccepted)


def refunded_whole(view: OrderView) -> bool:
    return view.status is OrderStatus.REFUNDED and len(view.refunds) == 1 and view.refunds[0].within_sla is True


HANDED_OVER = "handed over at the counter"


async def completed_by_hand_while_picking(_stage: Stage, handle: OrderHandle) -> None:
    """Manual mode: the goods leave over the counter while the pick is open; the operator completes the order."""
    await until(handle, lambda view: view.status is OrderStatus.PICKING)
    await handle.execute_update("complete", Complete(note=HANDED_OVER, by="sam"), result_type=CommandAccepted)


def completed_without_a_shipment(view: OrderView) -> bool:
    statuses = [entry.status for entry in view.timeline if entry.status is not None]
    events = [entry.event for entry in view.timeline]
    completed = next((entry for entry in view.timeline if entry.status is OrderStatus.COMPLETED), None)
    return (
        view.status is OrderStatus.COMPLETED
        and view.shipment is None
        and statuses[-2:] == [OrderStatus.PICKING, OrderStatus.COMPLETED]
        and Confirmation.COMPLETION in events
        and TimelineEvent.PICK_DONE not in events
        and completed is not None
        and completed.detail == HANDED_OVER
    )


async def collected_at_the_door(_stage: Stage, _handle: OrderHandle) -> None:
    """Cash on delivery: nothing is taken up front; the carrier collects the total when it delivers."""


def cash_collected_at_delivery(view: OrderView) -> bool:
    payment, shipment = view.payment, view.shipment
    return (
        view.status is OrderStatus.COMPLETED
        and payment.method is PaymentMethod.CASH_ON_DELIVERY
        and payment.state is PaymentState.CAPTURED
        and payment.captured == view.totals.total
        and payment.gateway_reference == booking_reference(PaymentMethod.CASH_ON_DELIVERY, view.order_id)
        and shipment is not None
        and shipment.delivered_at is not None
        and payment.captured_at == shipment.delivered_at
        and TimelineEvent.PAYMENT_CAPTURED not in [entry.event for entry in view.timeline]
    )


QUIET_CARRIER = {"carrier_transit_seconds": A_YEAR_IN_SECONDS, "tracking_poll_seconds": 5}

STAGED_STORIES: dict[str, StagedStory] = {
    "backordered_order": StagedStory(
        an_order(external_id="REC-BACKORDER", lines=[("COFFEE-1KG", 1, "29.90")]),
        FulfilmentMode.AUTO,
        restocked_while_backordered,
        shows=resumed_and_completed,
    ),
    "warehouse_closed_order": StagedStory(
        an_order(external_id="REC-WEEKEND"),
        FulfilmentMode.AUTO,
        waits_for_monday,
        shows=picked_at_mondays_opening,
        settings={"warehouse_hours": "Mon-Fri 08:00-18:00"},
        placed_at=saturday_evening,
    ),
    "payout_reminded_refund": StagedStory(
        an_order(external_id="REC-REMINDED", method="bank_transfer", lines=[("NOTEBOOK-A5", 2, "9.50")]),
        FulfilmentMode.AUTO,
        paid_out_after_reminders_and_escalation,
        shows=paid_out_late,
        refunds=1,
    ),
    "quiet_tracking_order": StagedStory(
        an_order(external_id="REC-QUIET"),
        FulfilmentMode.AUTO,
        quiet_in_transit,
        shows=delivered_by_webhook,
        settings=QUIET_CARRIER,
    ),
    "lost_parcel_order": StagedStory(
        an_order(external_id="REC-LOST"),
        FulfilmentMode.AUTO,
        lost_in_transit,
        shows=given_up_then_delivered,
        settings={**QUIET_CARRIER, "tracking_give_up_days": 0.25},
    ),
    "rejected_signals_order": StagedStory(
        an_order(external_id="REC-REJECTED"),
        FulfilmentMode.MANUAL,
        malformed_signals_then_driven_by_hand,
        shows=rejected_then_completed,
    ),
    "gateway_outage_refund": StagedStory(
        an_order(external_id="REC-OUTAGE", card=REFUND_OUTAGE_CARD),
        FulfilmentMode.AUTO,
        refunded_through_a_gateway_outage,
        shows=refunded_after_the_outage,
        refunds=1,
    ),
    "unpaid_invoice_order": StagedStory(
        an_order(external_id="REC-UNPAID", method="invoice"),
        FulfilmentMode.AUTO,
        never_paid,
        shows=expired_at_its_due_time,
    ),
    "completed_by_hand_order": StagedStory(
        an_order(external_id="REC-BY-HAND"),
        FulfilmentMode.MANUAL,
        completed_by_hand_while_picking,
        shows=completed_without_a_shipment,
    ),
    "refunded_by_update_order": StagedStory(
        an_order(external_id="REC-BY-UPDATE"),
        FulfilmentMode.AUTO,
        refunded_by_update,
        shows=refunded_whole,
        refunds=1,
        # The step after an Update runs as an activity, not a local one, so it never runs without the Update.
        patches=(UPDATE_THEN_ACTIVITY,),
    ),
    "cash_on_delivery_order": StagedStory(
        an_order(external_id="REC-COD", method="cash_on_delivery"),
        FulfilmentMode.AUTO,
        collected_at_the_door,
        shows=cash_collected_at_delivery,
    ),
    "v1_quiet_tracking_order": StagedStory(
        an_order(external_id="REC-V1-QUIET"),
        FulfilmentMode.AUTO,
        quiet_in_transit,
        shows=delivered_by_webhook,
        settings=QUIET_CARRIER,
        first_type=True,
        patches=(TRACKING_BACKOFF,),
    ),
    "v1_cancelled_as_pick_finished": StagedStory(
        an_order(external_id="REC-V1-RACE"),
        FulfilmentMode.AUTO,
        cancelled_as_the_pick_finishes,
        shows=cancelled_before_packing,
        settings={"pick_seconds": 3},
        first_type=True,
        warehouse_worker=True,
        refunds=1,
        patches=(STOP_AT_NEXT_ACTIVITY,),
        skips_time=False,
    ),
}


def recorded_histories() -> dict[str, list[Path]]:
    """Every story the recorder knows and the history files it writes: the order's (or workflow's) first, then
    those of the refunds a staged story declares."""
    known = {name: [HISTORIES / f"{name}.json"] for name in [*STORIES, DAILY_REPORT, NEW_ORDER_DIGEST]}
    for name, story in STAGED_STORIES.items():
        refunds = [story.folder / f"{name}.refund-{number}.json" for number in range(1, story.refunds + 1)]
        known[name] = [story.folder / f"{name}.json", *refunds]
    return known


async def start_order(client: Client, settings: Settings, story: StagedStory) -> OrderHandle:
    """Start the story's order with the options `place_order` gives it, as the first or today's workflow type.

    Started here rather than by `place_order`, which keeps no handle: only a handle the time-skipping client started
    lets the server skip time while its result is awaited.
    """
    order = story.order
    place = PlaceOrder(order=order, policy=settings.order_policy(story.mode))
    options: dict[str, Any] = {
        "id": workflow_id(order.order_id),
        "task_queue": settings.task_queue,
        "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
        "search_attributes": TypedSearchAttributes(
            [
                SearchAttributePair(update.key, update.value)
                for update in search.of_order(order, OrderStatus.RECEIVED)
                if update.value is not None
            ]
        ),
        "static_summary": f"{order.channel.value} order {order.external_id}: {order.total.format()}, "
        f"{order.payment.method.value}",
        "static_details": "\n".join(
            f"- {line.quantity} x {line.name or line.sku} ({line.sku}) at {line.unit_price.format()}"
            for line in order.lines
        ),
    }
    if story.first_type:
        return await client.start_workflow(OrderWorkflowV1.run, place, **options)
    return await client.start_workflow(OrderWorkflow.run, place, **options)


async def record_staged(
    stories: dict[str, StagedStory], shop: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Run each story on a fresh server, with workers of its own settings, and write its histories.

    A server per story: one time-skipping server shared by several jumps a decade ahead after each order (a
    deadline of ten years the test server keeps), and a story's timers should not wait on another's.
    A story whose order did not take its path, or lacks a patch marker it should carry, stops the recording
    before anything of it is written.
    """
    for name, story in stories.items():
        queue = f"record-{name}-{uuid.uuid4()}"
        update: dict[str, Any] = {**story.settings, "task_queue": queue}
        if story.warehouse_worker:
            update["warehouse_task_queue"] = f"{queue}-warehouse"
        settings = shop.model_copy(update=update)
        async with await server(story) as env, AsyncExitStack() as workers:
            stage = Stage(env, settings, sessions)
            at_the_warehouse = build_warehouse_worker(env.client, settings, sessions)
            if at_the_warehouse is not None:
                await workers.enter_async_context(at_the_warehouse)
            await stage.start_order_worker()
            workers.push_async_callback(stage.stop_order_worker)
            if story.placed_at is not None:
                await stage.skip_to(story.placed_at(await env.get_current_time(), settings))
            handle = await start_order(env.client, settings, story)
            await story.play(stage, handle)
            final = await handle.result()
            history = await handle.fetch_history()
            children = [await env.client.get_workflow_handle(r.refund_id).fetch_history() for r in final.refunds]
        missing = sorted(set(story.patches) - patch_markers(json.loads(history.to_json())))
        if not story.shows(final) or len(children) != story.refunds or missing:
            raise SystemExit(
                f"{name} did not go its way: {final.status.value}, {len(children)} refunds, "
                f"patch markers missing: {missing or 'none'}; last entries {final.timeline[-3:]}"
            )
        story.folder.mkdir(exist_ok=True)
        (story.folder / f"{name}.json").write_text(history.to_json())
        print(f"recorded {name}: {len(history.events)} events", file=sys.stderr)
        for number, child in enumerate(children, start=1):
            (story.folder / f"{name}.refund-{number}.json").write_text(child.to_json())
            print(f"recorded {name} refund-{number}: {len(child.events)} events", file=sys.stderr)


async def server(story: StagedStory) -> WorkflowEnvironment:
    """A fresh server of the story's kind, with the order's search attributes registered."""
    if not story.skips_time:
        return await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(TEMPORAL_CLI),
            data_converter=pydantic_data_converter,
            search_attributes=search.ALL,
        )
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEMPORAL_TEST_SERVER), data_converter=pydantic_data_converter
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: search.indexed_value_type(key) for key in search.ALL},
        )
    )
    return env


async def record(names: list[str]) -> None:
    """Run the named stories (all without names) and write each history as JSON.

    An order's refund workflows are written beside it as `<story>.<refund id>.json`.
    """
    known = [*STORIES, DAILY_REPORT, NEW_ORDER_DIGEST, *STAGED_STORIES]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise SystemExit(f"unknown stories: {', '.join(unknown)} (known: {', '.join(known)})")
    stories = {name: story for name, story in STORIES.items() if not names or name in names}
    staged = {name: story for name, story in STAGED_STORIES.items() if not names or name in names}
    on_dev_server = bool(stories) or not names or DAILY_REPORT in names or NEW_ORDER_DIGEST in names
    HISTORIES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as var:
        settings = Settings(
            var_dir=Path(var),
            smtp_port=free_port(),
            task_queue=f"record-{uuid.uuid4()}",
            pick_seconds=0,
            pack_seconds=0,
            carrier_transit_seconds=0,
            tracking_poll_seconds=1,
            survey_delay_days=2 * SECOND_IN_DAYS,
            feedback_window_days=3 * SECOND_IN_DAYS,
            refund_window_days=6 * SECOND_IN_DAYS,
            payment_due_days=1,
            demo_data=False,
        )
        mail = Controller(Mailbox(), hostname="127.0.0.1", port=settings.smtp_port)
        mail.start()
        engine = create_engine(settings.oms_database_url)
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        await seed_demo_catalogue(sessions)
        try:
            if on_dev_server:
                await record_on_dev_server(names, stories, settings, sessions)
            if staged:
                # The shop's own follow-up, refund and payment windows: the time-skipping server skips the days.
                shop = Settings(
                    var_dir=Path(var),
                    smtp_port=settings.smtp_port,
                    pick_seconds=0,
                    pack_seconds=0,
                    carrier_transit_seconds=0,
                    tracking_poll_seconds=1,
                    demo_data=False,
                )
                await record_staged(staged, shop, sessions)
        finally:
            await engine.dispose()
            mail.stop()


async def record_on_dev_server(
    names: list[str],
    stories: dict[str, tuple[Order, FulfilmentMode, Story]],
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The dev-server stories, the daily report and the new-order digest, as named (all without names)."""
    async with (
        await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(TEMPORAL_CLI),
            data_converter=pydantic_data_converter,
            search_attributes=search.ALL,
        ) as env,
        build_worker(env.client, settings, sessions),
    ):
        for name, (order, mode, story) in stories.items():
            await place_order(env.client, settings, sessions, order, mode)
            handle = env.client.get_workflow_handle_for(OrderWorkflow.run, workflow_id(order.order_id))
            await story(env.client, handle)
            final = await handle.result()
            history = await handle.fetch_history()
            (HISTORIES / f"{name}.json").write_text(history.to_json())
            print(f"recorded {name}: {len(history.events)} events", file=sys.stderr)
            for refund in final.refunds:
                child = await env.client.get_workflow_handle(refund.refund_id).fetch_history()
                suffix = refund.refund_id.removeprefix(f"refund-{order.order_id}") or "-1"
                (HISTORIES / f"{name}.refund{suffix}.json").write_text(child.to_json())
                print(f"recorded {name} {refund.refund_id}: {len(child.events)} events", file=sys.stderr)
        if not names or DAILY_REPORT in names:
            # The Schedule's action, started by hand: the history is the same workflow's.
            report = await env.client.start_workflow(
                DailyReportWorkflow.run,
                DailyReport(timezone=settings.timezone),
                id=f"{SCHEDULE_ID}-recorded",
                task_queue=settings.task_queue,
            )
            await report.result()
            history = await report.fetch_history()
            (HISTORIES / f"{DAILY_REPORT}.json").write_text(history.to_json())
            print(f"recorded {DAILY_REPORT}: {len(history.events)} events", file=sys.stderr)
        if not names or NEW_ORDER_DIGEST in names:
            # One order placed now, then the Schedule's action started by hand for the hour it is in.
            order = an_order(external_id="REC-DIGEST")
            await place_order(env.client, settings, sessions, order, FulfilmentMode.AUTO)
            while await orders.stored_version(sessions, order.order_id) is None:
                await asyncio.sleep(0.1)
            digest = await env.client.start_workflow(
                NewOrderDigestWorkflow.run,
                NewOrderDigest(timezone=settings.timezone, hour=datetime.now(UTC)),
                id=f"{new_order_digest.SCHEDULE_ID}-recorded",
                task_queue=settings.task_queue,
            )
            await digest.result()
            history = await digest.fetch_history()
            (HISTORIES / f"{NEW_ORDER_DIGEST}.json").write_text(history.to_json())
            print(f"recorded {NEW_ORDER_DIGEST}: {len(history.events)} events", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:]))
