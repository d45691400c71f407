"""What each step does to an order's view, written once: the workflow applies it to its own view and the step's
activity to the read model's, in the transaction that does the step, so the two never disagree."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from domain.base import Frozen
from domain.emails import EmailKind
from domain.money import Money
from domain.order import FulfilmentMode, PaymentMethod
from domain.refund import RefundView
from domain.status import OrderStatus, refusal
from domain.view import (
    FollowUpView,
    OrderView,
    PaymentState,
    PaymentView,
    ShipmentView,
    TimelineEntry,
    TimelineEvent,
    carrier_scan,
)

S = OrderStatus
E = TimelineEvent


class TransitionRefused(ValueError):
    """A step tried a status change the transition table does not allow: a bug, never retried."""


def email_queued(kind: EmailKind) -> str:
    """The timeline event of an email handed to the outbox, e.g. `email queued: shipped`; the mail relay sends it."""
    return f"email queued: {kind.value}"


def note(
    view: OrderView,
    event: str,
    detail: str | None,
    at: datetime,
    *,
    status: OrderStatus | None = None,
    rejected: bool = False,
    by: str | None = None,
) -> None:
    """Add a timeline entry at `at`."""
    view.timeline.append(TimelineEntry(at=at, event=event, detail=detail, status=status, rejected=rejected, by=by))
    view.updated_at = at


def enter(
    view: OrderView, status: OrderStatus, event: str, detail: str | None, at: datetime, *, by: str | None = None
) -> None:
    """Move the order to `status` and note it; `TransitionRefused` when the transition table forbids the move."""
    if status is not view.status:
        reason = refusal(view.status, status)
        if reason is not None:
            raise TransitionRefused(f"order {view.order_id}: {reason}")
    view.status = status
    view.operator_list = status.operator_list
    note(view, event, detail, at, status=status, by=by)


def queue_email(view: OrderView, kind: EmailKind, at: datetime) -> EmailKind:
    """Note that the email of this kind goes out with this step; the kind, for the step's list of emails."""
    note(view, email_queued(kind), view.customer.email, at)
    return kind


class CapturedPayment(Frozen):
    """Money that is the shop's now: the gateway's (or the booking's) reference, the amount and when."""

    gateway_reference: str
    amount: Money
    captured_at: datetime


def booking_reference(method: PaymentMethod, order_id: str) -> str:
    """The reference of money booked by hand (a transfer, cash): derived from the order, not the clock, so a
    retried booking cannot mint a second one, and the workflow knows it without asking."""
    return f"{method.value}:{order_id}"


def book_payment(view: OrderView, captured: CapturedPayment) -> None:
    """The order's payment is captured."""
    view.payment.state = PaymentState.CAPTURED
    view.payment.captured = captured.amount
    view.payment.gateway_reference = captured.gateway_reference
    view.payment.captured_at = captured.captured_at


# --- the steps' outcomes: each returns the emails it sends --------------------------------------------------


def payment_captured(view: OrderView, captured: CapturedPayment, at: datetime) -> list[EmailKind]:
    """A card or PayPal payment went through: the order is paid and the customer gets the confirmation."""
    book_payment(view, captured)
    enter(view, S.PAID, E.PAYMENT_CAPTURED, f"{captured.amount} ({captured.gateway_reference})", at)
    return [queue_email(view, EmailKind.ORDER_CONFIRMATION, at)]


def payment_declined(view: OrderView, reason: str, at: datetime) -> list[EmailKind]:
    """The gateway declined the payment: the order ends here and the customer is told."""
    view.payment.state = PaymentState.DECLINED
    view.payment.failure = reason
    enter(view, S.PAYMENT_FAILED, E.PAYMENT_DECLINED, reason, at)
    return [queue_email(view, EmailKind.PAYMENT_DECLINED, at)]


def stock_reserved(
    view: OrderView, warehouse: str, at: datetime, *, picking: FulfilmentMode | None = None
) -> list[EmailKind]:
    """The order's stock is set aside; with `picking`, the warehouse is open and picking starts in that mode."""
    view.backordered_skus = []
    note(view, E.STOCK_RESERVED, f"warehouse {warehouse}", at)
    if picking is not None:
        enter(view, S.PICKING, E.PICKING_STARTED, f"{picking.value} mode", at)
    return []


def backordered(view: OrderView, short_skus: list[str], at: datetime) -> list[EmailKind]:
    """Not enough stock: the order waits as backordered (noted once, however often it rechecks)."""
    if view.status is not S.BACKORDERED:
        view.backordered_skus = short_skus
        enter(view, S.BACKORDERED, E.BACKORDERED, "short: " + ", ".join(short_skus), at)
    return []


