"""The daily report email: yesterday's figures from the OMS database, sent to the operator once per day."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities import api
from activities.notifications import deliver
from domain.report import Period, Report, as_text, count_of, csv_rows
from settings import Settings
from store import notifications
from store.reports import build_report
from store.schema import Notification

DAILY_REPORT_KIND = "daily_report"


class ReportActivities:
    """Builds a day's report and emails it through the outbox, so a retried or repeated run never sends it twice."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def handlers(self) -> list[Callable[..., Awaitable[Any]]]:
        """The activities to register on a worker."""
        return [self.send_daily_report]

    @api.SEND_DAILY_REPORT.implementation
    async def send_daily_report(self, request: api.SendDailyReport) -> api.DailyReportSent:
        """Email the operator the report of `request.day` in shop time, unless it was sent already."""
        key = f"report:{DAILY_REPORT_KIND}:{request.day.isoformat()}"
        queued = await notifications.get_notification(self.sessions, key)
        if queued is not None and queued.status == notifications.SENT:
            return api.DailyReportSent(message_id=queued.message_id, headline=queued.subject, already_sent=True)
        zone = ZoneInfo(request.timezone)
        start = datetime.combine(request.day, time(0), tzinfo=zone)
        # The next midnight, not 24 hours on: a day with a DST change is 23 or 25 hours long.
        end = datetime.combine(request.day + timedelta(days=1), time(0), tzinfo=zone)
        report = await build_report(
            self.sessions,
            period=Period(since=start, until=end, timezone=request.timezone),
            rates=self.settings.exchange_rates,
            low_units=self.settings.low_stock_units,
            overstock_units=self.settings.overstock_units,
            now=datetime.now(UTC),
        )
        message = compose_daily_report(report, request, self.settings)
        queued = await notifications.enqueue(
            self.sessions,
            Notification(
                idempotency_key=key,
                order_id=f"report-{request.day.isoformat()}",
                kind=DAILY_REPORT_KIND,
                recipient=self.settings.operator_email,
                subject=str(message["Subject"]),
                message_id=str(message["Message-ID"]),
                created_at=datetime.now(UTC),
            ),
        )
        if queued.status == notifications.SENT:
            return api.DailyReportSent(message_id=queued.message_id, headline=queued.subject, already_sent=True)
        await deliver(self.sessions, self.settings, message, key)
        return api.DailyReportSent(message_id=queued.message_id, headline=str(message["Subject"]))


def compose_daily_report(report: Report, request: api.SendDailyReport, settings: Settings) -> EmailMessage:
    """The email: the headline figures in the subject, every table in the body, every figure as a CSV attachment."""
    day = request.day
    revenue = report.revenue
    message = EmailMessage()
    # Short enough for one header line: a folded subject reads with a leading space in some clients.
    message["Subject"] = (
        f"Daily report {day:%a %d %b %Y}: {count_of(report.orders.total, 'order')}, "
        f"{revenue.net_in_base.format()} net, {count_of(report.refunds.requested, 'refund')}"
    )
    message["From"] = formataddr((settings.shop_name, settings.mail_from))
    message["To"] = formataddr((f"{settings.shop_name} operator", settings.operator_email))
    message["Date"] = formatdate(usegmt=True)
    domain = settings.mail_from.rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<{DAILY_REPORT_KIND}.{day.isoformat()}@{domain}>"
    text = as_text(report)
    message.set_content(text + "\nEvery figure is in the attached CSV. `oms report --since DATE` shows any period.\n")
    message.add_alternative(f"<html><body><pre>{escape(text)}</pre></body></html>", subtype="html")
    rows = io.StringIO()
    csv.writer(rows).writerows(csv_rows(report))
    message.add_attachment(
        rows.getvalue().encode("utf-8"), maintype="text", subtype="csv", filename=f"report-{day.isoformat()}.csv"
    )
    return message
