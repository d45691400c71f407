"""Shipping: sandbox labels, the operator's own parcels, and tracking through to delivery."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.shipping import ShippingActivities
from gateways.carrier import SANDBOX_CARRIER, SandboxCarrier, tracking_number
from settings import Settings
from store import shipments
from store.shipments import Parcel
from tests.activities.fixtures_views import placed_order

ADDRESS = placed_order().shipping_address


def label_for(order_id: str = "web-1001") -> api.CreateShipment:
    """A label request for the order's parcel."""
    return api.CreateShipment(order_id=order_id, address=ADDRESS)


@pytest.fixture
def shipping(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> ShippingActivities:
    """Shipping activities whose sandbox parcels arrive at once."""
    return ShippingActivities(sessions, settings)


def slow_shipping(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, transit_seconds: float
) -> ShippingActivities:
    """Shipping activities whose sandbox parcels take `transit_seconds` to arrive."""
    return ShippingActivities(sessions, settings.model_copy(update={"carrier_transit_seconds": transit_seconds}))


async def test_sandbox_label_carries_an_sbx_tracking_number_derived_from_the_order(
    shipping: ShippingActivities,
) -> None:
    label = await ActivityEnvironment().run(shipping.create_shipment, label_for("web-1001"))

    assert label.carrier == SANDBOX_CARRIER
    assert re.fullmatch(r"SBX\d{10}", label.tracking)
    assert label.tracking == tracking_number("web-1001")


async def test_a_retried_label_request_returns_the_same_label(
    shipping: ShippingActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await ActivityEnvironment().run(shipping.create_shipment, label_for())
    again = await ActivityEnvironment().run(shipping.create_shipment, label_for())

    assert again == first


async def test_every_order_gets_its_own_tracking_number(shipping: ShippingActivities) -> None:
    labels = await asyncio.gather(
        *(ActivityEnvironment().run(shipping.create_shipment, label_for(f"web-{n}")) for n in range(60))
    )

    assert len({label.tracking for label in labels}) == 60


async def test_a_tracking_number_clash_gives_the_order_its_next_number(
    shipping: ShippingActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    now = datetime.now(UTC)
    await shipments.add_shipment(sessions, Parcel("pos-7", "other-post", tracking_number("web-1001"), now, None, None))

    label = await ActivityEnvironment().run(shipping.create_shipment, label_for("web-1001"))

    assert label.tracking == tracking_number("web-1001", attempt=1)


async def test_a_fresh_sandbox_parcel_has_only_its_label_scanned(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    shipping = slow_shipping(sessions, settings, transit_seconds=3600)
    label = await ActivityEnvironment().run(shipping.create_shipment, label_for())

    tracking = await ActivityEnvironment().run(
        shipping.track_shipment, api.TrackShipment(order_id="web-1001", tracking=label.tracking)
    )

    assert [event.event for event in tracking.events] == ["label_created"]
    assert not tracking.delivered


async def test_sandbox_parcel_is_delivered_after_transit_time(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    shipping = slow_shipping(sessions, settings, transit_seconds=1)
    label = await ActivityEnvironment().run(shipping.create_shipment, label_for())
    track = api.TrackShipment(order_id="web-1001", tracking=label.tracking)

    before = await ActivityEnvironment().run(shipping.track_shipment, track)
    await asyncio.sleep(1.1)
    after = await ActivityEnvironment().run(shipping.track_shipment, track)

    assert not before.delivered
    assert after.delivered
    assert [event.event for event in after.events] == [
        "label_created",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]
    assert after.events[-1].at == label.created_at + timedelta(seconds=1)


def test_sandbox_scans_come_at_a_third_and_two_thirds_of_the_transit() -> None:
    created = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    label = SandboxCarrier(transit=timedelta(hours=3)).create_label("web-1001", created)

    def events_at(hours: float) -> list[str]:
        return [scan.event for scan in label.scans(created + timedelta(hours=hours))]

    assert events_at(0.9) == ["label_created"]
    assert events_at(1) == ["label_created", "in_transit"]
    assert events_at(2.5) == ["label_created", "in_transit", "out_for_delivery"]
    assert events_at(3) == ["label_created", "in_transit", "out_for_delivery", "delivered"]


async def test_delivery_is_recorded_once_at_the_time_the_parcel_arrived(
    shipping: ShippingActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    label = await ActivityEnvironment().run(shipping.create_shipment, label_for())
    track = api.TrackShipment(order_id="web-1001", tracking=label.tracking)

    await ActivityEnvironment().run(shipping.track_shipment, track)
    await asyncio.sleep(0.05)
    await ActivityEnvironment().run(shipping.track_shipment, track)

    parcel = await shipments.get_by_order(sessions, "web-1001")
    assert parcel is not None
    assert parcel.delivered_at == parcel.delivers_at == label.created_at


async def test_a_parcel_sent_with_the_operators_own_carrier_has_no_tracking_events(
    shipping: ShippingActivities,
) -> None:
    recorded = await ActivityEnvironment().run(
        shipping.record_shipment, api.RecordShipment(order_id="web-1001", carrier="DHL", tracking="JJD0001")
    )

    tracking = await ActivityEnvironment().run(
        shipping.track_shipment, api.TrackShipment(order_id="web-1001", tracking="JJD0001")
    )

    assert (recorded.carrier, recorded.tracking) == ("DHL", "JJD0001")
    assert tracking == api.Tracking(events=[], delivered=False)


async def test_a_tracking_number_the_sandbox_never_issued_has_no_events(shipping: ShippingActivities) -> None:
    tracking = await ActivityEnvironment().run(
        shipping.track_shipment, api.TrackShipment(order_id="web-1001", tracking="SBX0000000000")
    )

    assert tracking == api.Tracking(events=[], delivered=False)


async def test_recording_the_shipment_again_keeps_the_first_record(shipping: ShippingActivities) -> None:
    first = await ActivityEnvironment().run(
        shipping.record_shipment, api.RecordShipment(order_id="web-1001", carrier="DHL", tracking="JJD0001")
    )
    again = await ActivityEnvironment().run(
        shipping.record_shipment, api.RecordShipment(order_id="web-1001", carrier="DHL", tracking="JJD0001")
    )

    assert again == first


async def test_a_tracking_number_of_another_order_is_refused_for_good(shipping: ShippingActivities) -> None:
    await ActivityEnvironment().run(
        shipping.record_shipment, api.RecordShipment(order_id="web-1001", carrier="DHL", tracking="JJD0001")
    )

    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(
            shipping.record_shipment,
            api.RecordShipment(order_id="web-1002", carrier="DHL", tracking="JJD0001"),
        )

    assert refused.value.type == api.ErrorType.TRACKING_IN_USE
    assert refused.value.non_retryable
    assert "web-1001" in str(refused.value)
