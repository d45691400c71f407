"""The order read model that operator lists and reports use, kept current by the projection, and feedback."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ColumnElement, String, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from domain.status import OperatorList
from domain.view import OrderView
from store.changes import OrderChange, announce
from store.db import execute_core, insert_new
from store.schema import FeedbackRecord, OrderRecord, OrderStatusChange
from store.transaction import joined


async def project(sessions: async_sessionmaker[AsyncSession], view: OrderView) -> int:
    """Write the order's view into the read model unless a newer version is stored; the version it holds now."""
    try:
        return await _write_if_newer(sessions, view)
    except IntegrityError:
        # A concurrent projection inserted the row first; the version comparison now decides who wins.
        return await _write_if_newer(sessions, view)


async def stored_view(sessions: async_sessionmaker[AsyncSession], order_id: str) -> OrderView | None:
    """The order's view as the read model holds it, None before its first write; only that column is read."""
    async with sessions() as session:
        read = await execute_core(session, select(OrderRecord.view_json).where(OrderRecord.order_id == order_id))
        view_json = read.scalar()
    return OrderView.model_validate_json(view_json) if view_json is not None else None


async def write_over(
    sessions: async_sessionmaker[AsyncSession], view: OrderView, stored: OrderView | None, *, retake: bool = False
) -> int:
    """Write the order's view over `stored`, the view this transaction read (`stored_view`), unless that is as new;
    the version the read model holds now. For a step's transaction: no savepoint, no look-up of what is stored.

    `retake`: a step's outcome, which replaces the one an earlier attempt of the same step committed at the same
    version. An outside read (a carrier's tracking) can answer a retry differently from the attempt a killed worker
    committed, and the workflow goes on with the retry's answer: so must the read model.

    The status changes `stored`'s timeline holds are stored (they commit together), so only the ones after them are
    added. A concurrent writer that got in between the read and this write (PostgreSQL's read-committed; SQLite's
    writers take the lock before the read) leaves the version check to `project`.
    """
    if not joined(sessions):
        raise TypeError("orders.write_over writes inside one_transaction(...) only: nothing would commit it")
    if stored is not None and (stored.version > view.version or (stored.version == view.version and not retake)):
        return stored.version
    columns = _columns(view)
    async with sessions() as session:
        if stored is None:
            written = await execute_core(session, insert_new(session, OrderRecord).values(**columns))
        else:
            older = OrderRecord.version <= view.version if retake else OrderRecord.version < view.version
            written = await execute_core(
                session, update(OrderRecord).where(OrderRecord.order_id == view.order_id, older).values(**columns)
            )
        if written.rowcount != 1:
            return await project(sessions, view)
        await _append_status_changes(session, view, len(_status_changes(stored)) if stored is not None else 0)
    return view.version


async def get_order(sessions: async_sessionmaker[AsyncSession], order_id: str) -> OrderRecord | None:
    """The read-model row of one order."""
    async with sessions() as session:
        return await session.get(OrderRecord, order_id)


@dataclass(frozen=True)
class OrderFilter:
    """Which orders an operator wants to see; every field left None matches every order."""

    operator_list: str | None = None
    status: str | None = None
    channel: str | None = None
    since: datetime | None = None
    search: str | None = None

    def without_list(self) -> OrderFilter:
        """The same filter across all three lists, for their counts."""
        return replace(self, operator_list=None, status=None)

    def conditions(self) -> list[ColumnElement[bool]]:
        """The filter as SQL conditions on the read model."""
        where: list[ColumnElement[bool]] = []
        if self.operator_list is not None:
            where.append(OrderRecord.list == self.operator_list)
        if self.status is not None:
            where.append(OrderRecord.status == self.status)
        if self.channel is not None:
            where.append(OrderRecord.channel == self.channel)
        if self.since is not None:
            where.append(OrderRecord.placed_at >= self.since)
        if self.search:
            # The operator's text is matched literally: % and _ in it are not wildcards.
            pattern = "%" + self.search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                or_(
                    *(
                        _Contains(column, pattern)
                        for column in (
                            OrderRecord.order_id,
                            OrderRecord.customer_name,
                            OrderRecord.customer_email,
                            OrderRecord.tracking,
                        )
                    )
                )
            )
        return where


class _Contains(ColumnElement[bool]):
    """The column's text matches a lower-case LIKE pattern (backslash escapes), whatever the case of its letters."""

    type = Boolean()
    # A predicate, not a boolean value: SQLite must not compare it with 1.
    _is_implicitly_boolean = True
    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("pattern", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: QueryableAttribute[Any], pattern: str) -> None:
        self.column = column
        self.pattern = bindparam(None, pattern, type_=String())


