"""NewOrderDigestWorkflow: what the `new-order-digest` Schedule starts each hour to email the hour's new orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from pydantic import Field
from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from activities import api
    from domain.base import Frozen
    from domain.calendar import BusinessCalendar
    from workflows import steps

SCHEDULE_ID = "new-order-digest"
# Temporal sets this on every run a Schedule starts: the time it was due, however late the run actually starts.
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
HOUR = timedelta(hours=1)


class NewOrderDigest(Frozen):
    """Input the Schedule starts every run with: the shop's time zone; a run started by hand may name its hour."""

    timezone: str
    hour: datetime | None = Field(
        None,
        description="Any moment of the hour to send (shop time unless it has an offset); "
        "default: the full hour before the run was due.",
    )


@workflow.defn
class NewOrderDigestWorkflow:
    """Email the operator the orders placed in one full shop-local hour: by default the one before this run was due."""

    @workflow.run
    async def run(self, request: NewOrderDigest) -> api.NewOrderDigestSent:
        """Work out the hour and have its digest sent; an hour without orders, or already sent, sends nothing."""
        # The calendar's zone is imported outside the sandbox, which hides zoneinfo from workflow code.
        zone = BusinessCalendar(timezone=request.timezone).zone
        if request.hour is not None:
            start, end = hour_of(request.hour, zone)
        else:
            info = workflow.info()
            due = info.typed_search_attributes.get(SCHEDULED_START) or info.workflow_start_time
            start, end = hour_before(due, zone)
        hour = f"{start.astimezone(zone):%Y-%m-%d %H:%M}-{end.astimezone(zone):%H:%M} ({request.timezone})"
        workflow.set_current_details(f"new orders placed {hour}")
        return await steps.call(
            api.SEND_NEW_ORDER_DIGEST,
            api.SendNewOrderDigest(start=start, end=end, timezone=request.timezone),
            summary=f"email the new orders of {hour}",
            timeout=timedelta(minutes=1),
            retry=steps.MAIL_RETRY,
        )


def hour_of(moment: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """The shop-local hour `moment` falls in (a moment without an offset is shop time): its start and end, in UTC."""
    local = (moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)).astimezone(zone)
    # Whole hours in shop time, not UTC: in a zone half an hour off UTC the two hours differ.
    start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return start, start + HOUR


def hour_before(moment: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """The last full shop-local hour before `moment`: its start and end, in UTC."""
    start, _ = hour_of(moment, zone)
    return start - HOUR, start
