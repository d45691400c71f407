"""Open pages hear of every status an order enters, from the read model, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.status import OrderStatus
from domain.view import OrderView, TimelineEntry
from settings import Settings
from store import orders
from store.changes import LISTENER_NAME, ChangesMissed, FeedEvent, MissReason, OrderChange, OrderChanges, Subscription
from store.db import create_engine
from store.schema import FeedbackRecord
from tests.activities.fixtures_views import PLACED_AT, placed_order, view_of
from tests.conftest import POSTGRESQL, SQLITE

S = OrderStatus
# Tests poll faster than the console's default so the suite does not wait on the cursor.
POLL_SECONDS = 0.02
GUARD_SECONDS = 10.0


def order_after(external_id: str, *steps: OrderStatus) -> OrderView:
    """The web order's view once it has entered `steps`, one minute apart from PLACED_AT."""
    view = view_of(placed_order(external_id=external_id), status=steps[-1], version=len(steps))
    timeline = [
        TimelineEntry(at=PLACED_AT + timedelta(minutes=minute), event=step.value, status=step)
        for minute, step in enumerate(steps)
    ]
    return view.model_copy(update={"timeline": timeline})


def entered(external_id: str, seq: int, status: OrderStatus) -> OrderChange:
    """The change `order_after` stores as the order's `seq`th status."""
    return OrderChange(
        order_id=f"web-{external_id}", seq=seq, status=status, at=PLACED_AT + timedelta(minutes=seq), new=seq == 0
    )


async def next_event(subscription: Subscription) -> FeedEvent:
    """The subscription's next event; the test fails instead of hanging if none comes."""
    return await asyncio.wait_for(anext(subscription), GUARD_SECONDS)


async def eventually(condition: Callable[[], object]) -> None:
    """Wait until `condition` holds; the test fails instead of hanging if it never does."""
    async with asyncio.timeout(GUARD_SECONDS):
        while not condition():
            await asyncio.sleep(0.01)


async def rest_of(subscription: Subscription) -> list[FeedEvent]:
    """Every event the subscription still yields, until it ends."""

    async def drain() -> list[FeedEvent]:
        return [event async for event in subscription]

    return await asyncio.wait_for(drain(), GUARD_SECONDS)


