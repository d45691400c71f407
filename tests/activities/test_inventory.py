"""Inventory activities and the catalogue against a real SQLite database: never oversold, every move once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.api import ErrorType
from activities.inventory import InventoryActivities
from domain.money import Money
from settings import Settings
from store import catalogue
from store.schema import Product, StockMovement


@pytest.fixture
def env() -> ActivityEnvironment:
    """An activity context on its first attempt; tests replace `env.info` to simulate retries."""
    return ActivityEnvironment()


@pytest.fixture
def inventory(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> InventoryActivities:
    """Inventory activities on the test's database."""
    return InventoryActivities(sessions, settings)


EUR = "EUR"


async def stock_up(sessions: async_sessionmaker[AsyncSession], **units: int) -> None:
    """Put products with these SKUs (keyword = SKU) and units into warehouse `main`."""
    for sku, stock in units.items():
        await catalogue.add_product(sessions, sku, f"Product {sku}", Money.of("10.00", EUR), stock=stock)


def order(order_id: str, **lines: int) -> api.ReserveStock:
    """A reservation request for `order_id` with one line per keyword (SKU=units)."""
    return api.ReserveStock(
        order_id=order_id,
        warehouse="main",
        lines=[api.StockLine(sku=sku, quantity=quantity) for sku, quantity in lines.items()],
    )


async def level(sessions: async_sessionmaker[AsyncSession], sku: str) -> catalogue.StockCount:
    """The stock of `sku` in warehouse `main`."""
    (count,) = await catalogue.stock_levels(sessions, warehouse="main", skus=[sku])
    return count