@compiles(_Contains)
def _lower_like(element: _Contains, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(func.lower(element.column).like(element.pattern, escape="\\"), **kw)


@compiles(_Contains, "sqlite")
def _sqlite_like(element: _Contains, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's LIKE already ignores the case of ASCII letters, the only ones its lower() folds, so the match is the
    # same; without lower() a search of 100,000 orders copies no text and takes half the time.
    return compiler.process(element.column.like(element.pattern, escape="\\"), **kw)


async def list_orders(
    sessions: async_sessionmaker[AsyncSession],
    *,
    operator_list: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    where: OrderFilter | None = None,
) -> list[OrderRecord]:
    """Orders newest first, optionally of one operator list (pending, completed, cancelled) or status; `offset`
    skips that many of the newest, for paging."""
    wanted = where or OrderFilter()
    if operator_list is not None:
        wanted = replace(wanted, operator_list=operator_list)
    if status is not None:
        wanted = replace(wanted, status=status)
    newest_first = (OrderRecord.placed_at.desc(), OrderRecord.order_id.desc())
    query = select(OrderRecord).where(*wanted.conditions()).order_by(*newest_first).limit(limit).offset(offset)
    async with sessions() as session:
        return list(await session.scalars(query))


async def count_by_list(sessions: async_sessionmaker[AsyncSession], where: OrderFilter | None = None) -> dict[str, int]:
    """How many orders match in each operator list (pending, completed, cancelled); every list is present."""
    conditions = (where or OrderFilter()).without_list().conditions()
    async with sessions() as session:
        rows = await session.execute(
            select(OrderRecord.list, func.count()).where(*conditions).group_by(OrderRecord.list)
        )
        counted = {operator_list: count for operator_list, count in rows}
    return {operator_list.value: counted.get(operator_list.value, 0) for operator_list in OperatorList}


async def count_orders(
    sessions: async_sessionmaker[AsyncSession], where: OrderFilter, per_list: dict[str, int] | None = None
) -> int:
    """How many orders match the filter; `per_list` (from `count_by_list`) answers it without a query when it can."""
    if per_list is not None and where.status is None:
        return per_list[where.operator_list] if where.operator_list else sum(per_list.values())
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OrderRecord).where(*where.conditions())) or 0)


async def count_by_status(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """How many orders are in each status; statuses without orders are absent."""
    async with sessions() as session:
        rows = await session.execute(
            select(OrderRecord.status, func.count()).group_by(OrderRecord.status).order_by(OrderRecord.status)
        )
        return {status: count for status, count in rows}


async def record_feedback(
    sessions: async_sessionmaker[AsyncSession], order_id: str, rating: int, comment: str | None, at: datetime
) -> bool:
    """Keep the customer's rating; the first answer per order stands. True when this call stored it."""
    try:
        async with sessions.begin() as session:
            if await session.get(FeedbackRecord, order_id) is not None:
                return False
            session.add(FeedbackRecord(order_id=order_id, rating=rating, comment=comment, at=at))
        return True
    except IntegrityError:
        # A concurrent attempt stored it first.
        return False


async def get_feedback(sessions: async_sessionmaker[AsyncSession], order_id: str) -> FeedbackRecord | None:
    """The customer's rating of one order, if they gave one."""
    async with sessions() as session:
        return await session.get(FeedbackRecord, order_id)


async def stored_version(sessions: async_sessionmaker[AsyncSession], order_id: str) -> int | None:
    """The version of the order's view the read model holds, None before its first projection."""
    async with sessions() as session:
        return await session.scalar(select(OrderRecord.version).where(OrderRecord.order_id == order_id))


async def _write_if_newer(sessions: async_sessionmaker[AsyncSession], view: OrderView) -> int:
    columns = _columns(view)
    async with sessions.begin() as session:
        written = await session.scalar(
            update(OrderRecord)
            .where(OrderRecord.order_id == view.order_id, OrderRecord.version < view.version)
            .values(**columns)
            .returning(OrderRecord.version)
        )
        if written is not None:
            await _add_status_changes(session, view)
            return int(written)
        stored = await session.scalar(select(OrderRecord.version).where(OrderRecord.order_id == view.order_id))
        if stored is not None:
            return stored
        session.add(OrderRecord(**columns))
        await session.flush()
        await _add_status_changes(session, view)
    return view.version


async def _add_status_changes(session: AsyncSession, view: OrderView) -> None:
    """Append the status changes of the timeline that are not stored yet, counting the stored ones."""
    stored = await session.scalar(
        select(func.count()).select_from(OrderStatusChange).where(OrderStatusChange.order_id == view.order_id)
    )
    await _append_status_changes(session, view, stored or 0)


async def _append_status_changes(session: AsyncSession, view: OrderView, stored: int) -> None:
    """Append the timeline's status changes from the `stored`-th on, and announce them to live pages.

    The timeline only ever grows. One statement for them all; one already stored (a racing writer's) is left as it
    is. The announcement commits with the rows, so no page hears of a change that was rolled back.
    """
    added = [
        OrderChange.entered(view.order_id, seq, status, at)
        for seq, (status, at) in enumerate(_status_changes(view))
        if seq >= stored
    ]
    if not added:
        return
    await execute_core(
        session,
        insert_new(session, OrderStatusChange).values(
            [{"order_id": row.order_id, "seq": row.seq, "status": row.status.value, "at": row.at} for row in added]
        ),
    )
    await announce(session, added)


def _status_changes(view: OrderView) -> list[tuple[str, datetime]]:
    """The statuses the order entered, in order, and when."""
    return [(entry.status.value, entry.at) for entry in view.timeline if entry.status is not None]


def _columns(view: OrderView) -> dict[str, Any]:
    return {
        "order_id": view.order_id,
        "workflow_id": view.workflow_id,
        "channel": view.channel.value,
        "external_id": view.external_id,
        "status": view.status.value,
        "list": view.operator_list.value,
        "mode": view.mode.value,
        "customer_name": view.customer.name,
        "customer_email": view.customer.email,
        "currency": view.totals.total.currency,
        "total_minor": view.totals.total.minor,
        "payment_method": view.payment.method.value,
        "tracking": view.shipment.tracking if view.shipment else None,
        "placed_at": view.placed_at,
        "updated_at": view.updated_at,
        "version": view.version,
        "view_json": view.model_dump_json(),
    }
