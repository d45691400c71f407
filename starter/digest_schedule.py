"""The hourly new-order digest as a Temporal Schedule, kept as OMS_NEW_ORDER_EMAIL says by `oms up` and every
worker at start (apart from `starter.schedules`, so that a worker does not load the command line for it)."""

from __future__ import annotations

from dataclasses import replace as replace_fields
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
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
from workflows import new_order_digest
from workflows.new_order_digest import NewOrderDigest, NewOrderDigestWorkflow

# The digest of 13:00-14:00 goes at 14:05: orders placed in the hour's last moments reach the read model meanwhile.
DIGEST_MINUTE = 5
# A Temporal server that was down sends the digests of the hours it missed, up to this many hours back.
DIGEST_CATCHUP_WINDOW = timedelta(hours=6)


async def apply_new_order_email(client: Client, settings: Settings) -> str:
    """Create or update the `new-order-digest` Schedule when OMS_NEW_ORDER_EMAIL is hourly, remove it otherwise.

    For `oms up` and `oms worker` at start; says in one line how new orders reach the operator.
    """
    handle = client.get_schedule_handle(new_order_digest.SCHEDULE_ID)
    if settings.new_order_email != "hourly":
        try:
            await handle.delete()
            removed = f"; hourly digest Schedule {new_order_digest.SCHEDULE_ID!r} removed"
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
            removed = ""
        if settings.new_order_email == "off":
            return f"new-order emails: off{removed}"
        return f"new-order emails: one per order to {settings.operator_email}{removed}"
    wanted = new_order_digest_schedule(settings)
    try:
        await client.create_schedule(new_order_digest.SCHEDULE_ID, wanted)
    except ScheduleAlreadyRunningError:

        def replace(existing: ScheduleUpdateInput) -> ScheduleUpdate:
            # A pause set in Temporal UI survives a restart; everything else is what the settings say now.
            paused = existing.description.schedule.state.paused
            return ScheduleUpdate(schedule=replace_fields(wanted, state=replace_fields(wanted.state, paused=paused)))

        await handle.update(replace)
    return (
        f"new-order emails: an hourly digest to {settings.operator_email} at :{DIGEST_MINUTE:02d} "
        f"{settings.timezone} (Temporal Schedule {new_order_digest.SCHEDULE_ID!r})"
    )


def new_order_digest_schedule(settings: Settings) -> Schedule:
    """The Schedule that starts NewOrderDigestWorkflow every hour, a few minutes past, for the hour before."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            NewOrderDigestWorkflow.run,
            NewOrderDigest(timezone=settings.timezone),
            id=new_order_digest.SCHEDULE_ID,
            task_queue=settings.task_queue,
            execution_timeout=timedelta(hours=6),
            static_summary="email the operator the last hour's new orders",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    hour=[ScheduleRange(0, 23)],
                    minute=[ScheduleRange(DIGEST_MINUTE)],
                    comment=f"hourly at :{DIGEST_MINUTE:02d}",
                )
            ],
            time_zone_name=settings.timezone,
        ),
        # Each run sends its own hour, so runs never get in each other's way: a catch-up sends every missed hour.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL, catchup_window=DIGEST_CATCHUP_WINDOW),
        state=ScheduleState(
            note=f"the last hour's new orders to {settings.operator_email} hourly at :{DIGEST_MINUTE:02d} "
            f"{settings.timezone} (OMS_NEW_ORDER_EMAIL=hourly)"
        ),
    )
