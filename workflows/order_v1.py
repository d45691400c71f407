"""The first order workflow (type `OrderWorkflow`): kept, unchanged in behaviour, until the orders it started drain.

Every status change is an activity of its own here, and every email another; `workflows.order` builds on this
class and does a step in one round trip. Its commands, queries and refund handling are shared with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities import api
    from domain.base import Frozen
    from domain.commands import (
        UNKNOWN_SIGNAL_REJECTED,
        Command,
        CommandPayload,
        Complete,
        Confirmation,
        DeliveryEvent,
        Feedback,
        OrderSituation,
        Packed,
        PaymentReceived,
        Picked,
        Shipped,
        StockArrived,
        shop_time,
    )
    from domain.money import Money
    from domain.order import FulfilmentMode, Order, PaymentMethod
    from domain.policy import OrderPolicy, duration_text
    from domain.refund import (
        Actor,
        Cancel,
        Refund,
        RefundKind,
        RefundLine,
        RefundPaidOut,
        RefundView,
        plan_refund,
    )
    from domain.status import OrderStatus, refusal
    from domain.view import (
        OrderView,
        PaymentState,
        PaymentView,
        ShipmentView,
        TimelineEntry,
        TimelineEvent,
        Totals,
        carrier_scan,
        email_sent,
    )
    from workflows import handlers, search, steps
    from workflows.refund import PROGRESS_SIGNAL, RefundOrder, RefundWorkflow
    from workflows.search import REFUND_DEADLINE

STATUS_QUERY = "status"
# Workflow patches (`workflow.patched`): behaviour changed after orders had already run with the earlier code.
STOP_AT_NEXT_ACTIVITY = "stop-at-next-activity"
TRACKING_BACKOFF = "tracking-backoff"
UPDATE_THEN_ACTIVITY = "update-then-activity"
# Refused Signals an order notes in its timeline; the rest are only logged.
REJECTIONS_NOTED = 100

S = OrderStatus
E = TimelineEvent


def workflow_id(order_id: str) -> str:
    """The order workflow's id: the business key, so the same channel order can never start twice."""
    return f"order-{order_id}"


class PlaceOrder(Frozen):
    """Input of an order workflow: the validated order and the policy fixed at placement."""

    order: Order
    policy: OrderPolicy
    # Who placed it from the console or the CLI; None when a channel's own intake did. Optional: orders started
    # before it existed decode without it.
    placed_by: Actor | None = None


