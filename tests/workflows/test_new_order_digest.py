"""NewOrderDigestWorkflow: which hour a run digests, in shop time, on the real worker and a real SMTP peer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from activities import api
from store import orders
from tests.activities.fixtures_views import placed_order, view_of
from tests.workflows.conftest import Shop
from workflows.new_order_digest import NewOrderDigest, NewOrderDigestWorkflow, hour_before, hour_of

BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")


async def run_digest(shop: Shop, request: NewOrderDigest) -> api.NewOrderDigestSent:
    """Start the digest by hand, as an engineer would, and wait for its result."""
    return await shop.client.execute_workflow(
        NewOrderDigestWorkflow.run, request, id=f"new-order-digest-{uuid.uuid4()}", task_queue=shop.settings.task_queue
    )


async def test_a_run_digests_the_full_hour_before_it_started(shop: Shop) -> None:
    now = await shop.env.get_current_time()
    if (now + timedelta(seconds=10)).hour != now.hour:
        # So close to the next hour that the run might start in it: let (skipped) time get there first.
        await shop.env.sleep(timedelta(seconds=20))
        now = await shop.env.get_current_time()
    this_hour, _ = hour_of(now, BERLIN)
    for external_id, placed_at in (
        ("two-hours-ago", this_hour - timedelta(hours=1, seconds=1)),
        ("last-hour", this_hour - timedelta(minutes=30)),
        ("this-hour", this_hour),
    ):
        await orders.project(shop.sessions, view_of(placed_order(external_id=external_id), placed_at=placed_at))

    sent = await run_digest(shop, NewOrderDigest(timezone="Europe/Berlin"))

    [message] = await shop.mailbox.wait_for(1)
    text = message.get_body(preferencelist=("plain",))
    assert sent.orders == 1
    assert text is not None
    assert "web-last-hour" in text.get_content()


async def test_a_run_for_a_named_hour_digests_that_hour(shop: Shop) -> None:
    named = datetime(2026, 11, 20, 13, 20)  # shop time
    await orders.project(shop.sessions, view_of(placed_order(), placed_at=datetime(2026, 11, 20, 12, 59, tzinfo=UTC)))

    sent = await run_digest(shop, NewOrderDigest(timezone="Europe/Berlin", hour=named))

    [message] = await shop.mailbox.wait_for(1)
    assert sent == api.NewOrderDigestSent(
        orders=1, message_id="<new_order_digest.20261120T1300+0100@demo-shop.example>"
    )
    assert message["Subject"].startswith("Demo Shop: 1 new order 13:00-14:00 Fri 20 Nov")


def test_hours_are_whole_hours_of_shop_time() -> None:
    # Kolkata is UTC+5:30: its 14:00 is 08:30 UTC.
    start, end = hour_before(datetime(2026, 11, 20, 8, 35, tzinfo=UTC), KOLKATA)

    assert (start.astimezone(KOLKATA).hour, end.astimezone(KOLKATA).hour) == (13, 14)
    assert (start, end) == (datetime(2026, 11, 20, 7, 30, tzinfo=UTC), datetime(2026, 11, 20, 8, 30, tzinfo=UTC))


def test_the_hour_after_the_autumn_clock_change_follows_the_second_two_oclock() -> None:
    # Sunday 25 October 2026: at 03:00 CEST (01:00 UTC) Berlin's clocks go back to 02:00 CET.
    start, end = hour_before(datetime(2026, 10, 25, 2, 5, tzinfo=UTC), BERLIN)

    assert (start, end) == (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), datetime(2026, 10, 25, 2, 0, tzinfo=UTC))
    assert start.astimezone(BERLIN).isoformat() == "2026-10-25T02:00:00+01:00"
