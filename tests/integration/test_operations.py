"""The operations layer against the real dev server: the order view, commands and their refusals, stock receipts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from domain.commands import Command, Packed, Picked
from domain.order import FulfilmentMode
from domain.status import OrderStatus
from starter import operations
from starter.operations import CommandRefused, OrderNotFound
from store.orders import get_order
from tests.integration.conftest import Shop
from tests.sample_orders import an_order


@pytest.fixture
async def layer(shop: Shop) -> AsyncIterator[operations.Shop]:
    """The operations layer as the CLI and the console open it, on the test's shop."""
    async with operations.Shop.open(shop.settings) as opened:
        yield opened


async def read_model_says(shop: Shop, order_id: str, status: OrderStatus, timeout: float = 30.0) -> None:
    """Wait until the projection has written `status` for the order, which lists and stock receipts read."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (record := await get_order(shop.sessions, order_id)) is None or record.status != status.value:
        assert asyncio.get_running_loop().time() < deadline, f"order {order_id} never listed as {status.value}"
        await asyncio.sleep(0.1)


async def test_the_order_view_is_found_by_its_id_or_its_workflow_id(shop: Shop, layer: operations.Shop) -> None:
    order_id = await layer.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)

    view = await layer.order(f"order-{order_id}")

    assert view.order_id == order_id
    assert view.status is OrderStatus.PICKING


async def test_an_accepted_command_returns_the_orders_answer(shop: Shop, layer: operations.Shop) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)

    accepted = await layer.send(order_id, Command.PICKED, Picked(by="sam"))

    assert accepted.order_id == order_id
    assert accepted.message.startswith("picking confirmed")


async def test_a_refused_command_carries_the_workflows_reason(shop: Shop, layer: operations.Shop) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)

    with pytest.raises(CommandRefused) as refused:
        await layer.send(order_id, Command.PACKED, Packed())

    assert "packing can be confirmed only while it is packing" in str(refused.value)
    assert (refused.value.order_id, refused.value.command) == (order_id, Command.PACKED)


async def test_an_unknown_order_is_not_found_by_a_command_or_a_look(layer: operations.Shop) -> None:
    with pytest.raises(OrderNotFound) as by_command:
        await layer.send("web-nowhere", Command.PICKED, Picked())
    with pytest.raises(OrderNotFound) as by_look:
        await layer.order("order-web-nowhere")

    assert str(by_command.value) == str(by_look.value) == "order web-nowhere not found"


async def test_a_stock_receipt_is_booked_and_wakes_the_backordered_order(shop: Shop, layer: operations.Shop) -> None:
    order_id = await shop.place(an_order(lines=[("COFFEE-1KG", 2, "29.90")]))
    await read_model_says(shop, order_id, OrderStatus.BACKORDERED)

    receipt = await layer.receive_stock("coffee-1kg", 5, warehouse=None, receipt="delivery-note-77")

    assert (receipt.level.sku, receipt.level.available, receipt.woken) == ("COFFEE-1KG", 5, 1)
    view = await shop.wait_for(order_id, lambda view: view.status is not OrderStatus.BACKORDERED)
    assert not view.backordered_skus
