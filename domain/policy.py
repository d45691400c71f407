"""The per-order policy a workflow is started with, so that workflows never read configuration themselves."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from domain.order import FulfilmentMode


class OrderPolicy(BaseModel):
    """Timings and modes fixed when the order is placed; a later configuration change leaves running orders alone."""

    model_config = ConfigDict(frozen=True)

    mode: FulfilmentMode = FulfilmentMode.AUTO
    warehouse: str = "main"
    pick_duration: timedelta = timedelta(seconds=2)
    pack_duration: timedelta = timedelta(seconds=2)
    tracking_poll_interval: timedelta = timedelta(seconds=5)
    backorder_recheck_interval: timedelta = timedelta(hours=1)
    payment_due: timedelta = timedelta(days=7)
    survey_delay: timedelta = timedelta(days=3)
    feedback_window: timedelta = timedelta(days=14)
    refund_window: timedelta = timedelta(days=30)
