"""Shipping: labels from the sandbox carrier, parcels the operator sent themselves, and delivery tracking."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from activities import api
from gateways.carrier import DELIVERED, SANDBOX_CARRIER, SandboxCarrier, SandboxLabel
from settings import Settings
from store import shipments
from store.shipments import Parcel, TrackingTaken

# Ten digits from a hash rarely clash; when they do, the carrier prints the order's next number.
TRACKING_ATTEMPTS = 20


class ShippingActivities:
    """One parcel per order: created, recorded and tracked idempotently by order id."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.carrier = SandboxCarrier(transit=timedelta(seconds=settings.carrier_transit_seconds))

    def handlers(self) -> list[Callable[..., Awaitable[Any]]]:
        """The activities to register on a worker."""
        return [self.create_shipment, self.record_shipment, self.track_shipment]

    @api.CREATE_SHIPMENT.implementation
    async def create_shipment(self, request: api.CreateShipment) -> api.Label:
        """Buy the order's label from the sandbox carrier; a retry gets the label bought the first time."""
        bought = await shipments.get_by_order(self.sessions, request.order_id)
        if bought is not None:
            return _label(bought)
        now = datetime.now(UTC)
        for attempt in range(TRACKING_ATTEMPTS):
            label = self.carrier.create_label(request.order_id, now, attempt)
            try:
                parcel = await shipments.add_shipment(
                    self.sessions,
                    Parcel(
                        order_id=request.order_id,
                        carrier=label.carrier,
                        tracking=label.tracking,
                        created_at=label.created_at,
                        delivers_at=label.delivers_at,
                        delivered_at=None,
                    ),
                )
            except TrackingTaken:
                continue
            return _label(parcel)
        raise ApplicationError(
            f"order {request.order_id}: no free sandbox tracking number after {TRACKING_ATTEMPTS} attempts",
            type=api.ErrorType.TRACKING_IN_USE,
        )

    @api.RECORD_SHIPMENT.implementation
    async def record_shipment(self, request: api.RecordShipment) -> api.Label:
        """Remember a parcel the operator sent with their own carrier; the first record per order stands."""
        try:
            parcel = await shipments.add_shipment(
                self.sessions,
                Parcel(
                    order_id=request.order_id,
                    carrier=request.carrier,
                    tracking=request.tracking,
                    created_at=datetime.now(UTC),
                    delivers_at=None,
                    delivered_at=None,
                ),
            )
        except TrackingTaken as taken:
            raise ApplicationError(
                f"order {request.order_id}: {taken}; check the tracking number",
                type=api.ErrorType.TRACKING_IN_USE,
                non_retryable=True,
            ) from taken
        return _label(parcel)

    @api.TRACK_SHIPMENT.implementation
    async def track_shipment(self, request: api.TrackShipment) -> api.Tracking:
        """What the sandbox carrier has scanned so far; parcels it did not carry have no events."""
        parcel = await shipments.get_by_tracking(self.sessions, request.tracking)
        label = _sandbox_label(parcel, request.order_id)
        if parcel is None or label is None:
            return api.Tracking(events=[], delivered=False)
        scans = label.scans(datetime.now(UTC))
        delivered = any(scan.event == DELIVERED for scan in scans)
        if delivered and parcel.delivered_at is None:
            await shipments.mark_delivered(self.sessions, parcel.order_id, label.delivers_at)
        return api.Tracking(
            events=[api.TrackingEvent(event=scan.event, at=scan.at) for scan in scans], delivered=delivered
        )


def _sandbox_label(parcel: Parcel | None, order_id: str) -> SandboxLabel | None:
    # Only a label the sandbox printed for this very order has a journey to report.
    if parcel is None or parcel.order_id != order_id:
        return None
    if parcel.carrier != SANDBOX_CARRIER or parcel.delivers_at is None:
        return None
    return SandboxLabel(parcel.carrier, parcel.tracking, parcel.created_at, parcel.delivers_at)


def _label(parcel: Parcel) -> api.Label:
    return api.Label(carrier=parcel.carrier, tracking=parcel.tracking, created_at=parcel.created_at)
