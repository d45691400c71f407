"""OrderWorkflow: one order's life from payment to the end of its refund window."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import api
    from domain.commands import (
        Command,
        CommandAccepted,
        Complete,
        DeliveryEvent,
        Feedback,
        Packed,
        PaymentReceived,
        Picked,
        Shipped,
        StockArrived,
    )
    from domain.order import FulfilmentMode, Order, PaymentMethod
    from domain.policy import OrderPolicy
    from domain.status import OrderStatus, refusal
    from domain.view import OrderView, PaymentView, ShipmentView, TimelineEntry, Totals
    from workflows.search import CHANNEL, ORDER_STATUS

STATUS_QUERY = "status"

S = OrderStatus
ResultT = TypeVar("ResultT", bound=BaseModel)

# Retry policies per kind of external system. A business failure is a typed ApplicationError and never retried.
_GATEWAY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[api.ErrorType.PAYMENT_DECLINED],
)
_DATABASE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=[api.ErrorType.UNKNOWN_SKU],
)
# A killed worker's activity is retried only when its timeout runs out, so timeouts stay close to what the work
# needs: milliseconds for the database, a few SMTP round trips for an email.
_DATABASE_TIMEOUT = timedelta(seconds=10)
_EMAIL_TIMEOUT = timedelta(seconds=20)
_MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=10)
)


def workflow_id(order_id: str) -> str:
    """The order workflow's id: the business key, so the same channel order can never start twice."""
    return f"order-{order_id}"


class PlaceOrder(BaseModel):
    """Input of an order workflow: the validated order and the policy fixed at placement."""

    model_config = ConfigDict(frozen=True)

    order: Order
    policy: OrderPolicy


class CommandRefused(Exception):
    """An operator command that is not valid in the order's current state; the message says why."""


