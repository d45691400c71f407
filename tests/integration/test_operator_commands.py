"""An operator drives manual-mode orders on the real dev server, by Signal (as Temporal UI and the `temporal` CLI
send them) and by Update (as `oms` sends them)."""

from __future__ import annotations

import asyncio
import json

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError

from domain.commands import CommandAccepted, Packed, Picked, Shipped
from domain.order import FulfilmentMode
from domain.status import OrderStatus
from tests.conftest import TEMPORAL_CLI
from tests.integration.conftest import Shop
from tests.sample_orders import an_order


async def temporal_signal(shop: Shop, order_id: str, name: str, payload: object) -> None:
    """Send a Signal with the `temporal workflow signal` command, exactly as an engineer would; a `str` is sent as
    the command line's input text, as typed."""
    process = await asyncio.create_subprocess_exec(
        str(TEMPORAL_CLI),
        "workflow",
        "signal",
        "--address",
        shop.settings.temporal_address,
        "--workflow-id",
        f"order-{order_id}",
        "--name",
        name,
        "--input",
        payload if isinstance(payload, str) else json.dumps(payload),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, (out + err).decode()


async def test_a_manual_order_is_driven_to_completed_by_signals(shop: Shop) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)

    await temporal_signal(shop, order_id, "picked", {"by": "sam"})
    await shop.wait_for(order_id, OrderStatus.PACKING)
    await temporal_signal(shop, order_id, "packed", {})
    await shop.wait_for(order_id, lambda view: any(entry.event == "pack done" for entry in view.timeline))
    await temporal_signal(shop, order_id, "shipped", {"carrier": "DHL", "tracking": "JJD000390007"})
    await shop.wait_for(order_id, OrderStatus.SHIPPED)
    await temporal_signal(shop, order_id, "delivery_event", {"event": "delivered"})

    view = await shop.wait_for(order_id, OrderStatus.COMPLETED)
    assert view.shipment is not None
    assert view.shipment.tracking == "JJD000390007"
    assert not any(entry.rejected for entry in view.timeline)


async def test_a_manual_order_is_driven_to_completed_by_updates(shop: Shop) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    handle = shop.handle(order_id)
    await shop.wait_for(order_id, OrderStatus.PICKING)

    picked = await handle.execute_update("picked", Picked(by="sam"), result_type=CommandAccepted)
    assert picked.message.startswith("picking confirmed")
    await shop.wait_for(order_id, OrderStatus.PACKING)
    await handle.execute_update("packed", Packed(), result_type=CommandAccepted)
    await shop.wait_for(order_id, lambda view: any(entry.event == "pack done" for entry in view.timeline))
    shipped = await handle.execute_update(
        "shipped", Shipped(carrier="UPS", tracking="1Z999AA10123456784"), result_type=CommandAccepted
    )
    assert "1Z999AA10123456784" in shipped.message
    await shop.wait_for(order_id, OrderStatus.SHIPPED)
    await handle.execute_update("complete", {"note": "handed over at the counter"}, result_type=CommandAccepted)

    view = await shop.wait_for(order_id, OrderStatus.COMPLETED)
    assert view.timeline[-1].detail == "handed over at the counter" or any(
        entry.detail == "handed over at the counter" for entry in view.timeline
    )


async def test_a_refused_update_returns_the_reason_and_changes_nothing(shop: Shop) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    handle = shop.handle(order_id)
    before = await shop.wait_for(order_id, OrderStatus.PICKING)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("packed", Packed(), result_type=CommandAccepted)

    assert "packing can be confirmed only while it is packing" in str(refused.value.cause)
    after = await shop.status(order_id)
    assert after.status is OrderStatus.PICKING
    assert after.timeline == before.timeline
    history = [event async for event in handle.fetch_history_events()]
    assert not any(
        event.event_type
        in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        )
        for event in history
    )


async def test_the_same_command_as_a_signal_is_recorded_as_rejected_in_the_timeline(shop: Shop) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)

    await temporal_signal(shop, order_id, "packed", {})

    view = await shop.wait_for(order_id, lambda view: any(entry.rejected for entry in view.timeline))
    rejected = [entry for entry in view.timeline if entry.rejected]
    assert len(rejected) == 1
    assert rejected[0].event == "packed rejected"
    assert rejected[0].detail is not None
    assert "only while it is packing" in rejected[0].detail
    assert view.status is OrderStatus.PICKING


async def test_malformed_signals_from_the_temporal_cli_are_rejected_in_the_timeline_and_the_order_goes_on(
    shop: Shop,
) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)

    await temporal_signal(shop, order_id, "refund", '{"reason": "broken", "lines": "x"}')
    await temporal_signal(shop, order_id, "picked", '"garbage"')
    await temporal_signal(shop, order_id, "feedback", '{"rating": 99}')
    await temporal_signal(shop, order_id, "pikced", "{}")
    view = await shop.wait_for(order_id, lambda view: sum(entry.rejected for entry in view.timeline) == 4)

    assert [(entry.event, (entry.detail or "").split(";")[0]) for entry in view.timeline if entry.rejected] == [
        ("refund rejected", "lines: Input should be a valid array"),
        ("picked rejected", "input: Input should be an object"),
        ("feedback rejected", "rating: Input should be less than or equal to 5"),
        ("signal rejected", "no command is called 'pikced'"),
    ]
    await temporal_signal(shop, order_id, "picked", "null")
    await shop.wait_for(order_id, OrderStatus.PACKING)


async def test_an_auto_mode_order_refuses_manual_warehouse_confirmations(shop: Shop) -> None:
    order_id = await shop.place(an_order(method="bank_transfer"))
    await shop.wait_for(order_id, OrderStatus.AWAITING_PAYMENT)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await shop.handle(order_id).execute_update("picked", Picked(), result_type=CommandAccepted)

    assert "auto mode" in str(refused.value.cause)
