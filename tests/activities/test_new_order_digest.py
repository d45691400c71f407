"""OMS_NEW_ORDER_EMAIL=hourly: the digest emails the orders placed in one shop-local hour, once per hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.new_orders import MOST_LISTED, NewOrderActivities, digest_key
from domain.order import Order, PaymentMethod
from settings import Settings
from store import orders
from store.schema import Notification
from tests.activities.fixtures_views import placed_order, view_of
from tests.activities.test_notifications import bodies
from tests.conftest import Mailbox

# Friday 20 November 2026, 13:00 to 14:00 in Berlin (UTC+1).
ONE_PM = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HOUR = api.SendNewOrderDigest(start=ONE_PM, end=ONE_PM + timedelta(hours=1), timezone="Europe/Berlin")


async def place(sessions: async_sessionmaker[AsyncSession], order: Order, at: datetime) -> None:
    """The order placed at `at`, as the projection writes it into the read model."""
    await orders.project(sessions, view_of(order, placed_at=at))


async def send_digest(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, most_listed: int = MOST_LISTED
) -> api.NewOrderDigestSent:
    """Run the digest activity for 13:00 to 14:00 once."""
    digest = NewOrderActivities(sessions, settings, most_listed=most_listed)
    return await ActivityEnvironment().run(digest.send_new_order_digest, HOUR)


async def test_the_digest_lists_the_orders_of_the_hour_and_only_them(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    second = timedelta(seconds=1)
    yen = placed_order(external_id="yen", currency="JPY", lines=(("TEA", 3, "1500", "Sencha"),), shipping="500")
    await place(sessions, placed_order(external_id="before"), ONE_PM - second)
    await place(sessions, placed_order(external_id="first"), ONE_PM)
    await place(sessions, yen, ONE_PM + timedelta(minutes=30))
    await place(
        sessions, placed_order(external_id="last", customer_name="Grace Hopper"), ONE_PM + timedelta(hours=1) - second
    )
    await place(sessions, placed_order(external_id="after"), ONE_PM + timedelta(hours=1))

    sent = await send_digest(sessions, settings)

    [message] = await smtp.wait_for(1)
    text, html = bodies(message)
    assert sent == api.NewOrderDigestSent(
        orders=3, message_id="<new_order_digest.20261120T1300+0100@demo-shop.example>"
    )
    assert message["To"] == "Demo Shop operator <operator@demo-shop.example>"
    assert message["Subject"] == "Demo Shop: 3 new orders 13:00-14:00 Fri 20 Nov: 59.80 EUR, 5,000 JPY"
    assert message["Message-ID"] == sent.message_id
    listed = [line.split()[1] for line in text.splitlines() if line.startswith("  1")]
    assert listed == ["web-first:", "web-yen:", "web-last:"]
    assert "  13:59 web-last: 29.90 EUR, Grace Hopper, card, from web, now paid" in text
    assert "http://127.0.0.1:8000/orders/web-last" in text
    assert '<a href="http://127.0.0.1:8000/orders/web-yen">web-yen</a>' in html
    for absent in ("web-before", "web-after"):
        assert absent not in text
        assert absent not in html


async def test_the_same_hour_sent_twice_reaches_the_operator_once(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    await place(sessions, placed_order(), ONE_PM + timedelta(minutes=5))

    first = await send_digest(sessions, settings)
    again = await send_digest(sessions, settings)

    await smtp.wait_for(1)
    assert len(smtp.messages) == 1
    assert not first.already_sent
    assert again == api.NewOrderDigestSent(orders=1, message_id=first.message_id, already_sent=True)


async def test_an_hour_without_orders_sends_nothing(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    await place(sessions, placed_order(), ONE_PM - timedelta(minutes=1))

    sent = await send_digest(sessions, settings)

    assert sent == api.NewOrderDigestSent(orders=0)
    async with sessions() as session:
        assert list(await session.scalars(select(Notification))) == []
    assert smtp.messages == []


async def test_orders_beyond_the_listed_ones_are_counted_and_the_operator_told_where_to_see_them(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    for minute in range(3):
        order = placed_order(external_id=f"m{minute}", method=PaymentMethod.PAYPAL)
        await place(sessions, order, ONE_PM + timedelta(minutes=minute))

    sent = await send_digest(sessions, settings, most_listed=2)

    [message] = await smtp.wait_for(1)
    text, _ = bodies(message)
    assert sent.orders == 3
    assert message["Subject"] == "Demo Shop: 3 new orders 13:00-14:00 Fri 20 Nov: 89.70 EUR"
    assert "web-m2" not in text
    assert "... and 1 more order: `oms order list --since 2026-11-20T13:00` shows them." in text


def test_the_two_hours_from_two_to_three_of_the_autumn_clock_change_are_digested_apart() -> None:
    # Sunday 25 October 2026: Berlin's clocks go from 03:00 CEST back to 02:00 CET.
    summer = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    winter = summer + timedelta(hours=1)

    keys = [
        digest_key(api.SendNewOrderDigest(start=start, end=start + timedelta(hours=1), timezone="Europe/Berlin"))
        for start in (summer, winter)
    ]

    assert keys == ["new-order-digest:2026-10-25T02:00:00+02:00", "new-order-digest:2026-10-25T02:00:00+01:00"]
