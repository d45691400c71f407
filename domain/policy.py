"""The per-order policy a workflow is started with, so that workflows never read configuration themselves."""

from __future__ import annotations

from datetime import time, timedelta

from pydantic import Field

from domain.base import Frozen
from domain.calendar import BusinessCalendar, WorkingHours
from domain.order import FulfilmentMode


class OrderPolicy(Frozen):
    """Timings and modes fixed when the order is placed; a later configuration change leaves running orders alone.

    Fields added after the first release have defaults that reproduce the earlier behaviour, so orders started
    before them replay unchanged.
    """

    mode: FulfilmentMode = FulfilmentMode.AUTO
    warehouse: str = "main"
    pick_duration: timedelta = timedelta(seconds=2)
    pack_duration: timedelta = timedelta(seconds=2)
    tracking_poll_interval: timedelta = timedelta(seconds=5)
    tracking_poll_max_interval: timedelta = Field(
        timedelta(hours=1), description="Quiet polls back off, doubling up to this."
    )
    backorder_recheck_interval: timedelta = timedelta(hours=1)
    # The next three bound how far a long-lived order's history can grow. None: as orders placed before they
    # existed run, which replay so: rechecks at a fixed interval, polls until delivered.
    backorder_recheck_max_interval: timedelta | None = Field(
        None, description="Rechecks with no stock arriving back off, doubling up to this."
    )
    tracking_give_up_after: timedelta | None = Field(
        None, description="After this in transit the carrier is no longer polled; a delivery event still counts."
    )
    max_refunds: int = Field(50, ge=1, description="Refunds one order takes, partial ones included.")
    payment_due: timedelta = Field(timedelta(days=7), description="Used only when no business-day count is set.")
    payment_due_business_days: int | None = None
    survey_delay: timedelta = timedelta(days=3)
    feedback_window: timedelta = timedelta(days=14)
    refund_window: timedelta = timedelta(days=30)
    calendar: BusinessCalendar = Field(default_factory=BusinessCalendar)
    warehouse_hours: WorkingHours = Field(default_factory=WorkingHours)
    refund_sla_business_days: int = 5
    refund_reminder_time: time = time(9, 0)
    warehouse_task_queue: str | None = Field(
        None, description="Where automated picking and packing run (workers at the warehouse); None: the order's own."
    )


def duration_text(span: timedelta) -> str:
    """A policy's span as a person writes it: `14 days`, `1 day`, `6 hours`, `90 minutes`; odd spans as Python does."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return str(span)
