"""The operator's order lists from the read model: Pending, Completed and Cancelled, newest first, filtered."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.order import Channel
from domain.status import OrderStatus
from store import orders
from store.orders import OrderFilter
from tests.activities.fixtures_views import placed_order, shipped_with, view_of

# (external id, channel, status, placed on day of November 2026, customer, tracking)
SHOP = [
    ("1", Channel.WEB, OrderStatus.COMPLETED, 1, "Ada Lovelace", "SBX100"),
    ("2", Channel.WEB, OrderStatus.PICKING, 2, "Alan Turing", None),
    ("3", Channel.MARKETPLACE, OrderStatus.REFUNDED, 3, "Grace Hopper", "SBX300"),
    ("4", Channel.WEB, OrderStatus.BACKORDERED, 4, "Grace 100% Hopper", None),
    ("5", Channel.MARKETPLACE, OrderStatus.COMPLETED, 5, "Edsger Dijkstra", "SBX500"),
]


@pytest.fixture
async def shop(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Five orders in the read model, one placed each day from 1 November 2026."""
    for external_id, channel, status, day, name, tracking in SHOP:
        order = placed_order(
            external_id=external_id,
            customer_name=name,
            customer_email=f"{name.split()[0].lower()}@example.com",
        ).model_copy(update={"channel": channel})
        view = view_of(
            order,
            status=status,
            placed_at=datetime(2026, 11, day, 10, tzinfo=UTC),
            shipment=shipped_with("sandbox-post", tracking) if tracking else None,
        )
        await orders.project(sessions, view)
    return sessions


def ids(records: list[orders.OrderRecord]) -> list[str]:
    return [record.order_id for record in records]


async def test_orders_are_listed_newest_first(shop: async_sessionmaker[AsyncSession]) -> None:
    listed = await orders.list_orders(shop)

    assert ids(listed) == ["marketplace-5", "web-4", "marketplace-3", "web-2", "web-1"]


async def test_each_operator_list_shows_its_orders_and_every_list_is_counted(
    shop: async_sessionmaker[AsyncSession],
) -> None:
    pending = await orders.list_orders(shop, where=OrderFilter(operator_list="pending"))

    assert ids(pending) == ["web-4", "web-2"]
    assert await orders.count_by_list(shop) == {"pending": 2, "completed": 2, "cancelled": 1}


async def test_one_status_channel_and_start_date_narrow_the_list(shop: async_sessionmaker[AsyncSession]) -> None:
    assert ids(await orders.list_orders(shop, where=OrderFilter(status="backordered"))) == ["web-4"]
    assert ids(await orders.list_orders(shop, where=OrderFilter(channel="marketplace"))) == [
        "marketplace-5",
        "marketplace-3",
    ]
    since = datetime(2026, 11, 4, tzinfo=UTC)
    assert ids(await orders.list_orders(shop, where=OrderFilter(since=since))) == ["marketplace-5", "web-4"]


async def test_the_counts_follow_every_filter_but_the_list_itself(shop: async_sessionmaker[AsyncSession]) -> None:
    marketplace = OrderFilter(operator_list="completed", channel="marketplace")

    assert await orders.count_by_list(shop, marketplace) == {"pending": 0, "completed": 1, "cancelled": 1}
    assert await orders.count_orders(shop, marketplace) == 1


async def test_search_finds_a_name_an_email_an_order_id_or_a_tracking_number(
    shop: async_sessionmaker[AsyncSession],
) -> None:
    async def found(text: str) -> list[str]:
        return ids(await orders.list_orders(shop, where=OrderFilter(search=text)))

    assert await found("grace") == ["web-4", "marketplace-3"]
    assert await found("EDSGER@") == ["marketplace-5"]
    assert await found("web-2") == ["web-2"]
    assert await found("sbx3") == ["marketplace-3"]


async def test_search_text_is_matched_literally(shop: async_sessionmaker[AsyncSession]) -> None:
    found = await orders.list_orders(shop, where=OrderFilter(search="100%"))

    assert ids(found) == ["web-4"]  # not SBX100: % is not a wildcard


async def test_the_limit_keeps_the_newest(shop: async_sessionmaker[AsyncSession]) -> None:
    assert ids(await orders.list_orders(shop, limit=2)) == ["marketplace-5", "web-4"]
