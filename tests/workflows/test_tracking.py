"""Delivery tracking backs off while the carrier has nothing new, so days in transit stay a short history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType

from activities import api
from domain.commands import DeliveryEvent
from domain.status import OrderStatus
from settings import Settings
from tests.conftest import Mailbox
from tests.sample_orders import an_order
from tests.workflows.conftest import Shop, open_shop

# Sandbox scans come from the worker's wall clock, which time skipping does not move: a year-long transit keeps
# the parcel quiet after its label, as a parcel is between depots.
A_YEAR = 365 * 86_400.0


@pytest.fixture
async def quiet_carrier(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], smtp: Mailbox
) -> AsyncIterator[Shop]:
    """A shop whose sandbox parcels report nothing after the label; tracking polled after 5 s, at most hourly."""
    slow = settings.model_copy(
        update={"carrier_transit_seconds": A_YEAR, "tracking_poll_seconds": 5, "tracking_poll_max_seconds": 3600}
    )
    async with open_shop(slow, sessions, smtp) as shop:
        yield shop


async def test_two_quiet_days_in_transit_cost_dozens_of_polls_not_thousands(quiet_carrier: Shop) -> None:
    shop = quiet_carrier
    handle = await shop.place(an_order())
    await shop.until(handle, lambda view: view.status is OrderStatus.SHIPPED)

    await shop.env.sleep(timedelta(days=2))
    await handle.signal("delivery_event", DeliveryEvent(event="delivered", detail="carrier webhook"))
    view = await shop.until(handle, lambda view: view.status is OrderStatus.COMPLETED)

    history = await handle.fetch_history()
    polls = [
        event
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == api.TRACK_ORDER.name
    ]
    # Fixed 5 s polling would be 34,560 polls (380,000 events: past the 51,200 a history may hold). Backing off
    # 5, 10, 20 ... 2,560 s reaches the hourly ceiling in 10 polls (85 min); the rest of the 48 hours is 47 more.
    assert 55 <= len(polls) <= 60, len(polls)
    assert len(history.events) < 1_000
    assert view.shipment is not None
    assert view.shipment.delivered_at is not None
