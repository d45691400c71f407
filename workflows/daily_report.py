"""DailyReportWorkflow: what the `daily-report` Schedule starts each morning to email yesterday's report."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import api
    from domain.base import Frozen
    from domain.calendar import BusinessCalendar
    from workflows import steps

SCHEDULE_ID = "daily-report"


class DailyReport(Frozen):
    """Input the Schedule starts every run with: the shop's time zone, in which "yesterday" is counted."""

    timezone: str


@workflow.defn
class DailyReportWorkflow:
    """Email the report of the shop-local day before the one this run started on."""

    @workflow.run
    async def run(self, request: DailyReport) -> api.DailyReportSent:
        """Work out yesterday in shop time and have the report sent; a repeated run of the day sends nothing."""
        # The calendar's zone is imported outside the sandbox, which hides zoneinfo from workflow code.
        today = BusinessCalendar(timezone=request.timezone).local_date(workflow.now())
        yesterday = today - timedelta(days=1)
        workflow.set_current_details(f"report of {yesterday.isoformat()} ({request.timezone})")
        return await steps.call(
            api.SEND_DAILY_REPORT,
            api.SendDailyReport(day=yesterday, timezone=request.timezone),
            summary=f"email the report of {yesterday.isoformat()}",
            # Building the report reads every order of the day; on a big shop that is seconds, not milliseconds.
            timeout=timedelta(minutes=5),
            retry=steps.MAIL_RETRY,
        )
