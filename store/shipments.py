"""Shipments: one parcel per order, its carrier and tracking number, and when it arrived."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.db import execute_core, insert_new
from store.schema import ShipmentRecord
from store.transaction import writing


class TrackingTaken(Exception):
    """The tracking number already belongs to another order's parcel."""

    def __init__(self, tracking: str, order_id: str) -> None:
        super().__init__(f"tracking number {tracking} already belongs to order {order_id}")
        self.tracking = tracking
        self.order_id = order_id


@dataclass(frozen=True)
class Parcel:
    """A shipment as stored, with every timestamp in UTC."""

    order_id: str
    carrier: str
    tracking: str
    created_at: datetime
    delivers_at: datetime | None
    delivered_at: datetime | None


async def get_by_order(sessions: async_sessionmaker[AsyncSession], order_id: str) -> Parcel | None:
    """The order's parcel, if it has been shipped."""
    return await _one(sessions, select(ShipmentRecord).where(ShipmentRecord.order_id == order_id))


async def get_by_tracking(sessions: async_sessionmaker[AsyncSession], tracking: str) -> Parcel | None:
    """The parcel with this tracking number, if any order shipped under it."""
    return await _one(sessions, select(ShipmentRecord).where(ShipmentRecord.tracking == tracking))


async def add_shipment(sessions: async_sessionmaker[AsyncSession], parcel: Parcel) -> Parcel:
    """Store the order's parcel; when the order already has one (an earlier attempt), that one is returned.

    Raises `TrackingTaken` when another order's parcel carries the same tracking number.
    """
    async with writing(sessions) as session:
        written = await execute_core(session, insert_new(session, ShipmentRecord).values(**asdict(parcel)))
    if written.rowcount == 1:
        return parcel
    # Either an earlier or a concurrent attempt stored this order's parcel, or the tracking number is taken.
    stored = await get_by_order(sessions, parcel.order_id)
    if stored is not None:
        return stored
    holder = await get_by_tracking(sessions, parcel.tracking)
    if holder is not None:
        raise TrackingTaken(parcel.tracking, holder.order_id)
    raise LookupError(f"order {parcel.order_id}: its parcel was neither stored nor found")


async def mark_delivered(sessions: async_sessionmaker[AsyncSession], order_id: str, at: datetime) -> bool:
    """Record when the parcel arrived, the first time only; True when this call recorded it."""
    async with writing(sessions) as session:
        recorded = (
            await execute_core(
                session,
                update(ShipmentRecord)
                .where(ShipmentRecord.order_id == order_id, ShipmentRecord.delivered_at.is_(None))
                .values(delivered_at=at)
                .returning(ShipmentRecord.order_id),
            )
        ).scalar()
        return recorded is not None


async def _one(sessions: async_sessionmaker[AsyncSession], query: Select[ShipmentRecord]) -> Parcel | None:
    async with sessions() as session:
        record = await session.scalar(query)
        return None if record is None else _parcel(record)


def _parcel(record: ShipmentRecord) -> Parcel:
    return Parcel(**{column.name: getattr(record, column.name) for column in fields(Parcel)})
