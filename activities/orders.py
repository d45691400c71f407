"""The order read model: the projection written at every status change, the customer's feedback, and refunds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import api
from activities.new_orders import queue_new_order_email
from activities.notifications import emails_to_queue
from domain.emails import EmailKind
from domain.progress import OrderChanges, ReadModelBehind
from domain.view import OrderView
from settings import Settings
from store import notifications, orders, refunds
from store.transaction import one_transaction

# What a step's outcome does to the order's view (a `domain.progress` function with its arguments bound), and the
# emails it sends.
Outcome = Callable[[OrderView], list[EmailKind]]


async def write_order(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    changes: OrderChanges,
    outcome: Outcome | None = None,
) -> OrderView:
    """Take the workflow's changes into the read model, then the step's `outcome`, and queue every email they send;
    the order's view as written. Call it inside the step's transaction (`one_transaction`), with the side effect.

    The outcome is version `changes.version + 1`, which the workflow keeps free for it. A late retry of a step whose
    transaction already committed writes nothing older over what is stored, and finds its emails queued.
    """
    stored = await orders.stored_view(sessions, changes.order_id)
    try:
        view = changes.applied_to(stored)
    except ReadModelBehind as behind:
        raise ApplicationError(str(behind), type=api.ErrorType.READ_MODEL_BEHIND, non_retryable=True) from behind
    emails = list(changes.emails)
    if outcome is not None:
        emails += outcome(view)
        view.version = changes.version + 1
    # Every write retakes its version: the workflow reuses a version only for the same step, and what it goes on
    # with is the last attempt's (a retried activity's fresher answer, a local activity run again after its
    # workflow task was lost).
    await orders.write_over(sessions, view, stored, retake=True)
    for kind in emails:
        for row in emails_to_queue(kind, view, settings, now=changes.at):
            await notifications.queue(sessions, row)
    if stored is None and settings.new_order_email == "each":
        for row in emails_to_queue(api.EmailKind.NEW_ORDER, view, settings):
            await notifications.queue(sessions, row)
    return view


class OrderActivities:
    """Keeps the `orders`, `feedback` and `refunds` tables that operator lists and reports read."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def handlers(self) -> list[Callable[..., Awaitable[Any]]]:
        """The activities to register on a worker."""
        return [self.project_order, self.store_order, self.record_feedback, self.record_refund]

    @api.STORE_ORDER.implementation
    async def store_order(self, request: api.StoreOrder) -> api.OrderStored:
        """Write the order's changes and queue their emails, in one transaction (a local activity: no side effect
        of its own, and the order is about to wait)."""
        async with one_transaction(self.sessions) as shared:
            view = await write_order(shared, self.settings, request.changes)
        return api.OrderStored(version=view.version)

    @api.PROJECT_ORDER.implementation
    async def project_order(self, request: api.ProjectOrder) -> api.Projected:
        """Write the order's view into the read model; a late retry of an older version changes nothing.

        With OMS_NEW_ORDER_EMAIL=each, an order's first projection also queues the operator's email about it.
        """
        order = request.order
        if await self._first_sight(order):
            # Queued before the order is written, so no crash in between can lose it; the mail relay, which sends
            # it, waits for the order to be in the read model. A retry finds it queued and queues nothing more.
            await queue_new_order_email(self.sessions, self.settings, order)
        version = await orders.project(self.sessions, order)
        if version > order.version:
            activity.logger.info(
                "order %s: read model already holds version %d; version %d left alone",
                order.order_id,
                version,
                order.version,
            )
        return api.Projected(order_id=order.order_id, version=version)

    async def _first_sight(self, order: OrderView) -> bool:
        """True when the operator is to be told about this order now: the read model has never held it."""
        if self.settings.new_order_email != "each":
            return False
        # Only an order's first projection can be its first sight: later ones save the look-up.
        return order.version <= 1 and await orders.stored_version(self.sessions, order.order_id) is None

    @api.RECORD_FEEDBACK.implementation
    async def record_feedback(self, request: api.RecordFeedback) -> api.Projected:
        """Keep the customer's rating and comment; a repeat of the same order's feedback is a no-op."""
        await orders.record_feedback(self.sessions, request.order_id, request.rating, request.comment, request.at)
        version = await orders.stored_version(self.sessions, request.order_id)
        return api.Projected(order_id=request.order_id, version=version or 0)

    @api.RECORD_REFUND.implementation
    async def record_refund(self, request: api.RecordRefund) -> api.RefundRecorded:
        """Write the refund as it stands; a late retry of an earlier state never moves the stored one back."""
        try:
            stored = await refunds.record_refund(self.sessions, request.order_id, request.refund)
        except refunds.RefundOfAnotherOrder as clash:
            # The same id under another order is a workflow bug that no retry can fix.
            raise ApplicationError(str(clash), non_retryable=True) from clash
        return api.RefundRecorded(refund_id=stored.refund_id, state=stored.state.value)
