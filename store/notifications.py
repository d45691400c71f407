"""The email outbox (each email pending until the SMTP server has accepted it) and the orders a digest lists."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import defer

from store.db import execute_core, insert_new
from store.schema import Notification, OrderRecord
from store.transaction import joined

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
# How long a sender may take to hand an email to SMTP before another may try: well above the SMTP timeout.
CLAIM_SECONDS = 30


async def get_notification(sessions: async_sessionmaker[AsyncSession], idempotency_key: str) -> Notification | None:
    """The outbox row of this key, if the email was ever queued."""
    async with sessions() as session:
        query = select(Notification).where(Notification.idempotency_key == idempotency_key)
        return await session.scalar(query)


async def enqueue(sessions: async_sessionmaker[AsyncSession], notification: Notification) -> Notification:
    """Queue the email as pending, or return the row an earlier attempt queued under the same key."""
    try:
        async with sessions.begin() as session:
            existing = await session.scalar(
                select(Notification).where(Notification.idempotency_key == notification.idempotency_key)
            )
            if existing is not None:
                return existing
            notification.status = PENDING
            session.add(notification)
        return notification
    except IntegrityError:
        # A concurrent attempt queued it between our read and our insert; its row is the one to honour.
        queued = await get_notification(sessions, notification.idempotency_key)
        if queued is None:
            raise
        return queued


async def queue(sessions: async_sessionmaker[AsyncSession], notification: Notification) -> bool:
    """In a step's transaction (`one_transaction`): queue the email as pending, unless an earlier attempt queued it
    under the same key (that one stands); whether this call did. One statement: no look-up, no savepoint."""
    if not joined(sessions):
        raise TypeError("notifications.queue writes inside one_transaction(...) only: nothing would commit it")
    values = {column.key: getattr(notification, column.key) for column in Notification.__table__.columns}
    values.pop("id")
    # Pending, unless the step already knows it can never be sent (an email that could not be written).
    values["status"] = FAILED if notification.status == FAILED else PENDING
    async with sessions() as session:
        result = await execute_core(session, insert_new(session, Notification).values(**values))
    return result.rowcount == 1


async def claim(sessions: async_sessionmaker[AsyncSession], idempotency_key: str, claimant: str, now: datetime) -> bool:
    """Claim the pending email for `CLAIM_SECONDS` to hand it to SMTP; False while another sender holds it (or it
    is no longer pending). The claim commits at once: no transaction stays open while SMTP talks."""
    async with sessions.begin() as session:
        result = await execute_core(
            session,
            update(Notification)
            .where(
                Notification.idempotency_key == idempotency_key,
                Notification.status == PENDING,
                or_(Notification.claimed_until.is_(None), Notification.claimed_until < now),
            )
            .values(claimed_by=claimant, claimed_until=now + timedelta(seconds=CLAIM_SECONDS)),
        )
        return result.rowcount == 1


async def claim_many(
    sessions: async_sessionmaker[AsyncSession], keys: Collection[str], claimant: str, now: datetime
) -> list[Notification]:
    """Claim those of the pending emails under `keys` that no other sender holds, as `claim` does one, in one
    statement; the rows claimed. On PostgreSQL, rows another relay is claiming at this moment are skipped (FOR
    UPDATE SKIP LOCKED) rather than waited for, so several relays share the outbox without queueing on each other.
    """
    if not keys:
        return []
    async with sessions.begin() as session:
        free = (
            select(Notification.id)
            .where(
                Notification.idempotency_key.in_(keys),
                Notification.status == PENDING,
                or_(Notification.claimed_until.is_(None), Notification.claimed_until < now),
            )
            .with_for_update(skip_locked=True)
        )
        claimed = await session.scalars(
            update(Notification)
            .where(Notification.id.in_(free.scalar_subquery()))
            .values(claimed_by=claimant, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
            .returning(Notification),
            execution_options={"synchronize_session": False},
        )
        return sorted(claimed, key=lambda row: row.id)


async def settle(
    sessions: async_sessionmaker[AsyncSession],
    idempotency_key: str,
    claimant: str,
    at: datetime,
    *,
    status: str = SENT,
    failure: str | None = None,
) -> bool:
    """End the claimant's send: sent (or failed for good, with the server's answer); False when the claim was lost."""
    async with sessions.begin() as session:
        result = await execute_core(
            session,
            update(Notification)
            .where(Notification.idempotency_key == idempotency_key, Notification.claimed_by == claimant)
            .values(
                status=status,
                sent_at=at if status == SENT else None,
                failure=failure,
                claimed_by=None,
                claimed_until=None,
            ),
        )
        return result.rowcount == 1


async def unclaim(sessions: async_sessionmaker[AsyncSession], idempotency_key: str, claimant: str) -> None:
    """Give the claim back after a failed attempt, so the next one need not wait for it to run out."""
    async with sessions.begin() as session:
        await execute_core(
            session,
            update(Notification)
            .where(Notification.idempotency_key == idempotency_key, Notification.claimed_by == claimant)
            .values(claimed_by=None, claimed_until=None),
        )


async def sent_for_order(sessions: async_sessionmaker[AsyncSession], order_id: str) -> list[Notification]:
    """Every email the order has sent, oldest first."""
    async with sessions() as session:
        rows = await session.scalars(
            select(Notification)
            .where(Notification.order_id == order_id, Notification.status == SENT)
            .order_by(Notification.id)
        )
        return list(rows)


async def pending(
    sessions: async_sessionmaker[AsyncSession], kinds: Collection[str], limit: int = 100
) -> list[Notification]:
    """Emails for the mail relay still waiting for the SMTP server, oldest first: every one queued whole (with its
    message), and those of `kinds` that the relay composes itself."""
    async with sessions() as session:
        rows = await session.scalars(
            select(Notification)
            .where(Notification.status == PENDING, or_(Notification.message.is_not(None), Notification.kind.in_(kinds)))
            .order_by(Notification.id)
            .limit(limit)
        )
        return list(rows)


@dataclass(frozen=True)
class PlacedOrders:
    """The orders placed in a period, as a new-order digest shows them: the first few, and the sums of them all."""

    first: list[OrderRecord]
    # currency -> (orders, their totals in minor units)
    per_currency: dict[str, tuple[int, int]]

    @property
    def count(self) -> int:
        """How many orders were placed in the period, listed or not."""
        return sum(orders for orders, _ in self.per_currency.values())


async def placed_between(
    sessions: async_sessionmaker[AsyncSession], start: datetime, end: datetime, limit: int
) -> PlacedOrders:
    """The orders placed from `start` until before `end`: the first `limit` of them (without their view), and sums."""
    placed = (OrderRecord.placed_at >= start, OrderRecord.placed_at < end)
    async with sessions() as session:
        sums = await session.execute(
            select(OrderRecord.currency, func.count(), func.sum(OrderRecord.total_minor))
            .where(*placed)
            .group_by(OrderRecord.currency)
            .order_by(OrderRecord.currency)
        )
        per_currency = {currency: (int(orders), int(total or 0)) for currency, orders, total in sums}
        rows = await session.scalars(
            select(OrderRecord)
            .where(*placed)
            .options(defer(OrderRecord.view_json, raiseload=True))
            .order_by(OrderRecord.placed_at, OrderRecord.order_id)
            .limit(limit)
        )
        return PlacedOrders(first=list(rows), per_currency=per_currency)
