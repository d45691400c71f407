"""Record the histories that `test_replay` replays: real orders run to their end on the dev server.

Run with `make histories` after a deliberate workflow change; commit the JSON files it writes.
Follow-up and refund windows are shortened to seconds so every recorded order closes.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.commands import CommandAccepted, Packed, Picked, Shipped
from domain.order import FulfilmentMode, Order
from domain.refund import Cancel, Refund, RefundItem, RefundPaidOut, RefundState
from domain.status import OrderStatus
from domain.view import OrderView
from settings import Settings
from starter.placement import place_order
from store import migrate, orders
from store.catalogue import seed_demo_catalogue
from store.db import create_engine, session_factory
from tests.conftest import TEMPORAL_CLI, Mailbox, free_port
from tests.sample_orders import CARD_DECLINES, an_order
from worker import build_worker
from workflows import new_order_digest, search
from workflows.daily_report import SCHEDULE_ID, DailyReport, DailyReportWorkflow
from workflows.new_order_digest import NewOrderDigest, NewOrderDigestWorkflow
from workflows.order import STATUS_QUERY, OrderWorkflow, workflow_id

HISTORIES = Path(__file__).parent.parent / "histories"
SECOND_IN_DAYS = 1 / 86_400
DAILY_REPORT = "daily_report"
NEW_ORDER_DIGEST = "new_order_digest"

Story = Callable[[Client, WorkflowHandle[OrderWorkflow, OrderView]], Awaitable[None]]


async def until(handle: WorkflowHandle[OrderWorkflow, OrderView], done: Callable[[OrderView], bool]) -> None:
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


async def record(names: list[str]) -> None:
    """Run the named stories (all without names) on a fresh dev server and write each history as JSON.

    An order's refund workflows are written beside it as `<story>.<refund id>.json`.
    """
    known = [*STORIES, DAILY_REPORT, NEW_ORDER_DIGEST]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise SystemExit(f"unknown stories: {', '.join(unknown)} (known: {', '.join(known)})")
    stories = {name: story for name, story in STORIES.items() if not names or name in names}
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
        finally:
            await engine.dispose()
            mail.stop()


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:]))