async def test_a_new_order_reaches_every_subscriber_as_new(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with (
        OrderChanges.watch(settings.oms_database_url, poll_seconds=POLL_SECONDS) as changes,
        changes.subscribe() as first,
        changes.subscribe() as second,
    ):
        await orders.project(sessions, order_after("1001", S.RECEIVED))

        assert await next_event(first) == entered("1001", 0, S.RECEIVED)
        assert await next_event(second) == entered("1001", 0, S.RECEIVED)
        assert entered("1001", 0, S.RECEIVED).new


async def test_a_later_status_change_arrives_as_not_new(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with (
        OrderChanges.watch(settings.oms_database_url, poll_seconds=POLL_SECONDS) as changes,
        changes.subscribe() as subscription,
    ):
        await orders.project(sessions, order_after("1001", S.RECEIVED))
        await next_event(subscription)
        await orders.project(sessions, order_after("1001", S.RECEIVED, S.PAID))

        paid = await next_event(subscription)

    assert paid == entered("1001", 1, S.PAID)
    assert not paid.new


async def test_an_order_projected_with_several_statuses_at_once_arrives_as_each_of_them_in_order(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with (
        OrderChanges.watch(settings.oms_database_url, poll_seconds=POLL_SECONDS) as changes,
        changes.subscribe() as subscription,
    ):
        await orders.project(sessions, order_after("1001", S.RECEIVED, S.PAID, S.PICKING))

        heard = [await next_event(subscription) for _ in range(3)]

    assert heard == [entered("1001", 0, S.RECEIVED), entered("1001", 1, S.PAID), entered("1001", 2, S.PICKING)]


async def test_a_change_made_before_the_watcher_started_is_not_delivered(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await orders.project(sessions, order_after("1001", S.RECEIVED))

    async with (
        OrderChanges.watch(settings.oms_database_url, poll_seconds=POLL_SECONDS) as changes,
        changes.subscribe() as subscription,
    ):
        await orders.project(sessions, order_after("1002", S.RECEIVED))

        assert await next_event(subscription) == entered("1002", 0, S.RECEIVED)


async def test_a_subscriber_that_leaves_receives_nothing_more_and_the_others_carry_on(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with (
        OrderChanges.watch(settings.oms_database_url, poll_seconds=POLL_SECONDS) as changes,
        changes.subscribe() as staying,
    ):
        async with changes.subscribe() as leaving:
            await orders.project(sessions, order_after("1001", S.RECEIVED))
            assert await next_event(leaving) == entered("1001", 0, S.RECEIVED)
            assert await next_event(staying) == entered("1001", 0, S.RECEIVED)

        await orders.project(sessions, order_after("1002", S.RECEIVED))

        assert await next_event(staying) == entered("1002", 0, S.RECEIVED)
        assert await rest_of(leaving) == []
        assert changes.subscribers == 1


async def test_a_slow_subscriber_does_not_hold_up_a_fast_one_and_is_told_what_it_missed(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    steps = [S.RECEIVED, S.PAID, S.PICKING, S.PACKING, S.SHIPPED]
    async with (
        OrderChanges.watch(settings.oms_database_url, poll_seconds=POLL_SECONDS, queue_limit=2) as changes,
        changes.subscribe() as slow,
        changes.subscribe() as fast,
    ):
        heard_fast = []
        for entered_so_far in range(1, len(steps) + 1):
            await orders.project(sessions, order_after("1001", *steps[:entered_so_far]))
            heard_fast.append(await next_event(fast))

        heard_slow = [await next_event(slow) for _ in range(3)]

    assert heard_fast == [entered("1001", seq, status) for seq, status in enumerate(steps)]
    assert heard_slow == [
        ChangesMissed(MissReason.SLOW_SUBSCRIBER, dropped=3),
        entered("1001", 3, S.PACKING),
        entered("1001", 4, S.SHIPPED),
    ]


async def test_closing_the_watcher_ends_every_subscription_after_what_it_already_heard(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    heard: list[FeedEvent] = []

    async def follow(changes: OrderChanges) -> None:
        async with changes.subscribe() as subscription:
            async for change in subscription:
                heard.append(change)

    async with OrderChanges.watch(settings.oms_database_url, poll_seconds=POLL_SECONDS) as changes:
        follower = asyncio.create_task(follow(changes))
        await eventually(lambda: changes.subscribers == 1)
        await orders.project(sessions, order_after("1001", S.RECEIVED))
        await eventually(lambda: heard)

    await asyncio.wait_for(follower, GUARD_SECONDS)
    assert heard == [entered("1001", 0, S.RECEIVED)]


async def test_the_feed_reads_on_an_engine_that_refuses_to_write(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    reader = create_engine(settings.oms_database_url, read_only=True)
    try:
        with pytest.raises(DBAPIError, match=r"read-?only"):
            async with reader.begin() as connection:
                await connection.execute(insert(FeedbackRecord).values(order_id="web-1001", rating=5, at=PLACED_AT))
    finally:
        await reader.dispose()

    assert await orders.get_feedback(sessions, "web-1001") is None


@pytest.mark.database(SQLITE)
async def test_on_sqlite_a_writer_that_will_not_wait_commits_while_the_feed_is_reading(
    backend: str, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    outcomes: list[str] = []

    def write_while_the_poll_is_open(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # Runs right after the feed's query, inside its read transaction: the moment a write lock would bite.
        if "rowid >" not in statement or outcomes:
            return
        writer = sqlite3.connect(settings.var_dir / "oms.db", timeout=0, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute(
                "INSERT INTO feedback (order_id, rating, comment, at) VALUES ('web-1001', 5, NULL, ?)",
                (PLACED_AT.isoformat(sep=" "),),
            )
            writer.execute("COMMIT")
            outcomes.append("committed")
        except sqlite3.OperationalError as error:
            outcomes.append(str(error))
        finally:
            writer.close()

    event.listen(Engine, "after_cursor_execute", write_while_the_poll_is_open)
    try:
        async with OrderChanges.watch(settings.oms_database_url, poll_seconds=POLL_SECONDS):
            await eventually(lambda: outcomes)
    finally:
        event.remove(Engine, "after_cursor_execute", write_while_the_poll_is_open)

    assert outcomes == ["committed"]
    feedback = await orders.get_feedback(sessions, "web-1001")
    assert feedback is not None
    assert feedback.rating == 5


@pytest.mark.database(POSTGRESQL)
async def test_on_postgresql_a_lost_connection_is_restored_and_subscribers_are_told_they_may_have_missed_changes(
    backend: str, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with (
        OrderChanges.watch(settings.oms_database_url) as changes,
        changes.subscribe() as subscription,
    ):
        async with sessions.begin() as session:
            terminated = await session.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": LISTENER_NAME},
            )
        assert terminated == 1

        assert await next_event(subscription) == ChangesMissed(MissReason.FEED_INTERRUPTED)

        await orders.project(sessions, order_after("1001", S.RECEIVED))
        assert await next_event(subscription) == entered("1001", 0, S.RECEIVED)


async def test_a_database_the_feed_cannot_follow_is_refused_by_name() -> None:
    refusal = "database: order changes can be watched on SQLite or PostgreSQL, not on mysql"
    with pytest.raises(ValueError, match=re.escape(refusal)):
        async with OrderChanges.watch("mysql+aiomysql://shop@127.0.0.1/oms"):
            pass
