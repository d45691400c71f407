"""RefundWorkflow: the restock-and-notify child of an order that gives money and goods back within the SLA."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities import api
    from domain.base import Frozen
    from domain.calendar import BusinessCalendar
    from domain.commands import Command, MalformedCommand
    from domain.order import PaymentDetails
    from domain.refund import RefundKind, RefundPaidOut, RefundState, RefundView
    from domain.view import OrderView
    from workflows import handlers, steps

# The signal a refund sends its order whenever it gets further, so the order's `status` shows it live.
PROGRESS_SIGNAL = "refund_progress"
REFUND_QUERY = "refund"


class RefundOrder(Frozen):
    """Input of a refund: the order as it stood, the refund it accepted, and the rules for its deadline."""

    order: OrderView
    refund: RefundView
    payment: PaymentDetails
    calendar: BusinessCalendar
    sla_business_days: int = 5
    reminder_time: time = time(9, 0)
    # True: the refund's emails are queued in the outbox by a local activity, for the mail relay to send, and no
    # refund waits on an SMTP server. Refunds started before it existed (False) send theirs with `send_email`, and
    # replay that way. A field of the input rather than `workflow.patched`, whose marker would cost every refund a
    # search-attribute upsert (TemporalChangeVersion), a billable action.
    emails_through_the_outbox: bool = False


@workflow.defn
class RefundWorkflow:
    """Stop open fulfilment steps, give the goods back, pay the money back, tell the customer, record the result."""

    @workflow.init
    def __init__(self, request: RefundOrder) -> None:
        self._request = request
        self._refund = request.refund.model_copy(deep=True)
        self._paid_out: RefundPaidOut | None = None
        # Read raw, as the order reads its commands: a malformed payout sent from Temporal UI is logged in one line,
        # not dropped with a traceback, and input of several values cannot fail the refund's workflow task.
        workflow.set_signal_handler(
            Command.REFUND_PAID_OUT.value, handlers.one_input(lambda *inputs: self._payout_signalled(inputs))
        )

    @workflow.run
    async def run(self, request: RefundOrder) -> RefundView:
        """Carry the refund out and return it with `finished_at` and `within_sla`."""
        refund = self._refund
        refund.state = RefundState.RUNNING
        await self._record()

        await self._call(
            api.STOP_WAREHOUSE_TASKS,
            api.StopWarehouseTasks(order_id=self._order_id, reason=refund.reason),
        )
        returned = await self._call(
            api.RETURN_STOCK,
            api.ReturnStock(
                order_id=self._order_id,
                refund_id=refund.refund_id,
                lines=[
                    api.StockReturnLine(sku=line.sku, quantity=line.quantity, restock=line.restock)
                    for line in refund.lines
                ],
            ),
        )
        refund.released_units = returned.released
        refund.restocked_units = returned.restocked
        refund.written_off_units = returned.written_off
        await self._tell_order()

        owed = not refund.amount.is_zero
        paid_back = owed and not refund.needs_payout and await self._refund_through_gateway()
        if owed and not paid_back:
            await self._wait_for_payout()

        kind = api.EmailKind.REFUNDED if refund.kind is RefundKind.REFUND else api.EmailKind.CANCELLED
        await self._email(kind)

        refund.finished_at = workflow.now()
        refund.within_sla = refund.finished_at <= refund.deadline
        refund.state = RefundState.FINISHED
        await self._record()
        return refund

    def _payout_signalled(self, inputs: tuple[Any, ...]) -> None:
        """A person paid the money back by hand (`refund_paid_out`); the first word on it counts."""
        try:
            payout = handlers.read(Command.REFUND_PAID_OUT, inputs)
        except MalformedCommand as malformed:
            workflow.logger.warning("refund %s: refund_paid_out rejected: %s", self._refund.refund_id, malformed)
            return
        if self._paid_out is None and isinstance(payout, RefundPaidOut):
            self._paid_out = payout

    @workflow.query(name=REFUND_QUERY)
    def refund(self) -> RefundView:
        """The refund as it stands."""
        return self._refund

    # --- money --------------------------------------------------------------------------------------------

    async def _refund_through_gateway(self) -> bool:
        """Refund to the card or PayPal account; True once the gateway has paid it back.

        A gateway that is down is retried (server-side, backing off to hourly) for as long as it takes; if it is
        still not done when one business day is left, the shop is escalated to while the retries go on. A gateway
        that refuses outright hands the refund to a person.
        """
        refund = self._refund
        pay_back = steps.start(
            api.REFUND_PAYMENT,
            api.RefundPayment(
                order_id=self._order_id,
                refund_id=refund.refund_id,
                payment=self._request.payment,
                amount=refund.amount,
            ),
            summary=f"{api.REFUND_PAYMENT.name} {refund.refund_id}",
            timeout=steps.GATEWAY_TIMEOUT,
            retry=steps.REFUND_RETRY,
        )
        escalate_at = self._escalation_time()
        if not await self._wait_until(pay_back.done, escalate_at) and not pay_back.done():
            await self._escalate("the payment gateway has not confirmed the refund yet; it is retried hourly")
        try:
            paid = await pay_back
        except ActivityError as error:
            if steps.error_type(error) != api.ErrorType.REFUND_REJECTED:
                raise
            refund.last_error = steps.error_message(error)
            refund.needs_payout = True
            return False
        refund.last_error = None
        self._book(paid)
        return True

    async def _wait_for_payout(self) -> None:
        """Ask the operator to pay the money out, remind them each business day, escalate near the deadline."""
        refund = self._refund
        refund.state = RefundState.AWAITING_PAYOUT
        await self._email(api.EmailKind.REFUND_PAYOUT_REQUESTED)
        await self._record()
        await self._tell_order()
        escalate_at = self._escalation_time()
        while self._paid_out is None:
            next_reminder = self._next_reminder()
            wake = next_reminder if refund.escalated_at is not None else min(next_reminder, escalate_at)
            if await self._wait_until(lambda: self._paid_out is not None, wake):
                break
            if refund.escalated_at is None and workflow.now() >= escalate_at:
                await self._escalate("the payout has not been confirmed")
            else:
                refund.reminders_sent += 1
                await self._email(api.EmailKind.REFUND_REMINDER, sequence=refund.reminders_sent)
                await self._record()
        payout = self._paid_out
        paid = await self._call(
            api.RECORD_REFUND_PAYOUT,
            api.RecordRefundPayout(
                order_id=self._order_id,
                refund_id=refund.refund_id,
                method=refund.method,
                amount=refund.amount,
                reference=payout.reference if payout else None,
                by=payout.by if payout else None,
            ),
        )
        refund.payout_reference = payout.reference if payout else None
        refund.paid_out_by = payout.by if payout else None
        self._book(paid)

    def _book(self, paid: api.RefundPaid) -> None:
        self._refund.gateway_reference = paid.reference
        # The workflow's clock, like every other time in the order's story (the row keeps the worker's).
        self._refund.paid_at = workflow.now()
        self._refund.state = RefundState.RUNNING

    async def _escalate(self, why: str) -> None:
        refund = self._refund
        refund.escalated_at = workflow.now()
        refund.last_error = why
        await self._email(api.EmailKind.REFUND_ESCALATED)
        await self._record()
        await self._tell_order()

    # --- time ---------------------------------------------------------------------------------------------

    def _escalation_time(self) -> datetime:
        """When one business day is left: the end of the business day before the deadline's."""
        request = self._request
        return request.calendar.deadline(self._refund.requested_at, request.sla_business_days - 1)

    def _next_reminder(self) -> datetime:
        """The reminder time on the next business day."""
        calendar = self._request.calendar
        day = calendar.add_business_days(calendar.local_date(workflow.now()), 1)
        return calendar.at_local(day, self._request.reminder_time)

    async def _wait_until(self, condition: Callable[[], bool], at: datetime) -> bool:
        """Wait for `condition` until `at`; True if it came true."""
        if condition():
            return True
        left = at - workflow.now()
        if left <= timedelta(0):
            return False
        try:
            await workflow.wait_condition(condition, timeout=left)
        except TimeoutError:
            return condition()
        return True

    # --- bookkeeping --------------------------------------------------------------------------------------

    @property
    def _order_id(self) -> str:
        return self._request.order.order_id

    async def _email(self, kind: api.EmailKind, sequence: int = 0) -> None:
        summary = f"{kind.value} {self._refund.refund_id}"
        if self._request.emails_through_the_outbox:
            await steps.call_local(
                api.QUEUE_EMAIL,
                api.QueueEmail(
                    kind=kind, order=self._request.order, refund=self._refund, sequence=sequence, at=workflow.now()
                ),
                summary=f"{api.QUEUE_EMAIL.name} {summary}",
            )
            return
        await steps.call(
            api.SEND_EMAIL,
            api.SendEmail(kind=kind, order=self._request.order, refund=self._refund, sequence=sequence),
            summary=f"{api.SEND_EMAIL.name} {summary}",
            timeout=steps.EMAIL_TIMEOUT,
            retry=steps.MAIL_RETRY,
        )

    async def _record(self) -> None:
        await self._call(api.RECORD_REFUND, api.RecordRefund(order_id=self._order_id, refund=self._refund))

    async def _call(
        self, definition: api.ActivityDef[steps.RequestT, steps.ResultT], request: steps.RequestT
    ) -> steps.ResultT:
        return await steps.call(definition, request, summary=f"{definition.name} {self._refund.refund_id}")

    async def _tell_order(self) -> None:
        """Let the order show how far the refund has got; an order that has closed meanwhile needs no news."""
        parent = workflow.info().parent
        if parent is None:
            return
        try:
            await workflow.get_external_workflow_handle(parent.workflow_id, run_id=parent.run_id).signal(
                PROGRESS_SIGNAL, self._refund
            )
        except FailureError as error:  # a parent closed by hand: the refund still finishes, only the news is lost
            workflow.logger.info("refund %s: order not told of progress: %s", self._refund.refund_id, error)
