"""Returning a refund's stock against a real SQLite database: released or restocked once, never more than shipped."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.inventory import InventoryActivities
from domain.money import Money
from settings import Settings
from store import catalogue
from store.schema import StockMovement


@pytest.fixture
def inventory(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> InventoryActivities:
    """Inventory activities on the test's database."""
    return InventoryActivities(sessions, settings)


async def reserved(sessions: async_sessionmaker[AsyncSession], order_id: str, **lines: int) -> None:
    """Products MUG and TEE with 10 units each (once), and `lines` (SKU=units) reserved for the order."""
    for sku in ("MUG", "TEE"):
        if not await catalogue.stock_levels(sessions, skus=[sku]):
            await catalogue.add_product(sessions, sku, f"Product {sku}", Money.of("10.00", "EUR"), stock=10)
    await catalogue.reserve_stock(sessions, order_id, "main", lines)


async def shipped(sessions: async_sessionmaker[AsyncSession], order_id: str, **lines: int) -> None:
    """`lines` reserved for the order and handed to the carrier."""
    await reserved(sessions, order_id, **lines)
    await catalogue.ship_reservation(sessions, order_id)


def returning(order_id: str, refund_id: str, *damaged: str, **lines: int) -> api.ReturnStock:
    """A refund's goods coming back: SKU=units, the SKUs in `damaged` not to be restocked."""
    return api.ReturnStock(
        order_id=order_id,
        refund_id=refund_id,
        lines=[
            api.StockReturnLine(sku=sku, quantity=units, restock=sku not in damaged) for sku, units in lines.items()
        ],
    )


async def run(inventory: InventoryActivities, request: api.ReturnStock) -> api.StockReturned:
    """Run the return-stock activity once."""
    return await ActivityEnvironment().run(inventory.return_stock, request)


async def level(sessions: async_sessionmaker[AsyncSession], sku: str) -> tuple[int, int, int]:
    """(available, reserved, shipped) of `sku` in warehouse `main`."""
    (count,) = await catalogue.stock_levels(sessions, warehouse="main", skus=[sku])
    return count.available, count.reserved, count.shipped


