"""The email outbox: one row per order and kind, pending until the SMTP server has accepted the message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.schema import Notification

PENDING = "pending"
SENT = "sent"


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


async def mark_sent(session: AsyncSession, idempotency_key: str, at: datetime) -> None:
    """Mark the email sent inside the caller's transaction, which commits once the SMTP server has it."""
    await session.execute(
        update(Notification)
        .where(Notification.idempotency_key == idempotency_key, Notification.status == PENDING)
        .values(status=SENT, sent_at=at)
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
