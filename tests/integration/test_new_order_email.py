"""New-order emails on the dev server: the worker relays one per order, or the hourly digest runs on a Schedule."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import ScheduleActionExecutionStartWorkflow, ScheduleDescription, ScheduleHandle
from temporalio.service import RPCError, RPCStatusCode

from activities import api
from domain.status import OrderStatus
from settings import Settings
from starter.digest_schedule import apply_new_order_email
from store import orders
from tests.activities.fixtures_views import placed_order, view_of
from tests.integration.conftest import Shop
from tests.sample_orders import an_order
from worker import run_worker
from workflows.new_order_digest import SCHEDULE_ID, NewOrderDigest, NewOrderDigestWorkflow, hour_before, hour_of

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
async def digest_schedule(shop: Shop) -> AsyncIterator[ScheduleHandle]:
    """The digest Schedule's handle; whatever a test left of it is removed afterwards."""
    handle = shop.client.get_schedule_handle(SCHEDULE_ID)
    try:
        yield handle
    finally:
        with contextlib.suppress(RPCError):
            await handle.delete()


def hourly(shop: Shop) -> Settings:
    """The shop's settings with OMS_NEW_ORDER_EMAIL=hourly."""
    return shop.settings.model_copy(update={"new_order_email": "hourly"})


@contextlib.asynccontextmanager
async def worker_running(settings: Settings) -> AsyncIterator[None]:
    """`oms worker` in this process, as `oms worker` runs it, until the block ends."""
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(settings, stop))
    try:
        yield
    finally:
        stop.set()
        await running


async def test_hourly_schedules_the_digest_at_five_past_every_hour_in_shop_time(
    shop: Shop, digest_schedule: ScheduleHandle
) -> None:
    said = await apply_new_order_email(shop.client, hourly(shop))

    assert said == (
        "new-order emails: an hourly digest to operator@demo-shop.example at :05 Europe/Berlin "
        "(Temporal Schedule 'new-order-digest')"
    )
    description = await digest_schedule.describe()
    spec = description.schedule.spec
    assert spec.time_zone_name == "Europe/Berlin"
    [calendar] = spec.calendars
    assert [(r.start, r.end) for r in calendar.hour] == [(0, 23)]
    assert [(r.start, r.end) for r in calendar.minute] == [(5, 5)]
    upcoming = [moment.astimezone(BERLIN) for moment in description.info.next_action_times[:3]]
    assert {moment.minute for moment in upcoming} == {5}
    assert [later - earlier for earlier, later in itertools.pairwise(upcoming)] == [timedelta(hours=1)] * 2


@pytest.mark.parametrize(("setting", "said"), [("each", "one per order to operator@demo-shop.example"), ("off", "off")])
async def test_each_and_off_remove_the_digest_schedule(
    shop: Shop, digest_schedule: ScheduleHandle, setting: str, said: str
) -> None:
    await apply_new_order_email(shop.client, hourly(shop))

    answer = await apply_new_order_email(shop.client, shop.settings.model_copy(update={"new_order_email": setting}))

    assert answer == f"new-order emails: {said}; hourly digest Schedule 'new-order-digest' removed"
    with pytest.raises(RPCError) as missing:
        await digest_schedule.describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND
    again = await apply_new_order_email(shop.client, shop.settings.model_copy(update={"new_order_email": setting}))
    assert again == f"new-order emails: {said}"


async def test_a_triggered_digest_emails_the_last_hours_orders_and_a_rerun_of_the_hour_sends_nothing(
    shop: Shop, digest_schedule: ScheduleHandle
) -> None:
    this_hour, _ = hour_of(datetime.now(UTC), BERLIN)
    # One order in each of the last three hours: the run lists the one of the hour before it was due.
    placed = {"H2": this_hour - timedelta(minutes=90), "H1": this_hour - timedelta(minutes=30), "H0": this_hour}
    for external_id, at in placed.items():
        await orders.project(shop.sessions, view_of(placed_order(external_id=external_id), placed_at=at))
    await apply_new_order_email(shop.client, hourly(shop))

    await digest_schedule.trigger()
    [(due, first)] = await finished_runs(shop, digest_schedule, 1)
    start, end = hour_before(due, BERLIN)
    again = await shop.client.execute_workflow(
        NewOrderDigestWorkflow.run,
        NewOrderDigest(timezone="Europe/Berlin", hour=start),
        id=f"{SCHEDULE_ID}-by-hand-{uuid.uuid4()}",
        task_queue=shop.settings.task_queue,
    )

    [expected] = [f"web-{external_id}" for external_id, at in placed.items() if start <= at < end]
    [digest] = shop.mailbox.with_subject("new order")
    text = digest.get_body(preferencelist=("plain",))
    assert text is not None
    assert expected in text.get_content()
    assert (first.orders, first.already_sent) == (1, False)
    assert again == api.NewOrderDigestSent(orders=1, message_id=digest["Message-ID"], already_sent=True)


async def with_subject(shop: Shop, text: str) -> list[EmailMessage]:
    """The emails whose subject contains `text`, once there is one."""
    for _ in range(300):
        found = shop.mailbox.with_subject(text)
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no email with {text!r} in its subject arrived")


async def described(schedule: ScheduleHandle) -> ScheduleDescription:
    """The schedule's description, once it exists."""
    for _ in range(300):
        try:
            return await schedule.describe()
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
        await asyncio.sleep(0.1)
    raise AssertionError(f"schedule {schedule.id} never appeared")


async def finished_runs(
    shop: Shop, schedule: ScheduleHandle, count: int
) -> list[tuple[datetime, api.NewOrderDigestSent]]:
    """When each of the schedule's first `count` runs was due, and its result once it has finished."""
    for _ in range(200):
        actions = (await schedule.describe()).info.recent_actions
        if len(actions) >= count:
            break
        await asyncio.sleep(0.1)
    runs = []
    for action in actions[:count]:
        assert isinstance(action.action, ScheduleActionExecutionStartWorkflow)
        handle = shop.client.get_workflow_handle(action.action.workflow_id, result_type=api.NewOrderDigestSent)
        runs.append((action.scheduled_at, await handle.result()))
    return runs


async def test_the_worker_relays_one_email_per_placed_order_to_the_operator(shop: Shop) -> None:
    async with worker_running(shop.settings):
        order_id = await shop.place(an_order())
        await shop.wait_for(order_id, OrderStatus.COMPLETED)
        [email] = await with_subject(shop, "new order")

    assert email["To"] == "Demo Shop operator <operator@demo-shop.example>"
    assert email["Subject"] == f"Demo Shop: new order {order_id}, 29.80 EUR from web"
    assert len(shop.mailbox.with_subject("new order")) == 1


async def test_the_worker_puts_the_digest_on_its_schedule_when_the_setting_is_hourly(
    shop: Shop, digest_schedule: ScheduleHandle
) -> None:
    async with worker_running(hourly(shop)):
        description = await described(digest_schedule)

    assert description.schedule.spec.time_zone_name == "Europe/Berlin"