def pick_done(view: OrderView, at: datetime, *, packing: bool = False) -> list[EmailKind]:
    """Every line is picked; with `packing`, the warehouse is open and packing starts."""
    note(view, E.PICK_DONE, None, at)
    if packing:
        enter(view, S.PACKING, E.PACKING_STARTED, None, at)
    return []


def pack_done(view: OrderView, at: datetime) -> list[EmailKind]:
    """The parcel is packed."""
    note(view, E.PACK_DONE, None, at)
    return []


def shipped(view: OrderView, carrier: str, tracking: str, at: datetime) -> list[EmailKind]:
    """The parcel left with the carrier: the order is shipped and the customer gets the tracking number."""
    view.shipment = ShipmentView(carrier=carrier, tracking=tracking, shipped_at=at, last_event="label_created")
    enter(view, S.SHIPPED, E.SHIPPED, f"{carrier} {tracking}", at)
    return [queue_email(view, EmailKind.SHIPPED, at)]


def parcel_scanned(view: OrderView, events: list[str], at: datetime) -> list[EmailKind]:
    """The carrier scanned the parcel (in this order) since the order last asked."""
    for event in events:
        note(view, carrier_scan(event), None, at)
        if view.shipment is not None:
            view.shipment.last_event = event
    return []


def delivered(view: OrderView, at: datetime, *, collected: CapturedPayment | None = None) -> list[EmailKind]:
    """The carrier delivered the parcel; cash on delivery was `collected` at the door."""
    if view.shipment is not None:
        view.shipment.delivered_at = at
        view.shipment.last_event = "delivered"
    if collected is not None:
        book_payment(view, collected)
    enter(view, S.DELIVERED, E.DELIVERED, None, at)
    return []


def completed(view: OrderView, at: datetime, note_text: str | None = None) -> list[EmailKind]:
    """The order is fulfilled: completed, and the customer gets the "your order is complete" email."""
    enter(view, S.COMPLETED, E.ORDER_COMPLETED, note_text, at)
    return [queue_email(view, EmailKind.COMPLETED, at)]


# --- what a step's transaction writes into the read model ---------------------------------------------------


class OrderState(Frozen):
    """The parts of an order's view that change during its life, besides the timeline."""

    status: OrderStatus
    payment: PaymentView
    shipment: ShipmentView | None = None
    follow_up: FollowUpView
    backordered_skus: list[str] = Field(default_factory=list)
    refunds: list[RefundView] = Field(default_factory=list)
    updated_at: datetime

    @classmethod
    def of(cls, view: OrderView) -> OrderState:
        """The changing parts of `view`."""
        return cls(
            status=view.status,
            payment=view.payment,
            shipment=view.shipment,
            follow_up=view.follow_up,
            backordered_skus=view.backordered_skus,
            refunds=view.refunds,
            updated_at=view.updated_at,
        )


class ReadModelBehind(Exception):
    """The read model lacks what a change builds on (the order, or timeline entries); the whole view must be sent."""


class OrderChanges(Frozen):
    """What the workflow changed since the read model last took its view: sent with the step that commits it.

    The first write of an order carries the whole `view`; later ones the changing `state` and the timeline from
    `entries_from` on (entries before it are known to be stored). `emails` go into the outbox in the same
    transaction. A change is taken only if its `version` is newer than the stored one; its emails always are, once.
    """

    order_id: str
    version: int = Field(ge=1)
    at: datetime = Field(description="The workflow's time when it asked: the step's outcome is noted at it.")
    view: OrderView | None = None
    state: OrderState | None = None
    entries_from: int = Field(0, ge=0)
    entries: list[TimelineEntry] = Field(default_factory=list)
    emails: list[EmailKind] = Field(default_factory=list)

    def applied_to(self, stored: OrderView | None) -> OrderView:
        """The order's view with this change taken in; `ReadModelBehind` when `stored` cannot take a delta."""
        if self.view is not None:
            return self.view.model_copy(deep=True, update={"version": self.version})
        if stored is None or self.state is None or len(stored.timeline) < self.entries_from:
            raise ReadModelBehind(f"order {self.order_id}: the read model lacks what version {self.version} builds on")
        state = self.state.model_copy(deep=True)
        update = {name: getattr(state, name) for name in OrderState.model_fields}
        return stored.model_copy(
            update={
                **update,
                "operator_list": state.status.operator_list,
                "timeline": [*stored.timeline[: self.entries_from], *(entry.model_copy() for entry in self.entries)],
                "version": self.version,
            }
        )
