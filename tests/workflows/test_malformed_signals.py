"""A Signal the order cannot read is noted in its timeline as rejected, logged in one line, and the order goes on."""

from __future__ import annotations

import logging

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from domain.commands import CommandAccepted, Packed, Shipped
from domain.order import FulfilmentMode
from domain.status import OrderStatus
from domain.view import OrderView, TimelineEntry
from tests.sample_orders import an_order
from tests.workflows.conftest import Shop
from workflows.order import OrderWorkflow

Handle = WorkflowHandle[OrderWorkflow, OrderView]


def raw(data: bytes, encoding: bytes = b"json/plain") -> RawValue:
    """An input exactly as given, past the client's own encoding: what a hand-written Signal can carry."""
    return RawValue(Payload(metadata={"encoding": encoding}, data=data))


def rejections(view: OrderView) -> list[TimelineEntry]:
    return [entry for entry in view.timeline if entry.rejected]


async def picking(shop: Shop) -> Handle:
    handle = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.until(handle, lambda view: view.status is OrderStatus.PICKING)
    return handle


async def test_malformed_and_unknown_signals_are_rejected_in_the_timeline_and_the_order_goes_on(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    handle = await picking(shop)
    caplog.set_level(logging.INFO)

    await handle.signal("refund", {"reason": "x", "lines": "x"})
    await handle.signal("picked", "garbage")
    await handle.signal("feedback", {"rating": 99})
    await handle.signal("refnud", {"reason": "typo"})
    await handle.signal("packed", args=[{}, {}])
    await handle.signal("picked", raw(b"garbage"))
    await handle.signal("picked", raw(b"\x00\x01", b"binary/plain"))
    view = await shop.until(handle, lambda view: len(rejections(view)) == 7)

    assert [(entry.event, entry.detail) for entry in rejections(view)] == [
        ("refund rejected", "lines: Input should be a valid array"),
        ("picked rejected", "input: Input should be an object"),
        ("feedback rejected", "rating: Input should be less than or equal to 5"),
        ("signal rejected", view.timeline[-4].detail),
        ("packed rejected", "input: packed takes one JSON object; 2 values were sent"),
        ("picked rejected", "input: Invalid JSON: expected value at line 1 column 1"),
        ("picked rejected", "input: picked takes a JSON object; it was sent as binary/plain"),
    ]
    unknown = rejections(view)[3].detail
    assert unknown is not None
    assert unknown.startswith("no command is called 'refnud'; an order takes payment_received")
    assert view.status is OrderStatus.PICKING
    # Nothing dropped with a traceback: each rejection is one log line.
    assert not [record for record in caplog.records if record.exc_info]
    logged = [record.getMessage() for record in caplog.records if "rejected" in record.getMessage()]
    assert len(logged) == 7
    assert all("\n" not in line for line in logged)

    await handle.signal("picked", None)
    await shop.until(handle, lambda view: view.status is OrderStatus.PACKING)
    await handle.execute_update("packed", Packed(), result_type=CommandAccepted)
    await handle.execute_update("shipped", Shipped(carrier="DHL", tracking="JJD1"), result_type=CommandAccepted)
    await shop.until(handle, lambda view: view.status is OrderStatus.SHIPPED)
    await handle.signal("delivery_event", {"event": "delivered"})
    final = await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)

    assert final.status is OrderStatus.COMPLETED
    assert "picking confirmed" in [entry.event for entry in final.timeline]


async def test_a_signal_without_input_is_the_command_with_every_field_left_out(shop: Shop) -> None:
    handle = await picking(shop)

    await handle.signal("picked")
    view = await shop.until(handle, lambda view: view.status is OrderStatus.PACKING)

    assert not rejections(view)


async def test_a_malformed_update_is_refused_to_the_caller_naming_the_field_and_leaves_no_trace(shop: Shop) -> None:
    handle = await picking(shop)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("shipped", {"carrier": "DHL"}, result_type=CommandAccepted)
    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await handle.execute_update("picked", args=[{}, {}], result_type=CommandAccepted)

    view = await shop.status(handle)
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.message == f"shipped refused for order {view.order_id}: tracking: Field required"
    assert str(twice.value.cause).endswith("input: picked takes one JSON object; 2 values were sent")
    assert not rejections(view)
    assert view.status is OrderStatus.PICKING
