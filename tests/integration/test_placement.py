"""Placing orders on the real dev server: duplicates, bad input and the happy path's emails."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from domain.status import OrderStatus
from starter.placement import OrderAlreadyExists, OrderInputError, check_catalogue, parse_order
from store.schema import OrderRecord, PaymentRecord
from tests.integration.conftest import Shop
from tests.sample_orders import an_order
from workflows import search


async def count(shop: Shop, column: object, *where: object) -> int:
    """Rows in the table of `column` matching `where`."""
    async with shop.sessions() as session:
        return int((await session.execute(select(func.count(column)).where(*where))).scalar_one())  # type: ignore[arg-type]


async def test_placing_the_same_channel_order_twice_is_refused_and_charges_once(shop: Shop) -> None:
    order = an_order()
    order_id = await shop.place(order)

    with pytest.raises(OrderAlreadyExists, match=order_id):
        await shop.place(order)

    await shop.wait_for(order_id, OrderStatus.COMPLETED)
    runs = [run async for run in shop.client.list_workflows(f"WorkflowId = 'order-{order_id}'")]
    assert len(runs) == 1
    assert await count(shop, PaymentRecord.id, PaymentRecord.order_id == order_id) == 1


async def test_an_order_with_an_unknown_sku_starts_no_workflow_and_writes_no_row(shop: Shop) -> None:
    order = an_order(lines=[("MUG-ENAMEL", 1, "14.90"), ("NOPE-1", 1, "1.00")])

    with pytest.raises(OrderInputError, match=r"lines\[1\].sku: unknown SKU 'NOPE-1'"):
        await shop.place(order)

    runs = [run async for run in shop.client.list_workflows(f"WorkflowId = 'order-{order.order_id}'")]
    assert runs == []
    assert await count(shop, OrderRecord.order_id) == 0
    assert await count(shop, PaymentRecord.id) == 0


async def test_garbage_input_is_refused_before_anything_happens(shop: Shop) -> None:
    with pytest.raises(OrderInputError, match="invalid JSON"):
        parse_order('{"channel": "web", ')
    order = an_order()
    await check_catalogue(shop.sessions, order)
    assert await count(shop, OrderRecord.order_id) == 0


async def test_emails_carry_the_order_id_yen_without_decimals_and_the_tracking_number(shop: Shop) -> None:
    order = an_order(currency="JPY", lines=[("TOTE-CANVAS", 2, "1980")])
    order_id = await shop.place(order)
    view = await shop.wait_for(order_id, OrderStatus.COMPLETED)
    assert view.shipment is not None

    messages = await shop.mailbox.wait_for(3)

    confirmation = next(m for m in messages if "confirmed" in m["Subject"])
    shipped = next(m for m in messages if "shipped" in m["Subject"])
    assert order_id in confirmation["Subject"]
    text = confirmation.get_body(preferencelist=("plain",)).get_content()
    assert "3,960 JPY" in text
    shipped_text = shipped.get_body(preferencelist=("plain",)).get_content()
    assert view.shipment.tracking in shipped_text


async def test_engineers_find_an_order_by_its_status_and_channel_search_attributes(shop: Shop) -> None:
    order_id = await shop.place(an_order(channel="marketplace"))
    await shop.wait_for(order_id, OrderStatus.COMPLETED)

    description = await shop.handle(order_id).describe()
    assert description.typed_search_attributes.get(search.ORDER_STATUS) == "completed"
    assert description.typed_search_attributes.get(search.CHANNEL) == "marketplace"
    query = f"OrderStatus = 'completed' AND Channel = 'marketplace' AND WorkflowId = 'order-{order_id}'"
    for _ in range(50):  # the visibility store is eventually consistent
        found = [run.id async for run in shop.client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [f"order-{order_id}"]


async def test_engineers_find_orders_by_payment_method_currency_and_total(shop: Shop) -> None:
    order_id = await shop.place(an_order(method="paypal", lines=[("MUG-ENAMEL", 3, "14.90")], shipping="4.90"))
    await shop.wait_for(order_id, OrderStatus.COMPLETED)

    description = await shop.handle(order_id).describe()
    assert description.typed_search_attributes.get(search.PAYMENT_METHOD) == "paypal"
    assert description.typed_search_attributes.get(search.CURRENCY) == "EUR"
    assert description.typed_search_attributes.get(search.ORDER_TOTAL) == 49.60
    summary = await description.static_summary()
    # No customer data: summaries and details are shown in Temporal UI's list, outside the encrypted payloads.
    assert summary == f"web order {order_id.removeprefix('web-')}: 49.60 EUR, paypal"
    assert await description.static_details() == "- 3 x MUG-ENAMEL (MUG-ENAMEL) at 14.90 EUR"
    query = f"PaymentMethod = 'paypal' AND Currency = 'EUR' AND OrderTotal > 49.5 AND WorkflowId = 'order-{order_id}'"
    found: list[str] = []
    for _ in range(50):  # the visibility store is eventually consistent
        found = [run.id async for run in shop.client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [f"order-{order_id}"]
