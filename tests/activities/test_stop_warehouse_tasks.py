"""Stopping an order's warehouse tasks for a refund: open jobs are cancelled once and a late finish cannot undo it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.warehouse import DONE_BY_LENGTH, WarehouseActivities
from settings import Settings
from store import warehouse


@pytest.fixture
def tasks(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> WarehouseActivities:
    """Warehouse activities on the test's database."""
    return WarehouseActivities(sessions, settings)


def job(
    kind: api.TaskKind, order_id: str = "web-4001", seconds: float = 0, done_by: str | None = None
) -> api.WarehouseTask:
    """A pick or pack job of the order, taking `seconds` in auto mode."""
    return api.WarehouseTask(order_id=order_id, kind=kind, duration=timedelta(seconds=seconds), done_by=done_by)


def stop(order_id: str = "web-4001", reason: str = "customer changed their mind") -> api.StopWarehouseTasks:
    """The refund's request to take the order's jobs off the warehouse's list."""
    return api.StopWarehouseTasks(order_id=order_id, reason=reason)


async def status_of(sessions: async_sessionmaker[AsyncSession], kind: api.TaskKind, order_id: str = "web-4001") -> str:
    """The task's status in the database."""
    record = await warehouse.get_task(sessions, order_id, kind.value)
    assert record is not None
    return record.status


async def test_stopping_cancels_the_orders_open_tasks_and_says_why(
    tasks: WarehouseActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await ActivityEnvironment().run(tasks.open_task, job(api.TaskKind.PACK))
    await ActivityEnvironment().run(tasks.open_task, job(api.TaskKind.PICK))

    stopped = await ActivityEnvironment().run(tasks.stop_tasks, stop())

    assert stopped == api.WarehouseStopped(stopped=[api.TaskKind.PICK, api.TaskKind.PACK])
    record = await warehouse.get_task(sessions, "web-4001", "pick")
    assert record is not None
    assert (record.status, record.done_by) == ("cancelled", "refund: customer changed their mind")
    assert record.closed_at is not None


async def test_stopping_again_stops_nothing(tasks: WarehouseActivities) -> None:
    await ActivityEnvironment().run(tasks.open_task, job(api.TaskKind.PICK))
    await ActivityEnvironment().run(tasks.stop_tasks, stop())

    again = await ActivityEnvironment().run(tasks.stop_tasks, stop())

    assert again == api.WarehouseStopped(stopped=[])


async def test_a_finished_task_is_not_cancelled(
    tasks: WarehouseActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await ActivityEnvironment().run(tasks.perform_task, job(api.TaskKind.PICK))
    await ActivityEnvironment().run(tasks.open_task, job(api.TaskKind.PACK))

    stopped = await ActivityEnvironment().run(tasks.stop_tasks, stop())

    assert stopped.stopped == [api.TaskKind.PACK]
    assert await status_of(sessions, api.TaskKind.PICK) == "done"


async def test_stopping_an_order_without_tasks_stops_nothing(tasks: WarehouseActivities) -> None:
    stopped = await ActivityEnvironment().run(tasks.stop_tasks, stop("web-never"))

    assert stopped.stopped == []


async def test_a_long_reason_is_cut_at_a_word_to_fit_the_column(
    tasks: WarehouseActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await ActivityEnvironment().run(tasks.open_task, job(api.TaskKind.PICK))

    await ActivityEnvironment().run(tasks.stop_tasks, stop(reason="the parcel was   lost " * 20))

    record = await warehouse.get_task(sessions, "web-4001", "pick")
    assert record is not None
    assert record.done_by is not None
    whole = "refund: " + " ".join(["the parcel was lost"] * 20)
    kept = record.done_by.removesuffix("…")
    assert len(record.done_by) <= DONE_BY_LENGTH
    assert kept != record.done_by
    assert whole.startswith(kept)
    assert whole[len(kept)] == " "


async def test_an_auto_pick_that_finishes_after_a_cancellation_leaves_the_task_cancelled(
    tasks: WarehouseActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    env = ActivityEnvironment()
    started = asyncio.Event()
    # Its first heartbeat: the pick is open and being worked on.
    env.on_heartbeat = lambda *details: started.set()
    working = asyncio.ensure_future(env.run(tasks.perform_task, job(api.TaskKind.PICK, seconds=1)))
    await started.wait()
    await ActivityEnvironment().run(tasks.stop_tasks, stop())

    finished = await working

    assert finished.status == "cancelled"
    assert await status_of(sessions, api.TaskKind.PICK) == "cancelled"


async def test_a_pick_retried_after_a_cancellation_returns_at_once_without_working(tasks: WarehouseActivities) -> None:
    await ActivityEnvironment().run(tasks.open_task, job(api.TaskKind.PICK))
    await ActivityEnvironment().run(tasks.stop_tasks, stop())

    env = ActivityEnvironment()
    worked: list[object] = []
    env.on_heartbeat = lambda *details: worked.append(details)
    retried = await env.run(tasks.perform_task, job(api.TaskKind.PICK, seconds=60))
    assert worked == []  # not one heartbeat: it never started the 60 s of work

    assert retried.status == "cancelled"


async def test_the_operator_confirming_a_cancelled_task_leaves_it_cancelled(
    tasks: WarehouseActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await ActivityEnvironment().run(tasks.open_task, job(api.TaskKind.PACK))
    await ActivityEnvironment().run(tasks.stop_tasks, stop())

    closed = await ActivityEnvironment().run(tasks.close_task, job(api.TaskKind.PACK, done_by="alice"))

    assert closed.status == "cancelled"
    record = await warehouse.get_task(sessions, "web-4001", "pack")
    assert record is not None
    assert record.done_by == "refund: customer changed their mind"


def test_the_warehouse_activities_include_stopping_tasks(tasks: WarehouseActivities) -> None:
    names = [handler.__temporal_activity_definition.name for handler in tasks.handlers()]  # type: ignore[attr-defined]

    assert names[-1] == api.STOP_WAREHOUSE_TASKS.name
