"""Fifty orders race for the last ten units on the dev server: ten are reserved, forty wait, none oversold."""

from __future__ import annotations

import asyncio

from domain.commands import StockArrived
from domain.money import Money
from domain.status import OrderStatus
from store.catalogue import add_product, ledger_balance, receive_stock, stock_levels
from store.orders import list_orders
from tests.integration.conftest import Shop
from tests.sample_orders import an_order

RACERS = 50
UNITS = 10


async def test_fifty_orders_racing_for_ten_units_reserve_exactly_ten_and_receiving_stock_resumes_the_rest(
    shop: Shop,
) -> None:
    await add_product(shop.sessions, "LAMP-LAST", "Last lamps", Money.of("39.00", "EUR"), stock=UNITS)
    orders = [an_order(lines=[("LAMP-LAST", 1, "39.00")]) for _ in range(RACERS)]

    order_ids = await asyncio.gather(*(shop.place(order) for order in orders))
    views = await asyncio.gather(
        *(
            shop.wait_for(
                order_id,
                lambda view: view.status in (OrderStatus.BACKORDERED, OrderStatus.COMPLETED),
                timeout=120,
                every=1.0,
            )
            for order_id in order_ids
        )
    )

    statuses = [view.status for view in views]
    assert statuses.count(OrderStatus.COMPLETED) == UNITS
    assert statuses.count(OrderStatus.BACKORDERED) == RACERS - UNITS
    (lamp,) = await stock_levels(shop.sessions, skus=["LAMP-LAST"])
    assert (lamp.available, lamp.reserved, lamp.shipped) == (0, 0, UNITS)

    await receive_stock(shop.sessions, "LAMP-LAST", RACERS - UNITS, "main", "receipt-race-1")
    backordered = await list_orders(shop.sessions, status=OrderStatus.BACKORDERED.value, limit=RACERS)
    assert len(backordered) == RACERS - UNITS
    await asyncio.gather(
        *(shop.handle(record.order_id).signal("stock_arrived", StockArrived(sku="LAMP-LAST")) for record in backordered)
    )
    await asyncio.gather(
        *(shop.wait_for(order_id, OrderStatus.COMPLETED, timeout=120, every=1.0) for order_id in order_ids)
    )

    (lamp,) = await stock_levels(shop.sessions, skus=["LAMP-LAST"])
    assert (lamp.available, lamp.reserved, lamp.shipped) == (0, 0, RACERS)
    assert all(balance.balanced for balance in (await ledger_balance(shop.sessions)).values())
