"""The order read model: the projection written at every status change, the customer's feedback, and refunds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import api
from settings import Settings
from store import orders, refunds


class OrderActivities:
    """Keeps the `orders`, `feedback` and `refunds` tables that operator lists and reports read."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def handlers(self) -> list[Callable[..., Awaitable[Any]]]:
        """The activities to register on a worker."""
        return [self.project_order, self.record_feedback, self.record_refund]

    @activity.defn(name=api.PROJECT_ORDER)
    async def project_order(self, request: api.ProjectOrder) -> api.Projected:
        """Write the order's view into the read model; a late retry of an older version changes nothing."""
        order = request.order
        version = await orders.project(self.sessions, order)
        if version > order.version:
            activity.logger.info(
                "order %s: read model already holds version %d; version %d left alone",
                order.order_id,
                version,
                order.version,
            )
        return api.Projected(order_id=order.order_id, version=version)

    @activity.defn(name=api.RECORD_FEEDBACK)
    async def record_feedback(self, request: api.RecordFeedback) -> api.Projected:
        """Keep the customer's rating and comment; a repeat of the same order's feedback is a no-op."""
        await orders.record_feedback(self.sessions, request.order_id, request.rating, request.comment, request.at)
        version = await orders.stored_version(self.sessions, request.order_id)
        return api.Projected(order_id=request.order_id, version=version or 0)

    @activity.defn(name=api.RECORD_REFUND)
    async def record_refund(self, request: api.RecordRefund) -> api.RefundRecorded:
        """Write the refund as it stands; a late retry of an earlier state never moves the stored one back."""
        try:
            stored = await refunds.record_refund(self.sessions, request.order_id, request.refund)
        except refunds.RefundOfAnotherOrder as clash:
            # The same id under another order is a workflow bug that no retry can fix.
            raise ApplicationError(str(clash), non_retryable=True) from clash
        return api.RefundRecorded(refund_id=stored.refund_id, state=stored.state.value)