async def ledger_adds_up(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Every SKU's ledger explains its stock level."""
    balances = await catalogue.ledger_balance(sessions)
    return all(balance.balanced and balance.explains_levels for balance in balances.values())


async def movements(sessions: async_sessionmaker[AsyncSession], order_id: str) -> list[tuple[str, str, int]]:
    """The order's ledger rows as (kind, SKU, units)."""
    async with sessions() as session:
        rows = await session.scalars(
            select(StockMovement).where(StockMovement.order_id == order_id).order_by(StockMovement.id)
        )
        return [(row.kind, row.sku, row.quantity) for row in rows]


# --- reserve --------------------------------------------------------------------------------------------------


async def test_reserving_an_order_sets_its_units_aside(
    env: ActivityEnvironment, inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await stock_up(sessions, MUG=5, TEE=5)

    reservation = await env.run(inventory.reserve_stock, order("web-1", MUG=2, TEE=1))

    assert reservation == api.Reservation(reserved=True)
    assert (await level(sessions, "MUG")).available == 3
    assert (await level(sessions, "MUG")).reserved == 2
    assert await movements(sessions, "web-1") == [("reserve", "MUG", 2), ("reserve", "TEE", 1)]
    assert await catalogue.reservation_status(sessions, "web-1") == "reserved"


async def test_reserve_is_all_or_nothing(
    env: ActivityEnvironment, inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await stock_up(sessions, MUG=5, TEE=1)

    reservation = await env.run(inventory.reserve_stock, order("web-2", MUG=2, TEE=3))

    assert reservation == api.Reservation(reserved=False, short_skus=["TEE"])
    assert (await level(sessions, "MUG")).available == 5
    assert (await level(sessions, "MUG")).reserved == 0
    assert await movements(sessions, "web-2") == []
    assert await catalogue.reservation_status(sessions, "web-2") is None


async def test_a_short_reservation_names_every_short_sku(
    env: ActivityEnvironment, inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await stock_up(sessions, MUG=1, TEE=0, CAP=9)

    reservation = await env.run(inventory.reserve_stock, order("web-3", TEE=1, MUG=2, CAP=1))

    assert reservation.short_skus == ["MUG", "TEE"]


async def test_reserving_again_moves_no_stock(
    env: ActivityEnvironment, inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await stock_up(sessions, MUG=5)
    await env.run(inventory.reserve_stock, order("web-4", MUG=2))

    again = await env.run(inventory.reserve_stock, order("web-4", MUG=2))

    assert again == api.Reservation(reserved=True)
    assert (await level(sessions, "MUG")).available == 3
    assert await movements(sessions, "web-4") == [("reserve", "MUG", 2)]


async def test_attempts_racing_to_reserve_the_same_order_reserve_once(
    env: ActivityEnvironment, inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await stock_up(sessions, MUG=10)

    results = await asyncio.gather(*(env.run(inventory.reserve_stock, order("web-5", MUG=3)) for _ in range(6)))

    assert all(result.reserved for result in results)
    assert (await level(sessions, "MUG")).available == 7


async def test_fifty_orders_racing_for_ten_units_reserve_exactly_ten(
    env: ActivityEnvironment, inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await stock_up(sessions, LAST=10)
    lowest_seen: list[int] = []
    racing = True

    async def watch_stock() -> None:
        while racing:
            lowest_seen.append((await level(sessions, "LAST")).available)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch_stock())
    results = await asyncio.gather(
        *(env.run(inventory.reserve_stock, order(f"web-race-{n}", LAST=1)) for n in range(50))
    )
    racing = False
    await watcher

    assert sum(result.reserved for result in results) == 10
    assert sum(result.short_skus == ["LAST"] for result in results) == 40
    final = await level(sessions, "LAST")
    assert (final.available, final.reserved) == (0, 10)
    assert min(lowest_seen, default=0) >= 0
    assert await ledger_adds_up(sessions)


async def test_an_unknown_sku_is_a_non_retryable_unknown_sku_error(
    env: ActivityEnvironment, inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await stock_up(sessions, MUG=5)

    with pytest.raises(ApplicationError) as unknown:
        await env.run(inventory.reserve_stock, order("web-6", MUG=1, GHOST=1))

    assert unknown.value.type == ErrorType.UNKNOWN_SKU
    assert unknown.value.non_retryable
    assert "GHOST" in unknown.value.message
    assert "web-6" in unknown.value.message
    assert (await level(sessions, "MUG")).available == 5


async def test_an_order_with_no_lines_is_refused_without_retrying(
    env: ActivityEnvironment, inventory: InventoryActivities
) -> None:
    with pytest.raises(ApplicationError) as refused:
        await env.run(inventory.reserve_stock, api.ReserveStock(order_id="web-empty", warehouse="main", lines=[]))

    assert refused.value.non_retryable
    assert "lines" in refused.value.message


async def test_an_order_waiting_for_stock_reserves_once_it_is_received(
    env: ActivityEnvironment, inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await stock_up(sessions, MUG=0)
    short = await env.run(inventory.reserve_stock, order("web-7", MUG=2))
    await catalogue.receive_stock(sessions, "MUG", 2, "main", "receipt-1")

    reservation = await env.run(inventory.reserve_stock, order("web-7", MUG=2))

    assert (short.reserved, reservation.reserved) == (False, True)
    assert await ledger_adds_up(sessions)


# --- release and ship -----------------------------------------------------------------------------------------


async def test_release_returns_units_once(
    env: ActivityEnvironment, inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await stock_up(sessions, MUG=5)
    await env.run(inventory.reserve_stock, order("web-8", MUG=2))

    first = await env.run(inventory.release_stock, api.StockRelease(order_id="web-8"))
    second = await env.run(inventory.release_stock, api.StockRelease(order_id="web-8"))

    assert (first.units, second.units) == (2, 0)
    count = await level(sessions, "MUG")
    assert (count.available, count.reserved) == (5, 0)
    assert await catalogue.reservation_status(sessions, "web-8") == "released"
    assert await ledger_adds_up(sessions)


async def test_releasing_an_order_that_reserved_nothing_moves_nothing(
    env: ActivityEnvironment, inventory: InventoryActivities
) -> None:
    released = await env.run(inventory.release_stock, api.StockRelease(order_id="web-never"))

    assert released.units == 0


async def test_shipping_moves_reserved_to_shipped(
    env: ActivityEnvironment, inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await stock_up(sessions, MUG=5)
    await env.run(inventory.reserve_stock, order("web-9", MUG=2))

    shipped = await env.run(inventory.ship_stock, api.StockRelease(order_id="web-9"))

    assert shipped.units == 2
    count = await level(sessions, "MUG")
    assert (count.available, count.reserved, count.shipped) == (3, 0, 2)
    assert await movements(sessions, "web-9") == [("reserve", "MUG", 2), ("ship", "MUG", 2)]
    assert await ledger_adds_up(sessions)


async def test_shipping_twice_moves_the_units_once(
    env: ActivityEnvironment, inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await stock_up(sessions, MUG=5)
    await env.run(inventory.reserve_stock, order("web-10", MUG=2))
    await env.run(inventory.ship_stock, api.StockRelease(order_id="web-10"))

    again = await env.run(inventory.ship_stock, api.StockRelease(order_id="web-10"))

    assert again.units == 0
    assert (await level(sessions, "MUG")).shipped == 2


async def test_a_shipped_order_is_not_reserved_or_released_again(
    env: ActivityEnvironment, inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await stock_up(sessions, MUG=5)
    await env.run(inventory.reserve_stock, order("web-11", MUG=2))
    await env.run(inventory.ship_stock, api.StockRelease(order_id="web-11"))

    reserved = await env.run(inventory.reserve_stock, order("web-11", MUG=2))
    released = await env.run(inventory.release_stock, api.StockRelease(order_id="web-11"))

    assert (reserved.reserved, released.units) == (True, 0)
    count = await level(sessions, "MUG")
    assert (count.available, count.reserved, count.shipped) == (3, 0, 2)


async def test_shipping_an_order_that_reserved_nothing_is_a_nothing_reserved_error(
    env: ActivityEnvironment, inventory: InventoryActivities
) -> None:
    with pytest.raises(ApplicationError) as nothing:
        await env.run(inventory.ship_stock, api.StockRelease(order_id="web-12"))

    assert nothing.value.type == ErrorType.NOTHING_RESERVED
    assert nothing.value.non_retryable
    assert "web-12" in nothing.value.message


async def test_a_released_reservation_cannot_be_shipped(
    env: ActivityEnvironment, inventory: InventoryActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await stock_up(sessions, MUG=5)
    await env.run(inventory.reserve_stock, order("web-13", MUG=2))
    await env.run(inventory.release_stock, api.StockRelease(order_id="web-13"))

    with pytest.raises(ApplicationError) as nothing:
        await env.run(inventory.ship_stock, api.StockRelease(order_id="web-13"))

    assert nothing.value.type == ErrorType.NOTHING_RESERVED
    assert (await level(sessions, "MUG")).available == 5


# --- receiving stock ------------------------------------------------------------------------------------------


async def test_receiving_stock_adds_to_available(sessions: async_sessionmaker[AsyncSession]) -> None:
    await stock_up(sessions, MUG=1)

    count = await catalogue.receive_stock(sessions, "MUG", 12, "main", "receipt-2")

    assert (count.available, count.reserved, count.shipped) == (13, 0, 0)
    assert await ledger_adds_up(sessions)


async def test_the_same_receipt_booked_twice_adds_stock_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    await stock_up(sessions, MUG=1)
    await catalogue.receive_stock(sessions, "MUG", 12, "main", "receipt-3")

    again = await catalogue.receive_stock(sessions, "MUG", 12, "main", "receipt-3")

    assert again.available == 13
    assert (await catalogue.ledger_balance(sessions))[("MUG", "main")].received == 12


async def test_receiving_stock_into_a_new_warehouse_opens_its_stock_level(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await stock_up(sessions, MUG=1)

    count = await catalogue.receive_stock(sessions, "mug", 4, "berlin", "receipt-4")

    assert (count.sku, count.warehouse, count.available) == ("MUG", "berlin", 4)
    assert await ledger_adds_up(sessions)


async def test_receiving_stock_for_an_unknown_sku_is_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(catalogue.UnknownSku, match="GHOST"):
        await catalogue.receive_stock(sessions, "GHOST", 3, "main", "receipt-5")

    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(StockMovement)) == 0


async def test_receiving_no_units_is_refused_naming_the_quantity(sessions: async_sessionmaker[AsyncSession]) -> None:
    await stock_up(sessions, MUG=1)

    with pytest.raises(ValueError, match="quantity"):
        await catalogue.receive_stock(sessions, "MUG", 0, "main", "receipt-6")


# --- catalogue ------------------------------------------------------------------------------------------------


async def test_demo_catalogue_is_seeded_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    first = await catalogue.seed_demo_catalogue(sessions)
    second = await catalogue.seed_demo_catalogue(sessions)

    assert (first, second) == (len(catalogue.DEMO_CATALOGUE), 0)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Product)) == len(catalogue.DEMO_CATALOGUE)
    assert await ledger_adds_up(sessions)


async def test_the_demo_catalogue_shows_low_and_sold_out_stock(sessions: async_sessionmaker[AsyncSession]) -> None:
    await catalogue.seed_demo_catalogue(sessions)

    levels = await catalogue.stock_levels(sessions, warehouse="main")

    assert len(levels) == len(catalogue.DEMO_CATALOGUE) >= 8
    assert any(count.sold_out for count in levels)
    assert any(0 < count.available <= 3 for count in levels)
    assert all(item.price.currency == EUR for item in await catalogue.list_products(sessions))


async def test_a_seeded_catalogue_is_left_alone(sessions: async_sessionmaker[AsyncSession]) -> None:
    await stock_up(sessions, OWN=7)

    added = await catalogue.seed_demo_catalogue(sessions)

    assert added == 0
    assert [item.sku for item in await catalogue.list_products(sessions)] == ["OWN"]


async def test_adding_a_sku_twice_is_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    await stock_up(sessions, MUG=1)

    with pytest.raises(catalogue.ProductExists, match="MUG"):
        await catalogue.add_product(sessions, "mug", "Another mug", Money.of("5.00", EUR))


async def test_an_order_can_be_checked_for_skus_the_catalogue_lacks(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await stock_up(sessions, MUG=1)

    assert await catalogue.unknown_skus(sessions, ["MUG", "GHOST", "PHANTOM"]) == ["GHOST", "PHANTOM"]


def test_the_activities_register_under_the_contracts_names(inventory: InventoryActivities) -> None:
    names = [handler.__temporal_activity_definition.name for handler in inventory.handlers()]  # type: ignore[attr-defined]

    assert names == [
        api.RESERVE_STOCK.name,
        api.RESERVE_ORDER_STOCK.name,
        api.RELEASE_STOCK.name,
        api.SHIP_STOCK.name,
        api.RETURN_STOCK.name,
    ]