@workflow.defn
class OrderWorkflow:
    """The life story of one order: payment, stock, picking, packing, shipping, delivery, completion, follow-up."""

    @workflow.init
    def __init__(self, place: PlaceOrder) -> None:
        self._order = place.order
        self._policy = place.policy
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

    # --- the order's life -------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, place: PlaceOrder) -> OrderView:
        """Run the order to the end of its follow-up and refund window; return its final view."""
        await self._record_status(S.RECEIVED, "order received", f"from {self._order.channel.value}")
        if not await self._take_payment():
            return self._view
        await self._reserve_stock()

        fulfilment = asyncio.ensure_future(self._fulfil())
        await workflow.wait_condition(lambda: fulfilment.done() or self._complete is not None)
        if fulfilment.done():
            fulfilment.result()
        else:
            # The operator fulfilled the order outside the system: stop whatever step was running.
            fulfilment.cancel()
            await workflow.wait([fulfilment])
            await self._hand_over_outside_the_system()

        await self._record_status(S.COMPLETED, "order completed", self._complete.note if self._complete else None)
        await self._email(api.EmailKind.COMPLETED)
        await self._follow_up()
        self._note("order closed", "follow-up over and refund window passed")
        return self._view

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
                    api.PaymentCaptured,
                    timeout=timedelta(seconds=30),
                    retry=_GATEWAY_RETRY,
                )
            except ActivityError as error:
                if _error_type(error) != api.ErrorType.PAYMENT_DECLINED:
                    raise
                reason = _error_message(error)
                self._view.payment.state = "declined"
                self._view.payment.failure = reason
                await self._record_status(S.PAYMENT_FAILED, "payment declined", reason)
                await self._email(api.EmailKind.PAYMENT_DECLINED)
                return False
            self._book_payment(captured)
            await self._record_status(S.PAID, "payment captured", f"{captured.amount} ({captured.gateway_reference})")
            await self._email(api.EmailKind.ORDER_CONFIRMATION)
            return True

        if method is PaymentMethod.CASH_ON_DELIVERY:
            self._view.payment.state = "due on delivery"
            await self._email(api.EmailKind.ORDER_CONFIRMATION)
            return True

        await self._record_status(S.AWAITING_PAYMENT, "awaiting payment", f"due within {self._policy.payment_due}")
        await self._email(api.EmailKind.ORDER_CONFIRMATION)
        if not await self._wait_until(lambda: self._payment_received is not None, self._policy.payment_due):
            self._view.payment.state = "expired"
            self._view.payment.failure = f"no payment within {self._policy.payment_due}"
            await self._record_status(S.PAYMENT_FAILED, "payment never arrived", self._view.payment.failure)
            await self._email(api.EmailKind.PAYMENT_EXPIRED)
            return False
        received = self._payment_received
        captured = await self._record_payment(received.reference if received else None)
        await self._record_status(S.PAID, "payment received", f"{captured.amount} ({captured.gateway_reference})")
        return True

    async def _reserve_stock(self) -> None:
        """Set the order's stock aside; while short, wait as backordered until stock arrives."""
        request = api.ReserveStock(
            order_id=self._view.order_id,
            warehouse=self._policy.warehouse,
            lines=[api.StockLine(sku=line.sku, quantity=line.quantity) for line in self._order.lines],
        )
        while True:
            self._stock_arrived = False
            reservation = await self._activity(api.RESERVE_STOCK, request, api.Reservation)
            if reservation.reserved:
                self._view.backordered_skus = []
                self._note("stock reserved", f"warehouse {self._policy.warehouse}")
                return
            if self._view.status is not S.BACKORDERED:
                self._view.backordered_skus = reservation.short_skus
                await self._record_status(S.BACKORDERED, "backordered", "short: " + ", ".join(reservation.short_skus))
            # Stock receipts signal us; the periodic recheck covers stock that arrived some other way.
            await self._wait_until(lambda: self._stock_arrived, self._policy.backorder_recheck_interval)

    async def _fulfil(self) -> None:
        """Pick, pack, ship and follow the parcel until it is delivered."""
        await self._record_status(S.PICKING, "picking started", f"{self._policy.mode.value} mode")
        await self._warehouse_task(api.TaskKind.PICK, self._policy.pick_duration, lambda: self._picked)
        await self._record_status(S.PACKING, "packing started")
        await self._warehouse_task(api.TaskKind.PACK, self._policy.pack_duration, lambda: self._packed)
        label = await self._hand_to_carrier()
        await self._track_until_delivered(label)

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
                api.TaskState,
                timeout=duration + timedelta(minutes=5),
                heartbeat=timedelta(seconds=10),
            )
        else:
            await self._activity(api.OPEN_WAREHOUSE_TASK, task, api.TaskState)
            await workflow.wait_condition(lambda: confirmation() is not None)
            done = confirmation()
            by = done.by if done is not None else None
            await self._activity(api.CLOSE_WAREHOUSE_TASK, task.model_copy(update={"done_by": by}), api.TaskState)
        self._open_task = None
        self._note(f"{kind.value} done")

    async def _hand_to_carrier(self) -> api.Label:
        """Get a label (auto) or take the operator's carrier and tracking number (manual); stock leaves."""
        if self._policy.mode is FulfilmentMode.AUTO:
            label = await self._activity(
                api.CREATE_SHIPMENT,
                api.CreateShipment(order_id=self._view.order_id, address=self._order.shipping_address),
                api.Label,
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
                api.Label,
            )
        await self._activity(api.SHIP_STOCK, api.StockRelease(order_id=self._view.order_id), api.StockMoved)
        self._view.shipment = ShipmentView(
            carrier=label.carrier,
            tracking=label.tracking,
            shipped_at=workflow.now(),
            last_event="label_created",
        )
        await self._record_status(S.SHIPPED, "shipped", f"{label.carrier} {label.tracking}")
        await self._email(api.EmailKind.SHIPPED)
        return label

    async def _track_until_delivered(self, label: api.Label) -> None:
        """Poll the carrier (and listen for its delivery events) until the parcel is delivered."""
        request = api.TrackShipment(order_id=self._view.order_id, tracking=label.tracking)
        seen = 0
        while not self._delivered:
            tracking = await self._activity(api.TRACK_SHIPMENT, request, api.Tracking)
            for scan in tracking.events[seen:]:
                self._note(f"carrier: {scan.event}")
                assert self._view.shipment is not None
                self._view.shipment.last_event = scan.event
            seen = max(seen, len(tracking.events))
            if tracking.delivered:
                self._delivered = True
                break
            if not tracking.events:
                # A carrier we cannot poll reports delivery by signal (or the operator does).
                await workflow.wait_condition(lambda: self._delivered)
                break
            await self._wait_until(lambda: self._delivered, self._policy.tracking_poll_interval)
        await self._mark_delivered()

    async def _mark_delivered(self) -> None:
        assert self._view.shipment is not None
        self._view.shipment.delivered_at = workflow.now()
        self._view.shipment.last_event = "delivered"
        if self._order.payment.method is PaymentMethod.CASH_ON_DELIVERY:
            await self._record_payment("collected at delivery")
        await self._record_status(S.DELIVERED, "delivered")

    async def _hand_over_outside_the_system(self) -> None:
        """After a manual `complete`: the goods left without a shipment; book the stock and any cash."""
        if self._open_task is not None:
            task = api.WarehouseTask(order_id=self._view.order_id, kind=self._open_task, done_by="complete")
            await self._activity(api.CLOSE_WAREHOUSE_TASK, task, api.TaskState)
            self._open_task = None
        if self._view.shipment is None:
            await self._activity(api.SHIP_STOCK, api.StockRelease(order_id=self._view.order_id), api.StockMoved)
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
            self._note("satisfaction survey sent")
            await self._wait_until(lambda: self._feedback is not None, self._policy.feedback_window)
        if self._feedback is not None:
            await self._record_feedback(self._feedback)
        else:
            self._feedback_closed = True
            self._note("no feedback", f"none within {self._policy.feedback_window}")
        if follow_up.closes_at > workflow.now():
            await workflow.sleep(follow_up.closes_at - workflow.now())

    # --- operator commands: Signals for Temporal UI and `temporal workflow signal`, Updates for the CLI --------

    @workflow.signal(name=Command.PAYMENT_RECEIVED)
    def payment_received_signal(self, command: PaymentReceived) -> None:
        """The money arrived (bank transfer, invoice)."""
        self._signalled(Command.PAYMENT_RECEIVED, command)

    @workflow.update(name=Command.PAYMENT_RECEIVED)
    def payment_received(self, command: PaymentReceived) -> CommandAccepted:
        """The money arrived (bank transfer, invoice)."""
        return self._accept(Command.PAYMENT_RECEIVED, command)

    @payment_received.validator
    def _validate_payment_received(self, command: PaymentReceived) -> None:
        self._validate(Command.PAYMENT_RECEIVED, command)

    @workflow.signal(name=Command.PICKED)
    def picked_signal(self, command: Picked) -> None:
        """The warehouse picked every line (manual mode)."""
        self._signalled(Command.PICKED, command)

    @workflow.update(name=Command.PICKED)
    def picked(self, command: Picked) -> CommandAccepted:
        """The warehouse picked every line (manual mode)."""
        return self._accept(Command.PICKED, command)

    @picked.validator
    def _validate_picked(self, command: Picked) -> None:
        self._validate(Command.PICKED, command)

    @workflow.signal(name=Command.PACKED)
    def packed_signal(self, command: Packed) -> None:
        """The parcel is packed (manual mode)."""
        self._signalled(Command.PACKED, command)

    @workflow.update(name=Command.PACKED)
    def packed(self, command: Packed) -> CommandAccepted:
        """The parcel is packed (manual mode)."""
        return self._accept(Command.PACKED, command)

    @packed.validator
    def _validate_packed(self, command: Packed) -> None:
        self._validate(Command.PACKED, command)

    @workflow.signal(name=Command.SHIPPED)
    def shipped_signal(self, command: Shipped) -> None:
        """The parcel left with a carrier under a tracking number (manual mode)."""
        self._signalled(Command.SHIPPED, command)

    @workflow.update(name=Command.SHIPPED)
    def shipped(self, command: Shipped) -> CommandAccepted:
        """The parcel left with a carrier under a tracking number (manual mode)."""
        return self._accept(Command.SHIPPED, command)

    @shipped.validator
    def _validate_shipped(self, command: Shipped) -> None:
        self._validate(Command.SHIPPED, command)

    @workflow.signal(name=Command.COMPLETE)
    def complete_signal(self, command: Complete) -> None:
        """The operator fulfilled the order outside the system."""
        self._signalled(Command.COMPLETE, command)

    @workflow.update(name=Command.COMPLETE)
    def complete(self, command: Complete) -> CommandAccepted:
        """The operator fulfilled the order outside the system."""
        return self._accept(Command.COMPLETE, command)

    @complete.validator
    def _validate_complete(self, command: Complete) -> None:
        self._validate(Command.COMPLETE, command)

    @workflow.signal(name=Command.FEEDBACK)
    def feedback_signal(self, command: Feedback) -> None:
        """The customer rated the order."""
        self._signalled(Command.FEEDBACK, command)

    @workflow.update(name=Command.FEEDBACK)
    def feedback(self, command: Feedback) -> CommandAccepted:
        """The customer rated the order."""
        return self._accept(Command.FEEDBACK, command)

    @feedback.validator
    def _validate_feedback(self, command: Feedback) -> None:
        self._validate(Command.FEEDBACK, command)

    @workflow.signal(name=Command.DELIVERY_EVENT)
    def delivery_event_signal(self, command: DeliveryEvent) -> None:
        """A carrier reported a scan of the parcel."""
        self._signalled(Command.DELIVERY_EVENT, command)

    @workflow.update(name=Command.DELIVERY_EVENT)
    def delivery_event(self, command: DeliveryEvent) -> CommandAccepted:
        """A carrier reported a scan of the parcel."""
        return self._accept(Command.DELIVERY_EVENT, command)

    @delivery_event.validator
    def _validate_delivery_event(self, command: DeliveryEvent) -> None:
        self._validate(Command.DELIVERY_EVENT, command)

    @workflow.signal(name=Command.STOCK_ARRIVED)
    def stock_arrived_signal(self, command: StockArrived) -> None:
        """Stock was received; a backordered order tries to reserve again."""
        self._signalled(Command.STOCK_ARRIVED, command)

    @workflow.update(name=Command.STOCK_ARRIVED)
    def stock_arrived(self, command: StockArrived) -> CommandAccepted:
        """Stock was received; a backordered order tries to reserve again."""
        return self._accept(Command.STOCK_ARRIVED, command)

    @stock_arrived.validator
    def _validate_stock_arrived(self, command: StockArrived) -> None:
        self._validate(Command.STOCK_ARRIVED, command)

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> OrderView:
        """The whole order: status, lines, totals, payment, shipment, follow-up and timeline."""
        return self._view

    # One decision per command, shared by its Signal (rejections go to the timeline) and its Update (rejections
    # go back to the caller and leave no trace in history).

    def _signalled(self, command: Command, payload: BaseModel) -> None:
        reason = self._refusal(command, payload)
        if reason is not None:
            self._note(f"{command.value} rejected", reason, rejected=True)
            return
        self._apply(command, payload)

    def _validate(self, command: Command, payload: BaseModel) -> None:
        reason = self._refusal(command, payload)
        if reason is not None:
            raise CommandRefused(f"{command.value} refused for order {self._view.order_id}: {reason}")

    def _accept(self, command: Command, payload: BaseModel) -> CommandAccepted:
        message = self._apply(command, payload)
        return CommandAccepted(order_id=self._view.order_id, command=command, status=self._view.status, message=message)

    def _refusal(self, command: Command, payload: BaseModel) -> str | None:
        status = self._view.status
        manual = self._policy.mode is FulfilmentMode.MANUAL
        if command is Command.PAYMENT_RECEIVED:
            if status is not S.AWAITING_PAYMENT:
                return f"the order is {status.value}; payment is only awaited for bank transfer and invoice orders"
            return "payment is already confirmed" if self._payment_received else None
        if command in (Command.PICKED, Command.PACKED, Command.SHIPPED) and not manual:
            return "the order is in auto mode; the warehouse system confirms this step itself"
        if command is Command.PICKED:
            if status is not S.PICKING:
                return f"the order is {status.value}; picking can be confirmed only while it is picking"
            return "picking is already confirmed" if self._picked else None
        if command is Command.PACKED:
            if status is not S.PACKING:
                return f"the order is {status.value}; packing can be confirmed only while it is packing"
            return "packing is already confirmed" if self._packed else None
        if command is Command.SHIPPED:
            if status is not S.PACKING or self._packed is None:
                return f"the order is {status.value}; it can be shipped only once packing is confirmed"
            return "shipping is already confirmed" if self._shipped else None
        if command is Command.COMPLETE:
            if status not in (S.PICKING, S.PACKING, S.SHIPPED, S.DELIVERED):
                return f"the order is {status.value}; only an order in fulfilment can be completed by hand"
            return "completion is already under way" if self._complete else None
        if command is Command.FEEDBACK:
            if status is not S.COMPLETED:
                return f"the order is {status.value}; feedback is taken once it is completed"
            if self._feedback_closed:
                return "the satisfaction survey has closed; feedback is no longer taken"
            return "feedback was already given" if self._feedback else None
        if command is Command.DELIVERY_EVENT:
            if status is not S.SHIPPED:
                return f"the order is {status.value}; carrier events are taken while it is shipped"
            return None
        if command is Command.STOCK_ARRIVED:
            return None if status is S.BACKORDERED else f"the order is {status.value}, not backordered"
        return f"unknown command {command.value}"

    def _apply(self, command: Command, payload: BaseModel) -> str:
        if isinstance(payload, PaymentReceived):
            self._payment_received = payload
            return "payment confirmed; the order moves on to stock reservation"
        if isinstance(payload, Picked):
            self._picked = payload
            return "picking confirmed; packing comes next"
        if isinstance(payload, Packed):
            self._packed = payload
            return "packing confirmed; ship it with `oms order ship`"
        if isinstance(payload, Shipped):
            self._shipped = payload
            return f"shipped with {payload.carrier} under {payload.tracking}"
        if isinstance(payload, Complete):
            self._complete = payload
            return "the order is being completed"
        if isinstance(payload, Feedback):
            self._feedback = payload
            return f"feedback {payload.rating}/5 recorded"
        if isinstance(payload, DeliveryEvent):
            self._note(f"carrier: {payload.event}", payload.detail)
            if self._view.shipment is not None:
                self._view.shipment.last_event = payload.event
            if payload.event == "delivered":
                self._delivered = True
                return "delivery recorded"
            return f"carrier event {payload.event} recorded"
        if isinstance(payload, StockArrived):
            self._stock_arrived = True
            return "the order will try to reserve its stock again"
        raise ApplicationError(f"no handler for {command.value}", non_retryable=True)

    # --- bookkeeping ------------------------------------------------------------------------------------------

    async def _record_status(self, status: OrderStatus, event: str, detail: str | None = None) -> None:
        """Move to `status`, note it in the timeline, update search attributes and the read model."""
        if status is not self._view.status:
            reason = refusal(self._view.status, status)
            if reason is not None:
                raise ApplicationError(f"order {self._view.order_id}: {reason}", non_retryable=True)
        self._view.status = status
        self._view.operator_list = status.operator_list
        self._note(event, detail, status=status)
        workflow.set_current_details(f"**{status.value}**: {event}" + (f" ({detail})" if detail else ""))
        workflow.upsert_search_attributes(
            [ORDER_STATUS.value_set(status.value), CHANNEL.value_set(self._order.channel.value)]
        )
        await self._project()

    def _note(
        self,
        event: str,
        detail: str | None = None,
        *,
        status: OrderStatus | None = None,
        rejected: bool = False,
    ) -> None:
        now = workflow.now()
        self._view.timeline.append(TimelineEntry(at=now, event=event, detail=detail, status=status, rejected=rejected))
        self._view.updated_at = now

    async def _project(self) -> None:
        self._view.version += 1
        await self._activity(api.PROJECT_ORDER, api.ProjectOrder(order=self._view), api.Projected)

    async def _email(self, kind: api.EmailKind) -> None:
        await self._activity(
            api.SEND_EMAIL,
            api.SendEmail(kind=kind, order=self._view),
            api.EmailSent,
            timeout=_EMAIL_TIMEOUT,
            retry=_MAIL_RETRY,
        )
        self._note(f"email sent: {kind.value}", self._order.customer.email)

    async def _record_payment(self, reference: str | None) -> api.PaymentCaptured:
        captured = await self._activity(
            api.RECORD_PAYMENT,
            api.RecordPayment(
                order_id=self._view.order_id,
                method=self._order.payment.method,
                amount=self._order.total,
                reference=reference,
            ),
            api.PaymentCaptured,
        )
        self._book_payment(captured)
        return captured

    def _book_payment(self, captured: api.PaymentCaptured) -> None:
        self._view.payment.state = "captured"
        self._view.payment.captured = captured.amount
        self._view.payment.gateway_reference = captured.gateway_reference
        self._view.payment.captured_at = captured.captured_at

    async def _record_feedback(self, feedback: Feedback) -> None:
        now = workflow.now()
        await self._activity(
            api.RECORD_FEEDBACK,
            api.RecordFeedback(order_id=self._view.order_id, rating=feedback.rating, comment=feedback.comment, at=now),
            api.Projected,
        )
        follow_up = self._view.follow_up
        follow_up.feedback_rating = feedback.rating
        follow_up.feedback_comment = feedback.comment
        follow_up.feedback_at = now
        self._note("feedback received", f"{feedback.rating}/5")
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
        name: str,
        request: BaseModel,
        result_type: type[ResultT],
        *,
        timeout: timedelta = _DATABASE_TIMEOUT,
        retry: RetryPolicy = _DATABASE_RETRY,
        heartbeat: timedelta | None = None,
    ) -> ResultT:
        result: ResultT = await workflow.execute_activity(
            name,
            request,
            result_type=result_type,
            start_to_close_timeout=timeout,
            heartbeat_timeout=heartbeat,
            retry_policy=retry,
            summary=f"{name} {self._view.order_id}",
        )
        return result


def _error_type(error: ActivityError) -> str | None:
    cause = error.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def _error_message(error: ActivityError) -> str:
    cause = error.cause
    return cause.message if isinstance(cause, ApplicationError) else str(error)
