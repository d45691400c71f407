"""A step's own writes: the order's view over the one its transaction read, and its emails, one statement each."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.status import OrderStatus
from domain.view import OrderView, TimelineEntry
from store import notifications, orders
from store.schema import Notification, OrderStatusChange
from store.transaction import one_transaction
from tests.activities.fixtures_views import PLACED_AT, placed_order, view_of
from tests.conftest import POSTGRESQL, SQLITE

pytestmark = pytest.mark.parametrize("backend", [SQLITE, POSTGRESQL], indirect=True)


def moved(*statuses: OrderStatus, version: int) -> OrderView:
    """The order's view at `version`, having entered `statuses` in turn (the last is its status)."""
    view = view_of(placed_order(), status=statuses[-1], version=version)
    view.timeline = [
        TimelineEntry(at=PLACED_AT + timedelta(minutes=seq), event=status.value, status=status)
        for seq, status in enumerate(statuses)
    ]
    return view


async def status_changes(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[int, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(OrderStatusChange.seq, OrderStatusChange.status).order_by(OrderStatusChange.seq)
        )
        return [(seq, status) for seq, status in rows]


async def write(sessions: async_sessionmaker[AsyncSession], view: OrderView) -> int:
    """A step's write: read the stored view and write over it, in one transaction."""
    async with one_transaction(sessions) as shared:
        stored = await orders.stored_view(shared, view.order_id)
        return await orders.write_over(shared, view, stored)


async def test_a_step_adds_only_the_status_changes_after_the_stored_ones(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await write(sessions, moved(OrderStatus.RECEIVED, OrderStatus.PAID, version=2))

    held = await write(sessions, moved(OrderStatus.RECEIVED, OrderStatus.PAID, OrderStatus.PICKING, version=3))

    assert held == 3
    assert await status_changes(sessions) == [(0, "received"), (1, "paid"), (2, "picking")]
    assert await orders.stored_view(sessions, "web-1001") == moved(
        OrderStatus.RECEIVED, OrderStatus.PAID, OrderStatus.PICKING, version=3
    )


async def test_a_retried_step_writes_nothing_over_its_own_committed_view(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    view = moved(OrderStatus.RECEIVED, OrderStatus.PAID, version=2)
    await write(sessions, view)

    assert await write(sessions, view) == 2
    assert await status_changes(sessions) == [(0, "received"), (1, "paid")]


async def test_a_retried_steps_outcome_replaces_the_one_its_killed_attempt_committed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # The first attempt polled the carrier (in transit) and committed; its worker died before it answered. The retry
    # finds the parcel delivered, and the workflow goes on with that answer.
    await write(sessions, moved(OrderStatus.RECEIVED, OrderStatus.SHIPPED, version=10))
    async with one_transaction(sessions) as shared:
        stored = await orders.stored_view(shared, "web-1001")
        await orders.write_over(shared, moved(OrderStatus.RECEIVED, OrderStatus.SHIPPED, version=11), stored)
    retried = moved(OrderStatus.RECEIVED, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED, version=11)

    async with one_transaction(sessions) as shared:
        stored = await orders.stored_view(shared, "web-1001")
        held = await orders.write_over(shared, retried, stored, retake=True)

    assert held == 11
    assert await orders.stored_view(sessions, "web-1001") == retried
    assert await status_changes(sessions) == [(0, "received"), (1, "shipped"), (2, "delivered"), (3, "completed")]


async def test_a_step_that_read_a_view_since_replaced_leaves_the_newer_one_alone(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # What a racing writer on PostgreSQL can do between the step's read and its write.
    read = moved(OrderStatus.RECEIVED, version=1)
    await write(sessions, read)
    newer = moved(OrderStatus.RECEIVED, OrderStatus.PAID, OrderStatus.PICKING, version=4)
    await write(sessions, newer)

    async with one_transaction(sessions) as shared:
        held = await orders.write_over(shared, moved(OrderStatus.RECEIVED, OrderStatus.PAID, version=2), read)

    assert held == 4
    assert await orders.stored_view(sessions, "web-1001") == newer
    assert await status_changes(sessions) == [(0, "received"), (1, "paid"), (2, "picking")]


async def test_a_step_whose_stored_view_lags_its_status_rows_adds_none_twice(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await write(sessions, moved(OrderStatus.RECEIVED, OrderStatus.PAID, version=2))
    lagging = moved(OrderStatus.RECEIVED, version=1)

    async with one_transaction(sessions) as shared:
        await orders.write_over(
            shared, moved(OrderStatus.RECEIVED, OrderStatus.PAID, OrderStatus.PICKING, version=3), lagging
        )

    assert await status_changes(sessions) == [(0, "received"), (1, "paid"), (2, "picking")]


async def test_a_step_write_outside_a_step_transaction_is_refused_rather_than_lost(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(TypeError, match="one_transaction"):
        await orders.write_over(sessions, moved(OrderStatus.RECEIVED, version=1), None)
    with pytest.raises(TypeError, match="one_transaction"):
        await notifications.queue(sessions, an_email("web-1001:order_confirmation"))

    assert await orders.stored_view(sessions, "web-1001") is None


def an_email(key: str, subject: str = "Your order") -> Notification:
    return Notification(
        idempotency_key=key,
        order_id="web-1001",
        kind="order_confirmation",
        recipient="ada@example.com",
        subject=subject,
        message_id=f"<{key}@shop.example>",
        created_at=PLACED_AT,
        message="Subject: x\n\nhello\n",
    )


async def test_an_email_queued_again_by_a_retried_step_keeps_the_first(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with one_transaction(sessions) as shared:
        first = await notifications.queue(shared, an_email("web-1001:order_confirmation", "first"))
    async with one_transaction(sessions) as shared:
        again = await notifications.queue(shared, an_email("web-1001:order_confirmation", "again"))

    assert (first, again) == (True, False)
    stored = await notifications.get_notification(sessions, "web-1001:order_confirmation")
    assert stored is not None
    assert (stored.subject, stored.status) == ("first", notifications.PENDING)
