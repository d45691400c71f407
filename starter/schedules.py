"""Temporal Schedules: the daily report (`oms schedule`) and the hourly new-order digest (OMS_NEW_ORDER_EMAIL)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from settings import Settings
from starter.commandline import CommandFailed, fail, run
from worker import connect
from workflows.daily_report import SCHEDULE_ID, DailyReport, DailyReportWorkflow

schedule_app = typer.Typer(
    help="The daily report email as a Temporal Schedule: set its time, see it, run it now, remove it.",
    no_args_is_help=True,
)

# A Temporal server that was down at report time still sends that morning's report once it is back the same day.
CATCHUP_WINDOW = timedelta(hours=12)


@schedule_app.command("daily-report")
def daily_report(
    at: Annotated[str, typer.Option("--at", help="Shop-local time of day to send it, HH:MM (OMS_TIMEZONE).")] = "08:00",
) -> None:
    """Email the operator (OMS_OPERATOR_EMAIL) yesterday's report every day at this time; run again to change it."""
    try:
        send_at = time.fromisoformat(at.strip())
    except ValueError:
        fail(f"--at {at!r}: not a time of day; use HH:MM, e.g. 08:00")
    if send_at.second or send_at.microsecond:
        fail(f"--at {at!r}: give hours and minutes only, e.g. 08:00")

    async def schedule(settings: Settings) -> str:
        client = await connect(settings)
        wanted = daily_report_schedule(settings, send_at)
        try:
            await client.create_schedule(SCHEDULE_ID, wanted)
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=wanted)

            await client.get_schedule_handle(SCHEDULE_ID).update(replace)
        next_run = await _next_run(client)
        when = f"; next {_shop_time(next_run, settings)}" if next_run else ""
        return (
            f"daily report at {send_at:%H:%M} {settings.timezone} every day to {settings.operator_email}{when} "
            f"(Temporal Schedule {SCHEDULE_ID!r})"
        )

    typer.echo(run(schedule))


@schedule_app.command("show")
def show() -> None:
    """Show the daily report's schedule: its time, the next runs and how the last ones went."""

    async def describe(settings: Settings) -> list[str]:
        client = await connect(settings)
        try:
            description = await client.get_schedule_handle(SCHEDULE_ID).describe()
        except RPCError as error:
            raise _not_scheduled(error) from None
        info = description.info
        lines = [f"{SCHEDULE_ID}: {description.schedule.state.note or ''}".rstrip()]
        if description.schedule.state.paused:
            lines.append("paused")
        lines += [f"next: {_shop_time(moment, settings)}" for moment in info.next_action_times[:3]]
        lines += [
            f"ran: {_shop_time(action.scheduled_at, settings)} as workflow {action.action.workflow_id}"
            for action in info.recent_actions[-3:]
            if isinstance(action.action, ScheduleActionExecutionStartWorkflow)
        ]
        return lines

    for line in run(describe):
        typer.echo(line)


@schedule_app.command("trigger")
def trigger() -> None:
    """Send yesterday's report now (it goes out once per day however often it is asked for)."""

    async def now(settings: Settings) -> None:
        client = await connect(settings)
        try:
            await client.get_schedule_handle(SCHEDULE_ID).trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
        except RPCError as error:
            raise _not_scheduled(error) from None

    run(now)
    typer.echo("daily report started; it reaches the operator in a few seconds if a worker is running")


@schedule_app.command("remove")
def remove() -> None:
    """Stop sending the daily report."""

    async def delete(settings: Settings) -> None:
        client = await connect(settings)
        try:
            await client.get_schedule_handle(SCHEDULE_ID).delete()
        except RPCError as error:
            raise _not_scheduled(error) from None

    run(delete)
    typer.echo("daily report removed")


def daily_report_schedule(settings: Settings, send_at: time) -> Schedule:
    """The Schedule that starts DailyReportWorkflow every day at `send_at` shop time."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            DailyReportWorkflow.run,
            DailyReport(timezone=settings.timezone),
            id=SCHEDULE_ID,
            task_queue=settings.task_queue,
            execution_timeout=timedelta(hours=6),
            static_summary="email the operator yesterday's report",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    hour=[ScheduleRange(send_at.hour)],
                    minute=[ScheduleRange(send_at.minute)],
                    comment=f"daily at {send_at:%H:%M}",
                )
            ],
            time_zone_name=settings.timezone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP_WINDOW),
        state=ScheduleState(
            note=f"yesterday's report to {settings.operator_email} daily at {send_at:%H:%M} {settings.timezone}"
        ),
    )


async def _next_run(client: Client) -> datetime | None:
    description = await client.get_schedule_handle(SCHEDULE_ID).describe()
    upcoming = description.info.next_action_times
    return upcoming[0] if upcoming else None


def _shop_time(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(ZoneInfo(settings.timezone)).strftime("%a %d %b %Y %H:%M %Z")


def _not_scheduled(error: RPCError) -> CommandFailed:
    if error.status is RPCStatusCode.NOT_FOUND:
        return CommandFailed("no daily report is scheduled; set one with `oms schedule daily-report --at 08:00`")
    return CommandFailed(f"Temporal refused the request for schedule {SCHEDULE_ID!r}: {error.message}")