@workflow.defn(name="OrderWorkflow")
class OrderWorkflowV1:
    """The life story of one order: payment, stock, picking, packing, shipping, delivery, completion, follow-up."""

    @workflow.init
    def __init__(self, place: PlaceOrder) -> None:
        self._order = place.order
        self._policy = place.policy
        self._placed_by = place.placed_by
        now = workflow.now()
        order = place.order
        self._view = OrderView(
            order_id=order.order_id,
            workflow_id=workflow_id(order.order_id),
            channel=order.channel,
            external_id=order.external_id,
            status=S.RECEIVED,
            operator_list=S.RECEIVED.operator_list,
            mode=place.policy.mode,
            customer=order.customer,
            shipping_address=order.shipping_address,
            lines=order.lines,
            totals=Totals(subtotal=order.subtotal, shipping=order.shipping, total=order.total),
            payment=PaymentView(method=order.payment.method, reference=order.payment.reference),
            placed_at=now,
            updated_at=now,
        )
        # What operators, carriers and banks have told the order and the run loop has not yet acted on.
        self._payment_received: PaymentReceived | None = None
        self._picked: Picked | None = None
        self._packed: Packed | None = None
        self._shipped: Shipped | None = None
        self._complete: Complete | None = None
        self._delivered = False
        self._stock_arrived = False
        self._feedback: Feedback | None = None
        self._feedback_closed = False
        self._open_task: api.TaskKind | None = None
        self._completed = False
        # Refunds accepted and not yet started, payouts to pass on to the running refund, and the refund or
        # cancellation that ends the order (once accepted, no other command can change the order).
        self._refunds_to_start: list[RefundView] = []
        self._payouts: list[RefundPaidOut] = []
        self._ending: RefundView | None = None
        self._fulfilment: asyncio.Task[None] | None = None
        # Parts of the order's life that have been told to stop (see `_cancel`).
        self._stopping: set[asyncio.Task[None]] = set()
        # Signals refused so far (see `note_rejected`).
        self._rejections = 0
        # An Update was taken in since the order last wrote anything (see `workflows.order`'s `_step`).
        self._updated = False
        handlers.register(self)

    # --- the order's life -------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, place: PlaceOrder) -> OrderView:
        """Run the order to the end of its follow-up and refund window, or until it is refunded or cancelled."""
        life = asyncio.ensure_future(self._live())
        while True:
            await workflow.wait_condition(lambda: life.done() or bool(self._refunds_to_start))
            if not self._refunds_to_start:
                life.result()
                return self._view
            refund = self._refunds_to_start.pop(0)
            if refund is self._ending:
                await self._stop(life)
                await self._settle(refund)
                return self._view
            await self._partial_refund(refund)

    async def _live(self) -> None:
        """Payment, stock, fulfilment, completion and follow-up: the order's life when nobody stops it."""
        await self._record_status(S.RECEIVED, E.ORDER_RECEIVED, f"from {self._order.channel.value}", by=self._placed_by)
        if not await self._take_payment():
            return
        await self._reserve_stock()

        fulfilment = self._fulfilment = asyncio.ensure_future(self._fulfil())
        await workflow.wait_condition(lambda: fulfilment.done() or self._complete is not None)
        if fulfilment.done():
            fulfilment.result()
        else:
            # The operator fulfilled the order outside the system: stop whatever step was running.
            await self._cancel(fulfilment)
            await self._hand_over_outside_the_system()

        self._completed = True
        await self._record_status(S.COMPLETED, E.ORDER_COMPLETED, self._complete.note if self._complete else None)
        await self._email(api.EmailKind.COMPLETED)
        await self._follow_up()
        self._note(E.ORDER_CLOSED, "follow-up over and refund window passed")

    async def _stop(self, life: asyncio.Task[None]) -> None:
        """Stop the order's life wherever it is; a running step finishes or is cancelled before this returns."""
        for task in (self._fulfilment, life):
            if task is not None:
                await self._cancel(task)

    async def _cancel(self, task: asyncio.Task[None]) -> None:
        """Cancel a part of the order's life and wait until it has stopped.

        The SDK shields a running activity from cancellation: when the activity has already finished, its result
        wins and the task carries on as if never cancelled. So the task is also marked as stopping, and it stops at
        its next activity (`_activity` checks before and after each one). A step cancelled inside an activity ends
        with that activity's cancellation error rather than as a cancelled task; that is the expected way to stop
        and is taken here, which keeps it out of the worker's log. Any other failure still surfaces.
        """
        self._stopping.add(task)
        if not task.done():
            task.cancel()
            await workflow.wait([task])
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and not (isinstance(error, ActivityError) and isinstance(error.cause, CancelledError)):
            raise error

    async def _take_payment(self) -> bool:
        """Capture, await or defer the payment; False when the order ends here without money."""
        method = self._order.payment.method
        if method.captures_at_once:
            try:
                captured = await self._activity(
                    api.CAPTURE_PAYMENT,
                    api.CapturePayment(
                        order_id=self._view.order_id, payment=self._order.payment, amount=self._order.total
                    ),
                    timeout=steps.GATEWAY_TIMEOUT,
                    retry=steps.GATEWAY_RETRY,
                )
            except ActivityError as error:
                if steps.error_type(error) != api.ErrorType.PAYMENT_DECLINED:
                    raise
                reason = steps.error_message(error)
                self._view.payment.state = PaymentState.DECLINED
                self._view.payment.failure = reason
                await self._record_status(S.PAYMENT_FAILED, E.PAYMENT_DECLINED, reason)
                await self._email(api.EmailKind.PAYMENT_DECLINED)
                return False
            self._book_payment(captured)
            await self._record_status(S.PAID, E.PAYMENT_CAPTURED, f"{captured.amount} ({captured.gateway_reference})")
            await self._email(api.EmailKind.ORDER_CONFIRMATION)
            return True

        if method is PaymentMethod.CASH_ON_DELIVERY:
            self._view.payment.state = PaymentState.DUE_ON_DELIVERY
            await self._email(api.EmailKind.ORDER_CONFIRMATION)
            return True

        due_in, due = self._payment_due()
        await self._record_status(S.AWAITING_PAYMENT, E.AWAITING_PAYMENT, f"due {due}")
        await self._email(api.EmailKind.ORDER_CONFIRMATION)
        if not await self._wait_until(lambda: self._payment_received is not None, due_in):
            self._view.payment.state = PaymentState.EXPIRED
            self._view.payment.failure = f"no payment {due}"
            await self._record_status(S.PAYMENT_FAILED, E.PAYMENT_NEVER_ARRIVED, self._view.payment.failure)
            await self._email(api.EmailKind.PAYMENT_EXPIRED)
            return False
        received = self._payment_received
        captured = await self._record_payment(received.reference if received else None)
        await self._record_status(S.PAID, E.PAYMENT_RECEIVED, f"{captured.amount} ({captured.gateway_reference})")
        return True

    def _payment_due(self) -> tuple[timedelta, str]:
        """How long an unpaid order waits, and how to say so: business days when the policy counts them."""
        policy = self._policy
        if policy.payment_due_business_days is None:
            return policy.payment_due, f"within {policy.payment_due}"
        now = workflow.now()
        due_at = policy.calendar.deadline(now, policy.payment_due_business_days)
        return due_at - now, f"by {self._shop_time(due_at)} ({policy.payment_due_business_days} business days)"

    async def _reserve_stock(self) -> None:
        """Set the order's stock aside; while short, wait as backordered until stock arrives."""
        request = api.ReserveStock(
            order_id=self._view.order_id,
            warehouse=self._policy.warehouse,
            lines=[api.StockLine(sku=line.sku, quantity=line.quantity) for line in self._order.lines],
        )
        while True:
            self._stock_arrived = False
            reservation = await self._activity(api.RESERVE_STOCK, request)
            if reservation.reserved:
                self._view.backordered_skus = []
                self._note(E.STOCK_RESERVED, f"warehouse {self._policy.warehouse}")
                return
            if self._view.status is not S.BACKORDERED:
                self._view.backordered_skus = reservation.short_skus
                await self._record_status(S.BACKORDERED, E.BACKORDERED, "short: " + ", ".join(reservation.short_skus))
            # Stock receipts signal us; the periodic recheck covers stock that arrived some other way.
            await self._wait_until(lambda: self._stock_arrived, self._policy.backorder_recheck_interval)

    async def _fulfil(self) -> None:
        """Pick, pack, ship and follow the parcel until it is delivered."""
        await self._wait_for_the_warehouse("picking")
        await self._record_status(S.PICKING, E.PICKING_STARTED, f"{self._policy.mode.value} mode")
        await self._warehouse_task(api.TaskKind.PICK, self._policy.pick_duration, lambda: self._picked)
        await self._wait_for_the_warehouse("packing")
        await self._record_status(S.PACKING, E.PACKING_STARTED)
        await self._warehouse_task(api.TaskKind.PACK, self._policy.pack_duration, lambda: self._packed)
        label = await self._hand_to_carrier()
        await self._track_until_delivered(label)

    async def _wait_for_the_warehouse(self, step: str) -> None:
        """Work starts only while the warehouse is open: outside its hours, wait for the next opening."""
        hours = self._policy.warehouse_hours
        if hours.always_open:
            return
        now = workflow.now()
        opens = hours.next_opening(now)
        if opens <= now:
            return
        self._note(E.WAREHOUSE_CLOSED, f"{step} starts when it opens, {self._shop_time(opens)}")
        await workflow.sleep(opens - now)

    async def _warehouse_task(
        self, kind: api.TaskKind, duration: timedelta, confirmation: Callable[[], Picked | Packed | None]
    ) -> None:
        """Auto mode: the warehouse system does the task; manual mode: open it and wait for the operator."""
        task = api.WarehouseTask(order_id=self._view.order_id, kind=kind, duration=duration)
        self._open_task = kind
        if self._policy.mode is FulfilmentMode.AUTO:
            await self._activity(
                api.PERFORM_WAREHOUSE_TASK,
                task,
                timeout=duration + timedelta(minutes=5),
                heartbeat=timedelta(seconds=10),
                # Unset for orders placed before the setting existed: they run where they always did.
                task_queue=self._policy.warehouse_task_queue,
            )
        else:
            await self._activity(api.OPEN_WAREHOUSE_TASK, task)
            await workflow.wait_condition(lambda: confirmation() is not None)
            done = confirmation()
            by = done.by if done is not None else None
            await self._activity(api.CLOSE_WAREHOUSE_TASK, task.model_copy(update={"done_by": by}))
        self._open_task = None
        self._note(E.PICK_DONE if kind is api.TaskKind.PICK else E.PACK_DONE)

    async def _hand_to_carrier(self) -> api.Label:
        """Get a label (auto) or take the operator's carrier and tracking number (manual); stock leaves."""
        if self._policy.mode is FulfilmentMode.AUTO:
            label = await self._activity(
                api.CREATE_SHIPMENT,
                api.CreateShipment(order_id=self._view.order_id, address=self._order.shipping_address),
            )
        else:
            await workflow.wait_condition(lambda: self._shipped is not None)
            assert self._shipped is not None
            label = await self._activity(
                api.RECORD_SHIPMENT,
                api.RecordShipment(
                    order_id=self._view.order_id,
                    carrier=self._shipped.carrier,
                    tracking=self._shipped.tracking,
                ),
            )
        await self._activity(api.SHIP_STOCK, api.StockRelease(order_id=self._view.order_id))
        self._view.shipment = ShipmentView(
            carrier=label.carrier,
            tracking=label.tracking,
            shipped_at=workflow.now(),
            last_event="label_created",
        )
        await self._record_status(S.SHIPPED, E.SHIPPED, f"{label.carrier} {label.tracking}")
        await self._email(api.EmailKind.SHIPPED)
        return label

    async def _track_until_delivered(self, label: api.Label) -> None:
        """Poll the carrier (and listen for its delivery events) until the parcel is delivered."""
        request = api.TrackShipment(order_id=self._view.order_id, tracking=label.tracking)
        seen = 0
        interval = self._policy.tracking_poll_interval
        while not self._delivered:
            tracking = await self._activity(api.TRACK_SHIPMENT, request)
            for scan in tracking.events[seen:]:
                self._note(carrier_scan(scan.event))
                assert self._view.shipment is not None
                self._view.shipment.last_event = scan.event
            news = len(tracking.events) > seen
            seen = max(seen, len(tracking.events))
            if tracking.delivered:
                self._delivered = True
                break
            if not tracking.events:
                # A carrier we cannot poll reports delivery by signal (or the operator does).
                await workflow.wait_condition(lambda: self._delivered)
                break
            await self._wait_until(lambda: self._delivered, interval)
            # Patched: each quiet poll doubles the wait up to the policy's ceiling, and news brings it back down,
            # so days in transit cost dozens of polls, not tens of thousands (a history holds at most 51,200
            # events). Orders polled at a fixed interval before this replay as they ran.
            if workflow.patched(TRACKING_BACKOFF):
                ceiling = max(self._policy.tracking_poll_max_interval, self._policy.tracking_poll_interval)
                interval = self._policy.tracking_poll_interval if news else min(interval * 2, ceiling)
        await self._mark_delivered()

    async def _mark_delivered(self) -> None:
        assert self._view.shipment is not None
        self._view.shipment.delivered_at = workflow.now()
        self._view.shipment.last_event = "delivered"
        if self._order.payment.method is PaymentMethod.CASH_ON_DELIVERY:
            await self._record_payment("collected at delivery")
        await self._record_status(S.DELIVERED, E.DELIVERED)

    async def _hand_over_outside_the_system(self) -> None:
        """After a manual `complete`: the goods left without a shipment; book the stock and any cash."""
        if self._open_task is not None:
            task = api.WarehouseTask(order_id=self._view.order_id, kind=self._open_task, done_by="complete")
            await self._activity(api.CLOSE_WAREHOUSE_TASK, task)
            self._open_task = None
        if self._view.shipment is None:
            await self._activity(api.SHIP_STOCK, api.StockRelease(order_id=self._view.order_id))
        if self._order.payment.method is PaymentMethod.CASH_ON_DELIVERY and self._view.payment.captured is None:
            await self._record_payment("collected by the operator")

    async def _follow_up(self) -> None:
        """Survey the customer some days after delivery, wait for feedback, then outlast the refund window."""
        delivered_at = self._delivered_at()
        follow_up = self._view.follow_up
        follow_up.survey_due_at = delivered_at + self._policy.survey_delay
        follow_up.closes_at = max(
            delivered_at + self._policy.refund_window,
            follow_up.survey_due_at + self._policy.feedback_window,
        )
        await self._wait_until(lambda: self._feedback is not None, follow_up.survey_due_at - workflow.now())
        if self._feedback is None:
            await self._email(api.EmailKind.SURVEY)
            follow_up.survey_sent_at = workflow.now()
            self._note(E.SURVEY_SENT)
            await self._wait_until(lambda: self._feedback is not None, self._policy.feedback_window)
        if self._feedback is not None:
            await self._record_feedback(self._feedback)
        else:
            self._feedback_closed = True
            self._note(E.NO_FEEDBACK, f"none within {duration_text(self._policy.feedback_window)}")
        if follow_up.closes_at > workflow.now():
            await workflow.sleep(follow_up.closes_at - workflow.now())

    # --- operator commands: a Signal (Temporal UI, `temporal workflow signal`) and an Update (the CLI, the
    # console) each, registered by `workflows.handlers` from `domain.commands.COMMANDS` --------------------------

    @workflow.signal(name=PROGRESS_SIGNAL)
    def refund_progress(self, refund: RefundView) -> None:
        """News from a running refund workflow (money paid, payout awaited, escalated), for the `status` query."""
        for index, known in enumerate(self._view.refunds):
            if known.refund_id == refund.refund_id and known.is_open:
                self._view.refunds[index] = refund

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> OrderView:
        """The whole order: status, lines, totals, payment, shipment, follow-up and timeline."""
        return self._view

    # What `workflows.handlers` asks of the order: a command's refusal rule and reply read `situation`; an
    # accepted command is taken in by `take`, a refused Signal noted by `note_rejected`.

    @property
    def order_id(self) -> str:
        return self._view.order_id

    def situation(self) -> OrderSituation:
        given = {
            command
            for command, told in (
                (Command.PAYMENT_RECEIVED, self._payment_received),
                (Command.PICKED, self._picked),
                (Command.PACKED, self._packed),
                (Command.SHIPPED, self._shipped),
                (Command.COMPLETE, self._complete),
                (Command.FEEDBACK, self._feedback),
            )
            if told is not None
        }
        if self._payouts:
            given.add(Command.REFUND_PAID_OUT)
        return OrderSituation(
            view=self._view,
            policy=self._policy,
            now=workflow.now(),
            given=frozenset(given),
            completed=self._completed,
            feedback_closed=self._feedback_closed,
            ending=self._ending,
        )

    def note_rejected(self, event: str, reason: str, by: str | None) -> None:
        # Bounded, as a flood of Signals from a script would otherwise grow the timeline (and every `status`
        # answer) without end: past the limit they are logged only, and the timeline says so once.
        self._rejections += 1
        if self._rejections <= REJECTIONS_NOTED:
            self._note(event, reason, rejected=True, by=by)
        elif self._rejections == REJECTIONS_NOTED + 1:
            self._note(
                UNKNOWN_SIGNAL_REJECTED,
                f"more than {REJECTIONS_NOTED} Signals refused: the rest are only logged",
                rejected=True,
            )

    def take(self, command: Command, payload: CommandPayload, *, by_update: bool = False) -> None:
        """Take an accepted command in and note it in the timeline, in the name of whoever gave it.

        The note is written now, when the command is given, not when the order acts on it: the order's own entries
        (status moves, `pick done`) may come later or, when a cancellation overtakes them, never.
        """
        if isinstance(payload, PaymentReceived):
            self._payment_received = payload
            self._note(Confirmation.PAYMENT.value, payload.reference, by=payload.by)
        elif isinstance(payload, Picked):
            self._picked = payload
            self._note(Confirmation.PICKING.value, by=payload.by)
        elif isinstance(payload, Packed):
            self._packed = payload
            self._note(Confirmation.PACKING.value, by=payload.by)
        elif isinstance(payload, Shipped):
            self._shipped = payload
            self._note(Confirmation.SHIPPING.value, f"{payload.carrier} {payload.tracking}", by=payload.by)
        elif isinstance(payload, Complete):
            self._complete = payload
            self._note(Confirmation.COMPLETION.value, payload.note, by=payload.by)
        elif isinstance(payload, Feedback):
            self._feedback = payload
            self._note(E.FEEDBACK_GIVEN, f"{payload.rating}/5", by=payload.by)
        elif isinstance(payload, DeliveryEvent):
            self._note(carrier_scan(payload.event), payload.detail, by=payload.by)
            if self._view.shipment is not None:
                self._view.shipment.last_event = payload.event
            if payload.event == "delivered":
                self._delivered = True
        elif isinstance(payload, StockArrived):
            self._stock_arrived = True
            self._note(E.STOCK_ARRIVED, payload.sku, by=payload.by)
        elif isinstance(payload, Refund):
            self._accept_refund(payload)
        elif isinstance(payload, Cancel):
            self._accept_cancellation(payload)
        elif isinstance(payload, RefundPaidOut):
            self._payouts.append(payload)
            waiting = next(refund for refund in self._view.refunds if refund.is_open and refund.needs_payout)
            reference = f", reference {payload.reference}" if payload.reference else ""
            self._note(E.REFUND_PAID_OUT, f"{waiting.refund_id}{reference}", by=payload.by)
        else:
            raise ApplicationError(f"no handler for {command.value}", non_retryable=True)
        self._updated = self._updated or by_update

    # --- refunds and cancellation: taking them in -------------------------------------------------------------

    def _accept_refund(self, request: Refund) -> RefundView:
        plan = plan_refund(self._order.lines, self._order.shipping, self._view.refunds, request)
        refund = self._new_refund(RefundKind.REFUND, request, plan.lines, plan.shipping, plan.amount)
        if plan.covers_everything:
            self._ending = refund
        return refund

    def _accept_cancellation(self, request: Cancel) -> RefundView:
        taken = self._view.payment.captured
        currency = self._order.currency
        lines = [
            RefundLine(sku=line.sku, name=line.name, quantity=line.quantity, unit_price=line.unit_price)
            for line in self._order.lines
        ]
        shipping = self._order.shipping if taken is not None else Money.zero(currency)
        amount = taken if taken is not None else Money.zero(currency)
        refund = self._new_refund(RefundKind.CANCELLATION, request, lines, shipping, amount)
        self._ending = refund
        return refund

    def _new_refund(
        self, kind: RefundKind, request: Refund | Cancel, lines: list[RefundLine], shipping: Money, amount: Money
    ) -> RefundView:
        now = workflow.now()
        number = len(self._view.refunds) + 1
        refund_id = f"refund-{self._view.order_id}" + (f"-{number}" if number > 1 else "")
        refund = RefundView(
            refund_id=refund_id,
            kind=kind,
            reason=request.reason,
            lines=lines,
            shipping=shipping,
            amount=amount,
            method=self._order.payment.method,
            needs_payout=not amount.is_zero and not self._order.payment.method.captures_at_once,
            requested_at=now,
            deadline=self._policy.calendar.deadline(now, self._policy.refund_sla_business_days),
        )
        self._view.refunds.append(refund)
        self._refunds_to_start.append(refund)
        self._note(E.requested(kind), f"{refund_id}: {request.reason}", by=request.by)
        return refund

    def _shop_time(self, at: datetime) -> str:
        """A time as the shop reads it, e.g. `Fri 04 Dec 2026 23:59 CET`."""
        return shop_time(self._policy, at)

    # --- refunds and cancellation: carrying them out ----------------------------------------------------------

    async def _settle(self, refund: RefundView) -> None:
        """The refund or cancellation that ends the order: its life has stopped; give everything back."""
        money = not refund.amount.is_zero
        if refund.kind is RefundKind.REFUND or money:
            await self._record_status(S.REFUNDING, E.started(refund.kind), self._refund_detail(refund))
        result = await self._run_refund(refund)
        if refund.kind is RefundKind.REFUND:
            await self._record_status(S.REFUNDED, E.REFUNDED, self._outcome(result))
        else:
            if self._view.payment.state != PaymentState.CAPTURED:
                self._view.payment.state = PaymentState.CANCELLED
            await self._record_status(S.CANCELLED, E.CANCELLED, f"{refund.reason}; {self._outcome(result)}")
        self._note(E.ORDER_CLOSED, f"{refund.kind.value} finished")

    async def _partial_refund(self, refund: RefundView) -> None:
        """A refund of some lines of a completed order; the order stays completed afterwards."""
        back_to = self._view.status
        await self._record_status(S.REFUNDING, E.PARTIAL_REFUND_STARTED, self._refund_detail(refund))
        result = await self._run_refund(refund)
        await self._record_status(back_to, E.PARTIAL_REFUND_FINISHED, self._outcome(result))

    async def _run_refund(self, refund: RefundView) -> RefundView:
        """Start the refund's child workflow, pass on payouts by hand, and take its result into the order."""
        policy = self._policy
        child = await workflow.start_child_workflow(
            RefundWorkflow.run,
            RefundOrder(
                order=self._view.model_copy(update={"timeline": []}),
                refund=refund,
                payment=self._order.payment,
                calendar=policy.calendar,
                sla_business_days=policy.refund_sla_business_days,
                reminder_time=policy.refund_reminder_time,
                emails_through_the_outbox=True,
            ),
            id=refund.refund_id,
            # Money already promised must go back even if someone terminates the order by hand.
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            search_attributes=TypedSearchAttributes([SearchAttributePair(REFUND_DEADLINE, refund.deadline)]),
            static_summary=f"{refund.kind.value} of order {self._view.order_id}: {refund.amount.format()}",
        )
        self._note(E.REFUND_WORKFLOW_STARTED, refund.refund_id)
        while True:
            await workflow.wait_condition(lambda: child.done() or bool(self._payouts))
            if not self._payouts:
                break
            await child.signal(Command.REFUND_PAID_OUT.value, self._payouts.pop(0))
        result = await child
        self._view.refunds = [result if known.refund_id == result.refund_id else known for known in self._view.refunds]
        return result

    def _refund_detail(self, refund: RefundView) -> str:
        return f"{refund.refund_id}: {refund.amount.format()} due by {self._shop_time(refund.deadline)}"

    def _outcome(self, refund: RefundView) -> str:
        finished = refund.finished_at or workflow.now()
        sla = "within" if refund.within_sla else "OUTSIDE"
        return f"{refund.refund_id}: {refund.amount.format()} back, finished {self._shop_time(finished)}, {sla} SLA"

    # --- bookkeeping ------------------------------------------------------------------------------------------

    async def _record_status(
        self, status: OrderStatus, event: TimelineEvent, detail: str | None = None, *, by: str | None = None
    ) -> None:
        """Move to `status`, note it in the timeline, update search attributes and the read model."""
        if status is not self._view.status:
            reason = refusal(self._view.status, status)
            if reason is not None:
                raise ApplicationError(f"order {self._view.order_id}: {reason}", non_retryable=True)
        self._view.status = status
        self._view.operator_list = status.operator_list
        self._note(event, detail, status=status, by=by)
        # Not the detail: it may hold an operator's free text (a reason, a note), and current details are not encrypted.
        workflow.set_current_details(f"**{status.value}**: {event}")
        updates = search.of_order(self._order, status)
        if self._view.refunds:
            running = [refund.deadline for refund in self._view.refunds if refund.is_open]
            updates.append(REFUND_DEADLINE.value_set(min(running)) if running else REFUND_DEADLINE.value_unset())
        workflow.upsert_search_attributes(updates)
        await self._project()

    def _note(
        self,
        event: str,
        detail: str | None = None,
        *,
        status: OrderStatus | None = None,
        rejected: bool = False,
        by: str | None = None,
    ) -> None:
        """Add a timeline entry: a `TimelineEvent`, a `Confirmation`, or one built by `email_sent` and the like."""
        now = workflow.now()
        self._view.timeline.append(
            TimelineEntry(at=now, event=event, detail=detail, status=status, rejected=rejected, by=by)
        )
        self._view.updated_at = now

    async def _project(self) -> None:
        self._view.version += 1
        await self._activity(api.PROJECT_ORDER, api.ProjectOrder(order=self._view))

    async def _email(self, kind: api.EmailKind) -> None:
        await self._activity(
            api.SEND_EMAIL,
            api.SendEmail(kind=kind, order=self._view),
            timeout=steps.EMAIL_TIMEOUT,
            retry=steps.MAIL_RETRY,
        )
        self._note(email_sent(kind), self._order.customer.email)

    async def _record_payment(self, reference: str | None) -> api.PaymentCaptured:
        captured = await self._activity(
            api.RECORD_PAYMENT,
            api.RecordPayment(
                order_id=self._view.order_id,
                method=self._order.payment.method,
                amount=self._order.total,
                reference=reference,
            ),
        )
        self._book_payment(captured)
        return captured

    def _book_payment(self, captured: api.PaymentCaptured) -> None:
        self._view.payment.state = PaymentState.CAPTURED
        self._view.payment.captured = captured.amount
        self._view.payment.gateway_reference = captured.gateway_reference
        self._view.payment.captured_at = captured.captured_at

    async def _record_feedback(self, feedback: Feedback) -> None:
        now = workflow.now()
        await self._activity(
            api.RECORD_FEEDBACK,
            api.RecordFeedback(order_id=self._view.order_id, rating=feedback.rating, comment=feedback.comment, at=now),
        )
        follow_up = self._view.follow_up
        follow_up.feedback_rating = feedback.rating
        follow_up.feedback_comment = feedback.comment
        follow_up.feedback_at = now
        self._note(E.FEEDBACK_RECEIVED, f"{feedback.rating}/5")
        await self._project()

    def _delivered_at(self) -> datetime:
        shipment = self._view.shipment
        if shipment is not None and shipment.delivered_at is not None:
            return shipment.delivered_at
        return workflow.now()

    async def _wait_until(self, condition: Callable[[], bool], timeout: timedelta) -> bool:
        """Wait for `condition` at most `timeout`; True if it came true."""
        if condition():
            return True
        if timeout <= timedelta(0):
            return False
        try:
            await workflow.wait_condition(condition, timeout=timeout)
        except TimeoutError:
            return condition()
        return True

    async def _activity(
        self,
        definition: api.ActivityDef[steps.RequestT, steps.ResultT],
        request: steps.RequestT,
        *,
        timeout: timedelta = steps.DATABASE_TIMEOUT,
        retry: RetryPolicy = steps.DATABASE_RETRY,
        heartbeat: timedelta | None = None,
        task_queue: str | None = None,
    ) -> steps.ResultT:
        self._stop_here_if_stopping()
        result = await steps.call(
            definition,
            request,
            summary=f"{definition.name} {self._view.order_id}",
            timeout=timeout,
            retry=retry,
            heartbeat=heartbeat,
            task_queue=task_queue,
        )
        self._stop_here_if_stopping()
        return result

    def _stop_here_if_stopping(self) -> None:
        # Patched: an order that lost its cancellation before this check existed replays the way it ran.
        if asyncio.current_task() in self._stopping and workflow.patched(STOP_AT_NEXT_ACTIVITY):
            raise asyncio.CancelledError
