"""Payments repository: money captured for an order, stored once per idempotency key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.money import Money
from domain.order import PaymentMethod
from domain.progress import booking_reference as booking_reference  # where the workflow reads it too
from store.db import execute_core, insert_new
from store.schema import PaymentRecord
from store.transaction import writing

CAPTURE = "capture"


def capture_key(order_id: str) -> str:
    """The idempotency key of an order's one and only capture."""
    return f"{order_id}:capture"


@dataclass(frozen=True)
class BookedPayment:
    """A payment row as the rest of the system sees it: amounts as Money, times in UTC."""

    order_id: str
    kind: str
    method: PaymentMethod
    amount: Money
    gateway_reference: str
    reference: str | None
    at: datetime


async def find_capture(sessions: async_sessionmaker[AsyncSession], order_id: str) -> BookedPayment | None:
    """The order's capture, or None when no money has been taken for it yet."""
    async with sessions() as session:
        row = await session.scalar(select(PaymentRecord).where(PaymentRecord.idempotency_key == capture_key(order_id)))
    return _booked(row) if row is not None else None


async def record_capture(
    sessions: async_sessionmaker[AsyncSession],
    *,
    order_id: str,
    method: PaymentMethod,
    amount: Money,
    gateway_reference: str,
    reference: str | None = None,
) -> BookedPayment:
    """Store the order's capture; if one is already stored, return that one instead of adding another."""
    row = PaymentRecord(
        idempotency_key=capture_key(order_id),
        order_id=order_id,
        kind=CAPTURE,
        method=method.value,
        amount_minor=amount.minor,
        currency=amount.currency,
        gateway_reference=gateway_reference,
        reference=reference,
        at=datetime.now(UTC),
    )
    values = {column.key: getattr(row, column.key) for column in PaymentRecord.__table__.columns if column.key != "id"}
    async with writing(sessions) as session:
        written = await execute_core(session, insert_new(session, PaymentRecord).values(**values))
    if written.rowcount == 1:
        return _booked(row)
    # An earlier or a concurrent attempt stored the capture first: theirs is the capture.
    existing = await find_capture(sessions, order_id)
    if existing is None:
        raise LookupError(f"order {order_id}: its capture was neither stored nor found")
    return existing


async def payments_for_order(sessions: async_sessionmaker[AsyncSession], order_id: str) -> list[BookedPayment]:
    """Every payment row of the order, oldest first."""
    async with sessions() as session:
        rows = await session.scalars(
            select(PaymentRecord).where(PaymentRecord.order_id == order_id).order_by(PaymentRecord.id)
        )
        return [_booked(row) for row in rows]


def _booked(row: PaymentRecord) -> BookedPayment:
    return BookedPayment(
        order_id=row.order_id,
        kind=row.kind,
        method=PaymentMethod(row.method),
        amount=Money.from_minor(row.amount_minor, row.currency),
        gateway_reference=row.gateway_reference,
        reference=row.reference,
        at=row.at,
    )
