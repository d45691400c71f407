"""OrderWorkflow (type `Order`): one order's life from payment to the end of its refund window, one round trip a step.

Each step's activity does its side effect and, in the same database transaction, writes what changed in the order's
view (status, timeline, the emails it sends into the outbox); status changes without a side effect ride with the
next step, or with a local activity just before the order waits. Steps that only touch the OMS database (stock) are
local activities. The mail relay sends the outbox. Commands, the `status` query and refunds are those of the first
workflow, `workflows.order_v1`, whose orders keep running on it until they drain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import api
    from domain import progress
    from domain.emails import EmailKind
    from domain.order import FulfilmentMode, PaymentMethod
    from domain.policy import duration_text
    from domain.progress import OrderChanges, OrderState
    from domain.refund import RefundView
    from domain.status import OrderStatus
    from domain.view import OrderView, TimelineEvent
    from workflows import search, steps
    from workflows.handlers import CommandRefused
    from workflows.order_v1 import STATUS_QUERY, UPDATE_THEN_ACTIVITY, OrderWorkflowV1, PlaceOrder, workflow_id
    from workflows.search import REFUND_DEADLINE

__all__ = ["STATUS_QUERY", "CommandRefused", "OrderWorkflow", "PlaceOrder", "workflow_id"]

S = OrderStatus
E = TimelineEvent

# What a step's result does to the order's view, given when the step was asked for: a `domain.progress` function.
Outcome = Callable[[OrderView, Any, datetime], list[EmailKind]]


@workflow.defn(name="Order")
class OrderWorkflow(OrderWorkflowV1):
    """The life story of one order: payment, stock, picking, packing, shipping, delivery, completion, follow-up."""

    @workflow.init
    def __init__(self, place: PlaceOrder) -> None:
        super().__init__(place)
        # The read model's copy of the order: the version it holds and how many timeline entries of ours it has.
        self._stored_version = 0
        self._stored_entries = 0
        # Emails to queue, and whether a status moved, since the read model last took the order's changes.
        self._emails: list[EmailKind] = []
        self._dirty = False
        # What the search attributes say now (the order is placed with them set for `received`).
        self._searched: tuple[OrderStatus, datetime | None] = (S.RECEIVED, None)
        # The changes the step in flight carries: a step that fails after committing (a decline) is taken from them.
        self._in_flight: OrderChanges | None = None

    @workflow.run
    async def run(self, place: PlaceOrder) -> OrderView:
        """Run the order to the end of its follow-up and refund window, or until it is refunded or cancelled."""
        view = await super().run(place)
        await self._before_waiting()
        return view

    # --- the order's life -------------------------------------------------------------------------------------

    async def _live(self) -> None:
        await self._record_status(S.RECEIVED, E.ORDER_RECEIVED, f"from {self._order.channel.value}", by=self._placed_by)
        if not await self._take_payment():
            return
        await self._reserve_stock()

        fulfilment = self._fulfilment = asyncio.ensure_future(self._fulfil())
        await self._before_waiting()
        await workflow.wait_condition(lambda: fulfilment.done() or self._complete is not None)
        if fulfilment.done():
            fulfilment.result()
        else:
            await self._cancel(fulfilment)
            await self._hand_over_outside_the_system()
        if self._view.status is not S.COMPLETED:
            await self._record_status(S.COMPLETED, E.ORDER_COMPLETED, self._complete.note if self._complete else None)
            await self._email(EmailKind.COMPLETED)
        self._completed = True
        await self._follow_up()
        self._note(E.ORDER_CLOSED, "follow-up over and refund window passed")

    async def _take_payment(self) -> bool:
        method = self._order.payment.method
        if not method.captures_at_once:
            # Bank transfer, invoice and cash on delivery are the first workflow's, with this one's bookkeeping.
            return await super()._take_payment()
        try:
            await self._step(
                api.CAPTURE_ORDER_PAYMENT,
                lambda changes: api.CaptureOrderPayment(
                    changes=changes, payment=self._order.payment, amount=self._order.total
                ),
                progress.payment_captured,
                timeout=steps.GATEWAY_TIMEOUT,
                retry=steps.GATEWAY_RETRY,
            )
        except ActivityError as error:
            changes = self._in_flight
            if steps.error_type(error) != api.ErrorType.PAYMENT_DECLINED or changes is None:
                raise
            # The activity committed the decline with the order's move before it raised.
            self._took(changes, with_outcome=True)
            progress.payment_declined(self._view, steps.error_message(error), changes.at)
            self._moved()
            # The activity wrote the move; only the search attributes are behind.
            self._dirty = False
            return False
        return True

    async def _reserve_stock(self) -> None:
        warehouse = self._policy.warehouse
        lines = [api.StockLine(sku=line.sku, quantity=line.quantity) for line in self._order.lines]
        # A warehouse that never closes starts picking in the reservation's commit.
        picking = self._policy.mode if self._policy.warehouse_hours.always_open else None

        def outcome(view: OrderView, reservation: api.Reservation, at: datetime) -> list[EmailKind]:
            if reservation.reserved:
                return progress.stock_reserved(view, warehouse, at, picking=picking)
            return progress.backordered(view, reservation.short_skus, at)

        first = self._policy.backorder_recheck_interval
        ceiling = self._policy.backorder_recheck_max_interval
        interval = first
        while True:
            self._stock_arrived = False
            reservation = await self._step(
                api.RESERVE_ORDER_STOCK,
                lambda changes: api.ReserveOrderStock(
                    changes=changes, warehouse=warehouse, lines=lines, picking=picking
                ),
                outcome,
                local=True,
            )
            if reservation.reserved:
                return
            await self._wait_until(lambda: self._stock_arrived, interval)
            # Rechecks that find nothing new back off, so a backorder of months stays a short history; stock
            # arriving starts them over. Without a ceiling (orders placed before it), every recheck waits the same.
            if ceiling is not None:
                interval = first if self._stock_arrived else min(interval * 2, max(ceiling, first))

    async def _fulfil(self) -> None:
        if self._view.status is not S.PICKING:
            await self._wait_for_the_warehouse("picking")
            await self._record_status(S.PICKING, E.PICKING_STARTED, f"{self._policy.mode.value} mode")
        await self._warehouse_task(api.TaskKind.PICK, self._policy.pick_duration, lambda: self._picked)
        if self._view.status is not S.PACKING:
            await self._wait_for_the_warehouse("packing")
            await self._record_status(S.PACKING, E.PACKING_STARTED)
        await self._warehouse_task(api.TaskKind.PACK, self._policy.pack_duration, lambda: self._packed)
        label = await self._hand_to_carrier()
        await self._track_until_delivered(label)

    async def _wait_for_the_warehouse(self, step: str) -> None:
        hours = self._policy.warehouse_hours
        if hours.always_open:
            return
        now = workflow.now()
        opens = hours.next_opening(now)
        if opens <= now:
            return
        self._note(E.WAREHOUSE_CLOSED, f"{step} starts when it opens, {self._shop_time(opens)}")
        await self._before_waiting()
        await workflow.sleep(opens - now)

    async def _warehouse_task(self, kind: api.TaskKind, duration: timedelta, confirmation: Callable[[], Any]) -> None:
        self._open_task = kind
        if self._policy.mode is FulfilmentMode.AUTO:
            packing = kind is api.TaskKind.PICK and self._policy.warehouse_hours.always_open

            def outcome(view: OrderView, state: api.TaskState, at: datetime) -> list[EmailKind]:
                if state.status != "done":
                    # Stopped meanwhile (a cancellation): the job never finished.
                    return []
                if kind is api.TaskKind.PICK:
                    return progress.pick_done(view, at, packing=packing)
                return progress.pack_done(view, at)

            await self._step(
                api.PERFORM_ORDER_TASK,
                lambda changes: api.PerformOrderTask(changes=changes, kind=kind, duration=duration, packing=packing),
                outcome,
                timeout=duration + timedelta(minutes=5),
                heartbeat=timedelta(seconds=10),
                task_queue=self._policy.warehouse_task_queue,
            )
        else:
            task = api.WarehouseTask(order_id=self._view.order_id, kind=kind, duration=duration)
            await self._activity(api.OPEN_WAREHOUSE_TASK, task)
            await self._before_waiting()
            await workflow.wait_condition(lambda: confirmation() is not None)
            done = confirmation()
            await self._activity(api.CLOSE_WAREHOUSE_TASK, task.model_copy(update={"done_by": done.by}))
            self._note(E.PICK_DONE if kind is api.TaskKind.PICK else E.PACK_DONE)
        self._open_task = None

    async def _hand_to_carrier(self) -> api.Label:
        carrier = tracking = None
        if self._policy.mode is FulfilmentMode.MANUAL:
            await self._before_waiting()
            await workflow.wait_condition(lambda: self._shipped is not None)
            assert self._shipped is not None
            carrier, tracking = self._shipped.carrier, self._shipped.tracking
        label: api.Label = await self._step(
            api.SHIP_ORDER,
            lambda changes: api.ShipOrder(
                changes=changes, address=self._order.shipping_address, carrier=carrier, tracking=tracking
            ),
            lambda view, label, at: progress.shipped(view, label.carrier, label.tracking, at),
        )
        return label

    async def _track_until_delivered(self, label: api.Label) -> None:
        """Poll the carrier until the parcel is delivered; the poll that finds it delivered completes the order."""
        seen = 0
        interval = self._policy.tracking_poll_interval
        give_up = self._policy.tracking_give_up_after
        # A parcel lost on the way would otherwise be polled until its history is full: the polls stop in time.
        stop_polling = workflow.now() + give_up if give_up is not None else None
        while not self._delivered:
            if stop_polling is not None and workflow.now() >= stop_polling:
                assert give_up is not None
                self._note(
                    E.TRACKING_STOPPED,
                    f"not delivered after {give_up / timedelta(days=1):g} days; a delivery event from the carrier "
                    "or an operator completes the order",
                )
                await self._before_waiting()
                await workflow.wait_condition(lambda: self._delivered)
                break
            tracking = await self._poll_carrier(label, seen)
            news = len(tracking.events) > seen
            seen = max(seen, len(tracking.events))
            if tracking.delivered:
                self._delivered = True
                return
            if not tracking.events:
                # A carrier we cannot poll reports delivery by signal (or the operator does).
                await self._before_waiting()
                await workflow.wait_condition(lambda: self._delivered)
                break
            await self._wait_until(lambda: self._delivered, interval)
            ceiling = max(self._policy.tracking_poll_max_interval, self._policy.tracking_poll_interval)
            interval = self._policy.tracking_poll_interval if news else min(interval * 2, ceiling)
        # Told by a signal, not found by a poll.
        await self._mark_delivered()

    async def _poll_carrier(self, label: api.Label, seen: int) -> api.Tracking:
        """One look at the parcel; `seen`: scans already noted. Delivered, the order is completed with it."""
        collect = None
        if self._order.payment.method is PaymentMethod.CASH_ON_DELIVERY and self._view.payment.captured is None:
            collect = self._order.total

        def outcome(view: OrderView, tracking: api.Tracking, at: datetime) -> list[EmailKind]:
            progress.parcel_scanned(view, [scan.event for scan in tracking.events[seen:]], at)
            if not tracking.delivered:
                return []
            booked = None
            if collect is not None:
                reference = progress.booking_reference(PaymentMethod.CASH_ON_DELIVERY, view.order_id)
                booked = progress.CapturedPayment(gateway_reference=reference, amount=collect, captured_at=at)
            progress.delivered(view, at, collected=booked)
            return progress.completed(view, at)

        tracking: api.Tracking = await self._step(
            api.TRACK_ORDER,
            lambda changes: api.TrackOrder(changes=changes, tracking=label.tracking, seen=seen, collect=collect),
            outcome,
        )
        return tracking

    async def _follow_up(self) -> None:
        delivered_at = self._delivered_at()
        follow_up = self._view.follow_up
        follow_up.survey_due_at = delivered_at + self._policy.survey_delay
        follow_up.closes_at = max(
            delivered_at + self._policy.refund_window,
            follow_up.survey_due_at + self._policy.feedback_window,
        )
        await self._wait_until(lambda: self._feedback is not None, follow_up.survey_due_at - workflow.now())
        if self._feedback is None:
            follow_up.survey_sent_at = workflow.now()
            await self._email(EmailKind.SURVEY)
            self._note(E.SURVEY_SENT)
            await self._wait_until(lambda: self._feedback is not None, self._policy.feedback_window)
        if self._feedback is not None:
            await self._record_feedback(self._feedback)
        else:
            self._feedback_closed = True
            self._note(E.NO_FEEDBACK, f"none within {duration_text(self._policy.feedback_window)}")
        if follow_up.closes_at > workflow.now():
            await self._before_waiting()
            await workflow.sleep(follow_up.closes_at - workflow.now())

    async def _partial_refund(self, refund: RefundView) -> None:
        await super()._partial_refund(refund)
        await self._before_waiting()

    async def _run_refund(self, refund: RefundView) -> RefundView:
        await self._before_waiting()
        return await super()._run_refund(refund)

    # --- bookkeeping: the read model and search attributes follow the order at each step -----------------------

    async def _record_status(
        self, status: OrderStatus, event: TimelineEvent, detail: str | None = None, *, by: str | None = None
    ) -> None:
        """Move to `status` and note it; the read model takes it with the next step (or before the order waits)."""
        try:
            progress.enter(self._view, status, event, detail, workflow.now(), by=by)
        except progress.TransitionRefused as refused:
            raise ApplicationError(str(refused), non_retryable=True) from refused
        self._moved()

    async def _email(self, kind: api.EmailKind) -> None:
        """Queue the email with the order's next write; the mail relay sends it."""
        self._emails.append(progress.queue_email(self._view, kind, workflow.now()))
        self._dirty = True

    async def _project(self) -> None:
        await self._store()

    async def _wait_until(self, condition: Callable[[], bool], timeout: timedelta) -> bool:
        if not condition() and timeout > timedelta(0):
            await self._before_waiting()
        return await super()._wait_until(condition, timeout)

    def _stop_here_if_stopping(self) -> None:
        if asyncio.current_task() in self._stopping:
            raise asyncio.CancelledError

    def _moved(self) -> None:
        workflow.set_current_details(f"**{self._view.status.value}**: {self._view.timeline[-1].event}")
        self._dirty = True

    async def _before_waiting(self) -> None:
        """Before the order waits for anything: search attributes and the read model as the order stands."""
        self._search_as_now()
        if self._dirty:
            await self._store()

    async def _store(self) -> None:
        """Write the order's changes (and queue their emails) now, as a local activity."""
        await self._step(
            api.STORE_ORDER, lambda changes: api.StoreOrder(changes=changes), None, local=True, outcome_version=False
        )

    def _search_as_now(self) -> None:
        running = [refund.deadline for refund in self._view.refunds if refund.is_open]
        deadline = min(running) if running else None
        if (self._view.status, deadline) == self._searched:
            return
        updates = search.of_order(self._order, self._view.status)
        if self._view.refunds:
            updates.append(REFUND_DEADLINE.value_set(deadline) if deadline else REFUND_DEADLINE.value_unset())
        workflow.upsert_search_attributes(updates)
        self._searched = (self._view.status, deadline)

    async def _step(
        self,
        definition: api.ActivityDef[steps.RequestT, steps.ResultT],
        request: Callable[[OrderChanges], steps.RequestT],
        outcome: Outcome | None,
        *,
        local: bool = False,
        outcome_version: bool = True,
        timeout: timedelta = steps.DATABASE_TIMEOUT,
        retry: RetryPolicy = steps.DATABASE_RETRY,
        heartbeat: timedelta | None = None,
        task_queue: str | None = None,
    ) -> steps.ResultT:
        """Run a step with the order's changes; apply its outcome to the view as its activity applied it."""
        if local and self._updated and workflow.patched(UPDATE_THEN_ACTIVITY):
            # A local activity runs within the workflow task, and the task that accepts an Update is the only
            # record of it: a worker killed before that task completed would leave this step's write (the read
            # model moved on, stock reserved) for a command the order never took. As an activity, the step is
            # scheduled by that task's completion and so never runs without it.
            local = False
        self._updated = False
        if not local:
            self._search_as_now()
        while True:
            changes = self._changes(outcome_version)
            self._in_flight = changes
            try:
                if local:
                    self._stop_here_if_stopping()
                    result = await steps.call_local(
                        definition, request(changes), summary=f"{definition.name} {self._view.order_id}"
                    )
                    self._stop_here_if_stopping()
                else:
                    result = await self._activity(
                        definition,
                        request(changes),
                        timeout=timeout,
                        retry=retry,
                        heartbeat=heartbeat,
                        task_queue=task_queue,
                    )
            except ActivityError as error:
                if steps.error_type(error) != api.ErrorType.READ_MODEL_BEHIND:
                    raise
                # The read model lost the order (restored from a backup, say): send it the whole view.
                self._stored_version = 0
                self._emails = [*changes.emails, *self._emails]
                continue
            self._took(changes, with_outcome=outcome_version)
            if outcome is not None:
                before = self._view.status
                outcome(self._view, result, changes.at)
                if self._view.status is not before:
                    self._moved()
                    # Already in the read model: only the search attributes are behind.
                    self._dirty = False
            return result

    def _changes(self, outcome_version: bool) -> OrderChanges:
        """The order's changes since the read model last took them; the next version (and the one after, for the
        step's outcome) is taken for them."""
        view = self._view
        view.version += 2 if outcome_version else 1
        version = view.version - 1 if outcome_version else view.version
        first = self._stored_version == 0
        changes = OrderChanges(
            order_id=view.order_id,
            version=version,
            at=workflow.now(),
            view=view.model_copy(deep=True) if first else None,
            state=None if first else OrderState.of(view).model_copy(deep=True),
            entries_from=0 if first else self._stored_entries,
            entries=[] if first else view.timeline[self._stored_entries :],
            emails=self._emails,
        )
        self._emails = []
        self._dirty = False
        return changes

    def _took(self, changes: OrderChanges, *, with_outcome: bool) -> None:
        """The read model took `changes` (and the step's outcome): what it holds of the order now.

        Entries the outcome added are not counted: the workflow notes them after whatever a signal noted meanwhile,
        so the next write sends them again, in the workflow's order.
        """
        entries = (
            len(changes.view.timeline) if changes.view is not None else changes.entries_from + len(changes.entries)
        )
        self._stored_entries = max(self._stored_entries, entries)
        self._stored_version = max(self._stored_version, changes.version + (1 if with_outcome else 0))
