"""The order read model: each status change projected once, never overwritten by an older one, and feedback kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.orders import OrderActivities
from domain.status import OrderStatus
from domain.view import OrderView
from settings import Settings
from store import orders
from tests.activities.fixtures_views import PLACED_AT, placed_order, shipped_with, view_of


@pytest.fixture
def projection(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> OrderActivities:
    """Read-model activities on the test's database."""
    return OrderActivities(sessions, settings)


async def project(projection: OrderActivities, view: OrderView) -> api.Projected:
    """Run the projection activity once."""
    return await ActivityEnvironment().run(projection.project_order, api.ProjectOrder(order=view))


async def test_projection_writes_the_order_into_the_read_model(
    projection: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    view = view_of(
        placed_order(currency="KWD", lines=(("DATES", 2, "1.25", None),), shipping=None),
        status=OrderStatus.SHIPPED,
        shipment=shipped_with("sandbox-post", "SBX0123456789"),
    )

    projected = await project(projection, view)

    record = await orders.get_order(sessions, "web-1001")
    assert projected == api.Projected(order_id="web-1001", version=1)
    assert record is not None
    assert (record.status, record.list, record.channel, record.mode) == ("shipped", "pending", "web", "auto")
    assert (record.currency, record.total_minor) == ("KWD", 2500)
    assert (record.customer_email, record.payment_method, record.tracking) == (
        "ada@example.com",
        "card",
        "SBX0123456789",
    )
    assert record.workflow_id == "order-web-1001"
    assert OrderView.model_validate_json(record.view_json) == view


async def test_a_newer_projection_replaces_the_stored_one(
    projection: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await project(projection, view_of(placed_order(), status=OrderStatus.PAID, version=2))
    projected = await project(projection, view_of(placed_order(), status=OrderStatus.COMPLETED, version=7))

    record = await orders.get_order(sessions, "web-1001")
    assert record is not None
    assert projected.version == 7
    assert (record.status, record.list, record.version) == ("completed", "completed", 7)


async def test_a_late_projection_never_overwrites_a_newer_status(
    projection: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await project(projection, view_of(placed_order(), status=OrderStatus.SHIPPED, version=5))

    late = await project(projection, view_of(placed_order(), status=OrderStatus.PAID, version=2))

    record = await orders.get_order(sessions, "web-1001")
    assert late == api.Projected(order_id="web-1001", version=5)
    assert record is not None
    assert (record.status, record.version) == ("shipped", 5)
    assert OrderView.model_validate_json(record.view_json).status is OrderStatus.SHIPPED


async def test_racing_projections_of_a_new_order_leave_one_row_with_the_newest_version(
    projection: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    statuses = [OrderStatus.RECEIVED, OrderStatus.PAID, OrderStatus.PICKING, OrderStatus.PACKING, OrderStatus.SHIPPED]

    await asyncio.gather(
        *(
            project(projection, view_of(placed_order(), status=status, version=version))
            for version, status in reversed(list(enumerate(statuses, start=1)))
        )
    )

    [record] = await orders.list_orders(sessions)
    assert (record.status, record.version) == ("shipped", 5)


async def test_order_lists_show_the_newest_order_first_and_filter_by_list_and_status(
    projection: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for hour, (external_id, status) in enumerate(
        [("1", OrderStatus.COMPLETED), ("2", OrderStatus.PAID), ("3", OrderStatus.CANCELLED), ("4", OrderStatus.PAID)]
    ):
        order = placed_order(external_id=external_id)
        await project(projection, view_of(order, status=status, placed_at=PLACED_AT + timedelta(hours=hour)))

    everything = await orders.list_orders(sessions)
    pending = await orders.list_orders(sessions, operator_list="pending")
    cancelled = await orders.list_orders(sessions, operator_list="cancelled")
    completed = await orders.list_orders(sessions, status=OrderStatus.COMPLETED)
    newest_two = await orders.list_orders(sessions, limit=2)

    assert [r.external_id for r in everything] == ["4", "3", "2", "1"]
    assert [r.external_id for r in pending] == ["4", "2"]
    assert [r.external_id for r in cancelled] == ["3"]
    assert [r.external_id for r in completed] == ["1"]
    assert [r.external_id for r in newest_two] == ["4", "3"]


async def test_orders_are_counted_by_status(
    projection: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for external_id, status in [("1", OrderStatus.PAID), ("2", OrderStatus.PAID), ("3", OrderStatus.SHIPPED)]:
        await project(projection, view_of(placed_order(external_id=external_id), status=status))

    assert await orders.count_by_status(sessions) == {"paid": 2, "shipped": 1}


async def test_an_unknown_order_is_not_in_the_read_model(sessions: async_sessionmaker[AsyncSession]) -> None:
    assert await orders.get_order(sessions, "web-nope") is None


async def test_feedback_is_recorded_once_per_order(
    projection: OrderActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    at = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
    first = api.RecordFeedback(order_id="web-1001", rating=5, comment="Lovely mugs", at=at)
    repeat = api.RecordFeedback(order_id="web-1001", rating=1, comment=None, at=at + timedelta(hours=1))

    await project(projection, view_of(placed_order(), status=OrderStatus.COMPLETED, version=9))

    await ActivityEnvironment().run(projection.record_feedback, first)
    answer = await ActivityEnvironment().run(projection.record_feedback, repeat)

    feedback = await orders.get_feedback(sessions, "web-1001")
    assert answer == api.Projected(order_id="web-1001", version=9)
    assert feedback is not None
    assert (feedback.rating, feedback.comment) == (5, "Lovely mugs")