async def ledger_adds_up(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Every SKU's ledger explains its stock level, restocks included."""
    balances = await catalogue.ledger_balance(sessions)
    return all(balance.balanced and balance.explains_levels for balance in balances.values())


async def movements(sessions: async_sessionmaker[AsyncSession], order_id: str) -> list[tuple[str, str, str, int]]:
    """The order's ledger rows as (key, kind, SKU, units)."""
    async with sessions() as session:
        rows = await session.scalars(
            select(StockMovement).where(StockMovement.order_id == order_id).order_by(StockMovement.id)
        )
        return [(row.idempotency_key, row.kind, row.sku, row.quantity) for row in rows]


async def test_a_cancellation_before_shipment_releases_the_whole_reservation(
    inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await reserved(sessions, "web-3001", MUG=2, TEE=1)

    returned = await run(inventory, returning("web-3001", "refund-web-3001-1", MUG=2, TEE=1))

    assert returned == api.StockReturned(released=3, restocked=0, written_off=0)
    assert await level(sessions, "MUG") == (10, 0, 0)
    assert await catalogue.reservation_status(sessions, "web-3001") == "released"
    assert [(kind, sku, units) for _, kind, sku, units in await movements(sessions, "web-3001")][-2:] == [
        ("release", "MUG", 2),
        ("release", "TEE", 1),
    ]
    assert await ledger_adds_up(sessions)


async def test_a_refund_after_shipment_restocks_the_shipped_units(
    inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await shipped(sessions, "web-3002", MUG=3)

    returned = await run(inventory, returning("web-3002", "refund-web-3002-1", MUG=2))

    assert returned == api.StockReturned(released=0, restocked=2, written_off=0)
    assert await level(sessions, "MUG") == (9, 0, 3)
    assert (await movements(sessions, "web-3002"))[-1] == ("refund-web-3002-1:restock:MUG", "restock", "MUG", 2)
    assert await ledger_adds_up(sessions)


async def test_damaged_goods_are_written_off_and_stay_counted_as_shipped(
    inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await shipped(sessions, "web-3003", MUG=2, TEE=1)

    returned = await run(inventory, returning("web-3003", "refund-web-3003-1", "TEE", MUG=2, TEE=1))

    assert returned == api.StockReturned(released=0, restocked=2, written_off=1)
    assert await level(sessions, "TEE") == (9, 0, 1)
    assert [kind for _, kind, sku, _ in await movements(sessions, "web-3003") if sku == "TEE"] == ["reserve", "ship"]
    assert await ledger_adds_up(sessions)


async def test_a_return_retried_after_success_moves_nothing_and_reports_the_same_counts(
    inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await shipped(sessions, "web-3004", MUG=2, TEE=1)
    request = returning("web-3004", "refund-web-3004-1", "TEE", MUG=2, TEE=1)
    first = await run(inventory, request)

    again = await run(inventory, request)

    assert again == first == api.StockReturned(released=0, restocked=2, written_off=1)
    assert await level(sessions, "MUG") == (10, 0, 2)
    assert await ledger_adds_up(sessions)


async def test_a_release_retried_after_success_reports_the_same_released_units(
    inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await reserved(sessions, "web-3005", MUG=2)
    request = returning("web-3005", "refund-web-3005-1", MUG=2)
    first = await run(inventory, request)

    again = await run(inventory, request)

    assert again == first == api.StockReturned(released=2)
    assert await level(sessions, "MUG") == (10, 0, 0)


async def test_a_later_refund_does_not_claim_an_earlier_refunds_release(
    inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await reserved(sessions, "web-3006", MUG=2, TEE=1)
    await run(inventory, returning("web-3006", "refund-web-3006-1", MUG=2))

    later = await run(inventory, returning("web-3006", "refund-web-3006-2", TEE=1))

    assert later == api.StockReturned(released=0, restocked=0, written_off=0)
    assert await level(sessions, "TEE") == (10, 0, 0)


async def test_partial_refunds_never_restock_more_than_was_shipped(
    inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await shipped(sessions, "web-3007", MUG=3)

    first = await run(inventory, returning("web-3007", "refund-web-3007-1", MUG=2))
    second = await run(inventory, returning("web-3007", "refund-web-3007-2", MUG=2))
    third = await run(inventory, returning("web-3007", "refund-web-3007-3", MUG=1))

    assert [r.restocked for r in (first, second, third)] == [2, 1, 0]
    assert await level(sessions, "MUG") == (10, 0, 3)
    assert (await catalogue.ledger_balance(sessions))[("MUG", "main")].restocked == 3
    assert await ledger_adds_up(sessions)


async def test_racing_refunds_of_one_order_restock_at_most_what_was_shipped(
    inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await shipped(sessions, "web-3008", MUG=3)

    results = await asyncio.gather(
        *(run(inventory, returning("web-3008", f"refund-web-3008-{n}", MUG=2)) for n in range(6))
    )

    assert sum(result.restocked for result in results) == 3
    assert await level(sessions, "MUG") == (10, 0, 3)
    assert await ledger_adds_up(sessions)


async def test_restocking_a_sku_the_order_never_shipped_puts_nothing_back(
    inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await shipped(sessions, "web-3009", MUG=1)

    returned = await run(inventory, returning("web-3009", "refund-web-3009-1", TEE=1))

    assert returned == api.StockReturned()
    assert await level(sessions, "TEE") == (10, 0, 0)


async def test_an_order_that_never_reserved_stock_returns_nothing(inventory: InventoryActivities) -> None:
    returned = await run(inventory, returning("web-3010", "refund-web-3010-1", "MUG", MUG=2))

    assert returned == api.StockReturned()


def test_the_inventory_activities_include_return_stock(inventory: InventoryActivities) -> None:
    names = [handler.__temporal_activity_definition.name for handler in inventory.handlers()]  # type: ignore[attr-defined]

    assert names[-1] == api.RETURN_STOCK.name


async def test_a_reservation_still_in_flight_when_its_order_was_cancelled_is_refused_and_holds_nothing(
    inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await catalogue.add_product(sessions, "LAMP", "Lamp", Money.of("30.00", "EUR"), stock=5)

    # The cancellation's refund returns stock before the stopped order's reservation attempt reaches the database.
    returned = await run(inventory, returning("web-9", "refund-web-9", LAMP=1))

    assert returned == api.StockReturned()
    with pytest.raises(catalogue.NoOpenReservation):
        await catalogue.reserve_stock(sessions, "web-9", "main", {"LAMP": 1})
    assert await level(sessions, "LAMP") == (5, 0, 0)
