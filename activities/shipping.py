"""Shipping: labels from the sandbox carrier, parcels the operator sent themselves, and delivery tracking."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from activities import api
from activities.orders import write_order
from domain import progress
from domain.emails import EmailKind
from domain.money import Money
from domain.order import PaymentMethod
from domain.view import OrderView
from gateways.carrier import DELIVERED, SANDBOX_CARRIER, SandboxCarrier, SandboxLabel
from settings import Settings
from store import catalogue, payments, shipments
from store.shipments import Parcel, TrackingTaken
from store.transaction import one_transaction

# Ten digits from a hash rarely clash; when they do, the carrier prints the order's next number.
TRACKING_ATTEMPTS = 20


class ShippingActivities:
    """One parcel per order: created, recorded and tracked idempotently by order id."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self.carrier = SandboxCarrier(transit=timedelta(seconds=settings.carrier_transit_seconds))

    def handlers(self) -> list[Callable[..., Awaitable[Any]]]:
        """The activities to register on a worker."""
        return [self.create_shipment, self.record_shipment, self.track_shipment, self.ship_order, self.track_order]

    @api.SHIP_ORDER.implementation
    async def ship_order(self, request: api.ShipOrder) -> api.Label:
        """The parcel's label (the sandbox's, or the operator's carrier and tracking number), the stock leaving and
        the order's move to `shipped` with its email, in one commit."""
        changes = request.changes
        order_id = changes.order_id
        async with one_transaction(self.sessions) as shared:
            if request.carrier is not None and request.tracking is not None:
                label = await self._record(shared, order_id, request.carrier, request.tracking)
            else:
                label = await self._buy_label(shared, order_id)
            try:
                await catalogue.ship_reservation(shared, order_id)
            except catalogue.NoOpenReservation as closed:
                raise ApplicationError(str(closed), type=api.ErrorType.NOTHING_RESERVED, non_retryable=True) from closed
            await write_order(
                shared,
                self.settings,
                changes,
                lambda view: progress.shipped(view, label.carrier, label.tracking, changes.at),
            )
        return label

    @api.TRACK_ORDER.implementation
    async def track_order(self, request: api.TrackOrder) -> api.Tracking:
        """The carrier's scans; once delivered, the delivery, cash taken at the door (`collect`) and the order's
        move to `delivered` and `completed` with the completion email, in one commit."""
        changes = request.changes
        tracking = await self._track(self.sessions, changes.order_id, request.tracking)
        scans = [event.event for event in tracking.events[request.seen :]]
        async with one_transaction(self.sessions) as shared:
            collected = None
            if tracking.delivered and request.collect is not None:
                collected = await self._collect(shared, changes.order_id, request.collect, changes.at)

            def outcome(view: OrderView) -> list[EmailKind]:
                progress.parcel_scanned(view, scans, changes.at)
                if not tracking.delivered:
                    return []
                progress.delivered(view, changes.at, collected=collected)
                return progress.completed(view, changes.at)

            await write_order(shared, self.settings, changes, outcome)
        return tracking

    async def _collect(
        self, sessions: async_sessionmaker[AsyncSession], order_id: str, amount: Money, at: datetime
    ) -> progress.CapturedPayment:
        """Book the cash the carrier took at the door as the order's one capture; the order notes it taken `at`."""
        method = PaymentMethod.CASH_ON_DELIVERY
        booked = await payments.find_capture(sessions, order_id) or await payments.record_capture(
            sessions,
            order_id=order_id,
            method=method,
            amount=amount,
            gateway_reference=payments.booking_reference(method, order_id),
            reference="collected at delivery",
        )
        return progress.CapturedPayment(
            gateway_reference=booked.gateway_reference, amount=booked.amount, captured_at=at
        )

    @api.CREATE_SHIPMENT.implementation
    async def create_shipment(self, request: api.CreateShipment) -> api.Label:
        """Buy the order's label from the sandbox carrier; a retry gets the label bought the first time."""
        return await self._buy_label(self.sessions, request.order_id)

    async def _buy_label(self, sessions: async_sessionmaker[AsyncSession], order_id: str) -> api.Label:
        bought = await shipments.get_by_order(sessions, order_id)
        if bought is not None:
            return _label(bought)
        now = datetime.now(UTC)
        for attempt in range(TRACKING_ATTEMPTS):
            label = self.carrier.create_label(order_id, now, attempt)
            try:
                parcel = await shipments.add_shipment(
                    sessions,
                    Parcel(
                        order_id=order_id,
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
            f"order {order_id}: no free sandbox tracking number after {TRACKING_ATTEMPTS} attempts",
            type=api.ErrorType.TRACKING_IN_USE,
        )

    @api.RECORD_SHIPMENT.implementation
    async def record_shipment(self, request: api.RecordShipment) -> api.Label:
        """Remember a parcel the operator sent with their own carrier; the first record per order stands."""
        return await self._record(self.sessions, request.order_id, request.carrier, request.tracking)

    async def _record(
        self, sessions: async_sessionmaker[AsyncSession], order_id: str, carrier: str, tracking: str
    ) -> api.Label:
        try:
            parcel = await shipments.add_shipment(
                sessions,
                Parcel(
                    order_id=order_id,
                    carrier=carrier,
                    tracking=tracking,
                    created_at=datetime.now(UTC),
                    delivers_at=None,
                    delivered_at=None,
                ),
            )
        except TrackingTaken as taken:
            raise ApplicationError(
                f"order {order_id}: {taken}; check the tracking number",
                type=api.ErrorType.TRACKING_IN_USE,
                non_retryable=True,
            ) from taken
        return _label(parcel)

    @api.TRACK_SHIPMENT.implementation
    async def track_shipment(self, request: api.TrackShipment) -> api.Tracking:
        """What the sandbox carrier has scanned so far; parcels it did not carry have no events."""
        return await self._track(self.sessions, request.order_id, request.tracking)

    async def _track(self, sessions: async_sessionmaker[AsyncSession], order_id: str, tracking: str) -> api.Tracking:
        parcel = await shipments.get_by_tracking(sessions, tracking)
        label = _sandbox_label(parcel, order_id)
        if parcel is None or label is None:
            return api.Tracking(events=[], delivered=False)
        scans = label.scans(datetime.now(UTC))
        delivered = any(scan.event == DELIVERED for scan in scans)
        if delivered and parcel.delivered_at is None:
            await shipments.mark_delivered(sessions, parcel.order_id, label.delivers_at)
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
