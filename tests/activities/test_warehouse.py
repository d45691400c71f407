"""Warehouse tasks: auto mode works for its duration while heartbeating, manual mode waits for the operator."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.warehouse import AUTOMATED, WarehouseActivities
from settings import Settings
from store import warehouse


@pytest.fixture
def tasks(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> WarehouseActivities:
    """Warehouse activities on the test's database."""
    return WarehouseActivities(sessions, settings)


def pick(order_id: str = "web-1001", seconds: float = 0, done_by: str | None = None) -> api.WarehouseTask:
    """A pick job for the order, taking `seconds` in auto mode."""
    return api.WarehouseTask(
        order_id=order_id, kind=api.TaskKind.PICK, duration=timedelta(seconds=seconds), done_by=done_by
    )


async def test_auto_pick_heartbeats_and_finishes_after_its_duration(
    tasks: WarehouseActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    env = ActivityEnvironment()
    beats: list[tuple[object, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)

    started = time.monotonic()
    state = await env.run(tasks.perform_task, pick(seconds=1.5))

    assert time.monotonic() - started >= 1.4
    assert state.status == "done"
    assert len(beats) >= 2
    record = await warehouse.get_task(sessions, "web-1001", "pick")
    assert record is not None
    assert (record.status, record.done_by) == ("done", AUTOMATED)


async def test_a_pick_retried_after_a_crash_only_waits_for_the_time_left(
    tasks: WarehouseActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # The first attempt opened the task two seconds ago, then its worker died.
    await warehouse.open_task(sessions, "web-1001", "pick", datetime.now(UTC) - timedelta(seconds=2))

    env = ActivityEnvironment()
    left: list[float] = []
    env.on_heartbeat = lambda *details: left.append(float(details[0]))
    state = await env.run(tasks.perform_task, pick(seconds=2.5))

    assert state.status == "done"
    # What it still waits for, as it heartbeats it: at most the half second left of the 2.5 s, never the whole job.
    assert all(seconds <= 0.5 for seconds in left), left


async def test_a_pick_that_is_already_done_returns_at_once(tasks: WarehouseActivities) -> None:
    first = await ActivityEnvironment().run(tasks.perform_task, pick(seconds=0))

    env = ActivityEnvironment()
    worked: list[object] = []
    env.on_heartbeat = lambda *details: worked.append(details)
    again = await env.run(tasks.perform_task, pick(seconds=60))

    assert again == first
    assert worked == []  # not one heartbeat: it never started the 60 s of work
    assert again.status == "done"


async def test_cancelling_an_auto_pick_stops_the_work_and_leaves_the_task_open(
    tasks: WarehouseActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    env = ActivityEnvironment()
    working = asyncio.Event()
    env.on_heartbeat = lambda *details: working.set()
    running = asyncio.ensure_future(env.run(tasks.perform_task, pick(seconds=30)))
    await working.wait()

    env.cancel()

    with pytest.raises(asyncio.CancelledError):
        await running
    record = await warehouse.get_task(sessions, "web-1001", "pick")
    assert record is not None
    assert record.status == "open"


async def test_manual_pick_stays_open_until_the_operator_closes_it(tasks: WarehouseActivities) -> None:
    opened = await ActivityEnvironment().run(tasks.open_task, pick())
    closed = await ActivityEnvironment().run(tasks.close_task, pick(done_by="alice"))

    assert opened.status == "open"
    assert closed == api.TaskState(task_id=opened.task_id, status="done")


async def test_opening_a_task_twice_keeps_one_task(tasks: WarehouseActivities) -> None:
    first = await ActivityEnvironment().run(tasks.open_task, pick())
    second = await ActivityEnvironment().run(tasks.open_task, pick())

    assert second == first


async def test_racing_attempts_to_open_a_task_keep_one_task(tasks: WarehouseActivities) -> None:
    states = await asyncio.gather(*(ActivityEnvironment().run(tasks.open_task, pick()) for _ in range(10)))

    assert {state.task_id for state in states} == {states[0].task_id}


async def test_closing_a_task_again_keeps_who_closed_it_first(
    tasks: WarehouseActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await ActivityEnvironment().run(tasks.open_task, pick())
    await ActivityEnvironment().run(tasks.close_task, pick(done_by="alice"))
    await ActivityEnvironment().run(tasks.close_task, pick(done_by="bob"))

    record = await warehouse.get_task(sessions, "web-1001", "pick")
    assert record is not None
    assert record.done_by == "alice"


async def test_pick_and_pack_of_one_order_are_separate_tasks(tasks: WarehouseActivities) -> None:
    picked = await ActivityEnvironment().run(tasks.perform_task, pick())
    packing = await ActivityEnvironment().run(
        tasks.open_task, api.WarehouseTask(order_id="web-1001", kind=api.TaskKind.PACK)
    )

    assert packing.task_id != picked.task_id
    assert packing.status == "open"
