"""How long orders spent in each status, measured from the status changes the projection keeps."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.orders import OrderFilter
from store.schema import OrderRecord, OrderStatusChange

# SQLite allows 32,766 bound parameters; PostgreSQL 65,535. Well below both.
_IDS_PER_QUERY = 500

COMPLETED = "completed"


@dataclass
class StepTimes:
    """Seconds spent in each status (stays that ended with a move on) and from placement to `completed`.

    With a window, only stays that ended inside it count, and only orders completed inside it: what a report of
    that day or week means by "how long did picking take".
    """

    in_status: dict[str, list[float]] = field(default_factory=dict)
    to_completed: list[float] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None

    def add_order(self, changes: list[tuple[str, datetime]]) -> None:
        """Count one order's status changes, oldest first; a status noted twice in a row is one stay."""
        stays: list[tuple[str, datetime]] = []
        for status, at in changes:
            if not stays or stays[-1][0] != status:
                stays.append((status, at))
        for (status, entered), (_, left) in pairwise(stays):
            if self._inside(left):
                self.in_status.setdefault(status, []).append((left - entered).total_seconds())
        completed = next((at for status, at in stays if status == COMPLETED), None)
        if stays and completed is not None and self._inside(completed):
            self.to_completed.append((completed - stays[0][1]).total_seconds())

    def _inside(self, moment: datetime) -> bool:
        return (self.since is None or moment >= self.since) and (self.until is None or moment < self.until)


async def step_times(
    sessions: async_sessionmaker[AsyncSession],
    where: OrderFilter | None = None,
    *,
    order_ids: Collection[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StepTimes:
    """Step times of the orders matching `where`, or of exactly `order_ids` when given.

    `since`/`until` limit it to stays and completions that ended in that window, of any order that moved in it.
    """
    times = StepTimes(since=since, until=until)
    if order_ids is not None:
        ids = sorted(set(order_ids))
        for start in range(0, len(ids), _IDS_PER_QUERY):
            await _collect(sessions, [OrderStatusChange.order_id.in_(ids[start : start + _IDS_PER_QUERY])], times)
        return times
    conditions = (where or OrderFilter()).conditions()
    if since is not None or until is not None:
        moved = select(OrderStatusChange.order_id)
        if since is not None:
            moved = moved.where(OrderStatusChange.at >= since)
        if until is not None:
            moved = moved.where(OrderStatusChange.at < until)
        conditions.append(OrderStatusChange.order_id.in_(moved.distinct()))
    await _collect(sessions, conditions, times, join_orders=where is not None)
    return times


async def _collect(
    sessions: async_sessionmaker[AsyncSession],
    conditions: list[ColumnElement[bool]],
    times: StepTimes,
    *,
    join_orders: bool = False,
) -> None:
    query = select(OrderStatusChange.order_id, OrderStatusChange.status, OrderStatusChange.at)
    if join_orders:
        query = query.join(OrderRecord, OrderRecord.order_id == OrderStatusChange.order_id)
    query = query.where(*conditions).order_by(OrderStatusChange.order_id, OrderStatusChange.seq)
    current: str | None = None
    changes: list[tuple[str, datetime]] = []
    async with sessions() as session:
        for order_id, status, at in await session.execute(query):
            if order_id != current:
                if changes:
                    times.add_order(changes)
                current, changes = order_id, []
            changes.append((status, at))
    if changes:
        times.add_order(changes)
