"""The warehouse: pick and pack jobs, done by the simulated warehouse (auto) or a person (manual), or stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities import api
from activities.orders import write_order
from domain import progress
from domain.emails import EmailKind
from domain.view import OrderView
from settings import Settings
from store import warehouse
from store.schema import WarehouseTaskRecord
from store.transaction import one_transaction

# A killed worker is noticed a heartbeat timeout after its last beat; beating each second allows a short one.
HEARTBEAT_INTERVAL_SECONDS = 1.0
AUTOMATED = "warehouse-system"
# Room for who stopped a job in `warehouse_tasks.done_by`.
DONE_BY_LENGTH = 254


class WarehouseActivities:
    """Pick and pack jobs of orders, one task row per order and kind."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def handlers(self) -> list[Callable[..., Awaitable[Any]]]:
        """The activities to register on a worker."""
        return [self.perform_task, self.perform_order_task, self.open_task, self.close_task, self.stop_tasks]

    @api.PERFORM_ORDER_TASK.implementation
    async def perform_order_task(self, request: api.PerformOrderTask) -> api.TaskState:
        """Auto mode: open the job with the order's changes, let the warehouse take `duration`, then close it with
        the order's note of it (and, after a pick, the start of packing) in one commit; a job of no duration is
        opened and closed in one commit."""
        changes = request.changes
        kind = request.kind.value
        async with one_transaction(self.sessions) as shared:
            record = await warehouse.open_task(shared, changes.order_id, kind, _now())
            if record.status == warehouse.OPEN and record.opened_at + request.duration <= _now():
                # A job that takes no time (or whose time is up, on a retry) is done in the same commit.
                done = await warehouse.close_task(shared, changes.order_id, kind, AUTOMATED, _now())
                finished = done.status == warehouse.DONE
                await write_order(
                    shared, self.settings, changes, (lambda view: _task_done(view, request)) if finished else None
                )
                return _state(done)
            await write_order(shared, self.settings, changes)
        if record.status == warehouse.OPEN:
            # Measured from the stored opening time, so a retry after a crash only waits for what is left.
            await _work_until(record.opened_at + request.duration)
        async with one_transaction(self.sessions) as shared:
            done = await warehouse.close_task(shared, changes.order_id, kind, AUTOMATED, _now())
            if done.status == warehouse.DONE:
                await write_order(shared, self.settings, changes, lambda view: _task_done(view, request))
        return _state(done)

    @api.PERFORM_WAREHOUSE_TASK.implementation
    async def perform_task(self, task: api.WarehouseTask) -> api.TaskState:
        """Auto mode: the warehouse does the job, taking `duration` from when the task was first opened.

        A job already done or cancelled returns at once; one cancelled while it was worked on stays cancelled.
        """
        record = await warehouse.open_task(self.sessions, task.order_id, task.kind.value, _now())
        if record.status != warehouse.OPEN:
            return _state(record)
        # Measured from the stored opening time, so a retry after a crash only waits for what is left.
        await _work_until(record.opened_at + task.duration)
        done = await warehouse.close_task(
            self.sessions, task.order_id, task.kind.value, task.done_by or AUTOMATED, _now()
        )
        return _state(done)

    @api.OPEN_WAREHOUSE_TASK.implementation
    async def open_task(self, task: api.WarehouseTask) -> api.TaskState:
        """Manual mode: put the job on the warehouse's list; the operator confirms it with a command."""
        record = await warehouse.open_task(self.sessions, task.order_id, task.kind.value, _now())
        return _state(record)

    @api.CLOSE_WAREHOUSE_TASK.implementation
    async def close_task(self, task: api.WarehouseTask) -> api.TaskState:
        """Manual mode: the operator did the job; record who did it."""
        record = await warehouse.close_task(self.sessions, task.order_id, task.kind.value, task.done_by, _now())
        return _state(record)

    @api.STOP_WAREHOUSE_TASKS.implementation
    async def stop_tasks(self, request: api.StopWarehouseTasks) -> api.WarehouseStopped:
        """Cancel the order's open pick and pack jobs; a repeat stops nothing more."""
        stopped = await warehouse.cancel_open_tasks(
            self.sessions, request.order_id, _stopped_by(request.reason), _now()
        )
        if stopped:
            activity.logger.info("order %s: stopped warehouse tasks %s", request.order_id, ", ".join(stopped))
        return api.WarehouseStopped(stopped=[kind for kind in api.TaskKind if kind.value in stopped])


async def _work_until(finishes_at: datetime) -> None:
    while (left := (finishes_at - _now()).total_seconds()) > 0:
        activity.heartbeat(left)
        await asyncio.sleep(min(HEARTBEAT_INTERVAL_SECONDS, left))


def _task_done(view: OrderView, request: api.PerformOrderTask) -> list[EmailKind]:
    at = request.changes.at
    if request.kind is api.TaskKind.PICK:
        return progress.pick_done(view, at, packing=request.packing)
    return progress.pack_done(view, at)


def _stopped_by(reason: str) -> str:
    text = f"refund: {' '.join(reason.split())}"
    if len(text) <= DONE_BY_LENGTH:
        return text
    # Cut at a word where one is near the end, so the column shows whole words and says it was cut.
    cut = text[: DONE_BY_LENGTH - 1]
    space = cut.rfind(" ")
    if space > DONE_BY_LENGTH // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _state(record: WarehouseTaskRecord) -> api.TaskState:
    return api.TaskState(task_id=record.id, status=record.status)


def _now() -> datetime:
    return datetime.now(UTC)
