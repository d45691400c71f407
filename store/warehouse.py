"""Warehouse tasks: one pick and one pack job per order, opened once and closed once (done, or cancelled)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.db import execute_core, insert_new
from store.schema import WarehouseTaskRecord
from store.transaction import writing

OPEN = "open"
DONE = "done"
CANCELLED = "cancelled"


async def get_task(sessions: async_sessionmaker[AsyncSession], order_id: str, kind: str) -> WarehouseTaskRecord | None:
    """The order's task of this kind, if it was ever opened."""
    async with sessions() as session:
        return await session.scalar(_task(order_id, kind))


async def open_task(
    sessions: async_sessionmaker[AsyncSession], order_id: str, kind: str, at: datetime
) -> WarehouseTaskRecord:
    """Open the order's task of this kind, or return the one an earlier attempt opened (any status)."""
    async with writing(sessions) as session:
        # An earlier or a concurrent attempt's task stays as it is (one per order and kind); the task is whichever.
        await execute_core(
            session,
            insert_new(session, WarehouseTaskRecord).values(order_id=order_id, kind=kind, status=OPEN, opened_at=at),
        )
        task = await session.scalar(_task(order_id, kind).execution_options(populate_existing=True))
    if task is None:
        raise LookupError(f"warehouse task {kind} of order {order_id} vanished while opening it")
    return task


async def close_task(
    sessions: async_sessionmaker[AsyncSession], order_id: str, kind: str, done_by: str | None, at: datetime
) -> WarehouseTaskRecord:
    """Mark the task done by `done_by`; a task already closed (done or cancelled) keeps who closed it and when."""
    task = await open_task(sessions, order_id, kind, at)
    if task.status != OPEN:
        return task
    async with writing(sessions) as session:
        # Only an open task becomes done: a job finishing after the order's refund stopped it stays cancelled.
        await execute_core(
            session,
            update(WarehouseTaskRecord)
            .where(
                WarehouseTaskRecord.order_id == order_id,
                WarehouseTaskRecord.kind == kind,
                WarehouseTaskRecord.status == OPEN,
            )
            .values(status=DONE, closed_at=at, done_by=done_by),
        )
        # Read afresh: in a step's shared transaction the session may already hold this row as it was when opened.
        current = await session.scalar(_task(order_id, kind).execution_options(populate_existing=True))
        if current is None:
            raise LookupError(f"warehouse task {kind} of order {order_id} vanished while closing it")
        return current


async def cancel_open_tasks(
    sessions: async_sessionmaker[AsyncSession], order_id: str, done_by: str, at: datetime
) -> list[str]:
    """Cancel the order's open tasks; returns the kinds cancelled now (none if an earlier call stopped them)."""
    async with sessions.begin() as session:
        cancelled = await session.scalars(
            update(WarehouseTaskRecord)
            .where(WarehouseTaskRecord.order_id == order_id, WarehouseTaskRecord.status == OPEN)
            .values(status=CANCELLED, closed_at=at, done_by=done_by)
            .returning(WarehouseTaskRecord.kind),
            execution_options={"synchronize_session": False},
        )
        return sorted(cancelled)


def _task(order_id: str, kind: str) -> Select[WarehouseTaskRecord]:
    return select(WarehouseTaskRecord).where(WarehouseTaskRecord.order_id == order_id, WarehouseTaskRecord.kind == kind)
