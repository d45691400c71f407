"""`oms schedule daily-report`: a Temporal Schedule that emails the operator yesterday's report, once per day."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, ScheduleHandle
from temporalio.service import RPCError

from activities import api
from domain.order import Channel, PaymentMethod
from domain.status import OrderStatus
from store import orders
from tests.integration.conftest import Shop
from tests.integration.test_refunds import oms
from tests.store.report_dataset import order_view
from workflows.daily_report import SCHEDULE_ID

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
async def yesterday(shop: Shop) -> AsyncIterator[datetime]:
    """Two orders placed yesterday at noon shop time, one today; the schedule is removed afterwards."""
    today = datetime.now(BERLIN).date()
    noon = datetime.combine(today - timedelta(days=1), time(12), tzinfo=BERLIN).astimezone(UTC)
    for order_id, total, placed in (("web-Y1", "20.00", noon), ("web-Y2", "10.50", noon), ("web-T1", "99.00", None)):
        when = placed or datetime.now(UTC)
        view = order_view(
            order_id,
            Channel.WEB,
            PaymentMethod.CARD,
            [("MUG-ENAMEL", 1, total)],
            "0.00",
            "EUR",
            [(OrderStatus.RECEIVED, when), (OrderStatus.PAID, when + timedelta(seconds=1))],
        )
        await orders.project(shop.sessions, view)
    try:
        yield noon
    finally:
        # A test that failed before scheduling leaves nothing to remove.
        with contextlib.suppress(RPCError):
            await shop.client.get_schedule_handle(SCHEDULE_ID).delete()


async def runs_of(client: Client, schedule: ScheduleHandle, count: int) -> list[api.DailyReportSent]:
    """The results of the schedule's first `count` runs, once they have finished."""
    for _ in range(200):
        actions = (await schedule.describe()).info.recent_actions
        if len(actions) >= count:
            break
        await asyncio.sleep(0.1)
    results = []
    for action in actions[:count]:
        assert isinstance(action.action, ScheduleActionExecutionStartWorkflow)
        handle = client.get_workflow_handle(action.action.workflow_id, result_type=api.DailyReportSent)
        results.append(await handle.result())
    return results


async def test_the_daily_report_is_scheduled_at_the_shop_local_time(shop: Shop, yesterday: datetime) -> None:
    code, out, err = await oms(shop.settings, "schedule", "daily-report", "--at", "07:30")

    assert code == 0, err
    assert "daily report at 07:30 Europe/Berlin every day to operator@demo-shop.example" in out
    description = await shop.client.get_schedule_handle(SCHEDULE_ID).describe()
    spec = description.schedule.spec
    assert spec.time_zone_name == "Europe/Berlin"
    assert [(c.hour[0].start, c.minute[0].start) for c in spec.calendars] == [(7, 30)]
    next_run = description.info.next_action_times[0].astimezone(BERLIN)
    assert (next_run.hour, next_run.minute) == (7, 30)


async def test_setting_the_time_again_moves_the_schedule_instead_of_adding_one(shop: Shop, yesterday: datetime) -> None:
    await oms(shop.settings, "schedule", "daily-report", "--at", "07:30")

    code, _, err = await oms(shop.settings, "schedule", "daily-report", "--at", "18:05")

    assert code == 0, err
    spec = (await shop.client.get_schedule_handle(SCHEDULE_ID).describe()).schedule.spec
    assert [(c.hour[0].start, c.minute[0].start) for c in spec.calendars] == [(18, 5)]


async def test_a_triggered_run_emails_the_operator_yesterdays_report_once(shop: Shop, yesterday: datetime) -> None:
    await oms(shop.settings, "schedule", "daily-report", "--at", "08:00")
    schedule = shop.client.get_schedule_handle(SCHEDULE_ID)

    code, _, err = await oms(shop.settings, "schedule", "trigger")
    assert code == 0, err
    [first] = await runs_of(shop.client, schedule, 1)
    await oms(shop.settings, "schedule", "trigger")
    [_, second] = await runs_of(shop.client, schedule, 2)

    day = yesterday.astimezone(BERLIN).date()
    reports = shop.mailbox.with_subject("Daily report")
    assert len(reports) == 1
    [email] = reports
    assert email["To"] == "Demo Shop operator <operator@demo-shop.example>"
    # Yesterday's two orders, not today's.
    assert email["Subject"] == f"Daily report {day:%a %d %b %Y}: 2 orders, 30.50 EUR net, 0 refunds"
    body = email.get_body(preferencelist=("plain",))
    assert body is not None
    assert "30.50 EUR" in body.get_content()
    [attachment] = list(email.iter_attachments())
    assert attachment.get_filename() == f"report-{day.isoformat()}.csv"
    assert "revenue,total,EUR,net_in_base,30.50" in attachment.get_content()
    assert (first.already_sent, second.already_sent) == (False, True)
    assert first.message_id == second.message_id == email["Message-ID"]


async def test_a_bad_time_is_refused_naming_the_option(shop: Shop) -> None:
    code, _, err = await oms(shop.settings, "schedule", "daily-report", "--at", "8 am")

    assert code == 1
    assert err.strip() == "error: --at '8 am': not a time of day; use HH:MM, e.g. 08:00"


async def test_triggering_without_a_schedule_says_how_to_set_one(shop: Shop) -> None:
    code, _, err = await oms(shop.settings, "schedule", "trigger")

    assert code == 1
    assert "no daily report is scheduled; set one with `oms schedule daily-report --at 08:00`" in err
