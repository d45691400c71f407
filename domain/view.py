"""The whole order as the `status` query shows it: status, lines, totals, payment, shipment, refunds, timeline."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.money import Money
from domain.order import Address, Channel, Customer, FulfilmentMode, Line, PaymentMethod
from domain.refund import RefundKind, RefundView
from domain.status import OperatorList, OrderStatus


class TimelineEvent(StrEnum):
    """What the order itself notes in its timeline; the value is the entry's `event`, as stored histories hold it.

    Operator confirmations are `domain.commands.Confirmation`; events that carry a name (`email sent: shipped`,
    `carrier: in_transit`, `packed rejected`) are built by `email_sent`, `carrier_scan` and
    `domain.commands.command_rejected`.
    """

    ORDER_RECEIVED = "order received"
    PAYMENT_CAPTURED = "payment captured"
    PAYMENT_DECLINED = "payment declined"
    AWAITING_PAYMENT = "awaiting payment"
    PAYMENT_NEVER_ARRIVED = "payment never arrived"
    PAYMENT_RECEIVED = "payment received"
    STOCK_RESERVED = "stock reserved"
    BACKORDERED = "backordered"
    STOCK_ARRIVED = "stock arrived"
    WAREHOUSE_CLOSED = "warehouse closed"
    TRACKING_STOPPED = "tracking stopped"
    PICKING_STARTED = "picking started"
    PICK_DONE = "pick done"
    PACKING_STARTED = "packing started"
    PACK_DONE = "pack done"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    ORDER_COMPLETED = "order completed"
    SURVEY_SENT = "satisfaction survey sent"
    FEEDBACK_GIVEN = "feedback given"
    FEEDBACK_RECEIVED = "feedback received"
    NO_FEEDBACK = "no feedback"
    REFUND_REQUESTED = "refund requested"
    CANCELLATION_REQUESTED = "cancellation requested"
    REFUND_STARTED = "refund started"
    CANCELLATION_STARTED = "cancellation started"
    PARTIAL_REFUND_STARTED = "partial refund started"
    REFUND_WORKFLOW_STARTED = "refund workflow started"
    REFUND_PAID_OUT = "refund paid out"
    PARTIAL_REFUND_FINISHED = "partial refund finished"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    ORDER_CLOSED = "order closed"

    @classmethod
    def requested(cls, kind: RefundKind) -> TimelineEvent:
        """A refund or a cancellation was accepted."""
        return cls.REFUND_REQUESTED if kind is RefundKind.REFUND else cls.CANCELLATION_REQUESTED

    @classmethod
    def started(cls, kind: RefundKind) -> TimelineEvent:
        """The refund or cancellation that ends the order has begun."""
        return cls.REFUND_STARTED if kind is RefundKind.REFUND else cls.CANCELLATION_STARTED


def email_sent(kind: StrEnum) -> str:
    """The timeline event of an email of this kind going out, e.g. `email sent: shipped`."""
    return f"email sent: {kind.value}"


def carrier_scan(event: str) -> str:
    """The timeline event of a carrier's scan, polled or signalled, e.g. `carrier: in_transit`."""
    return f"carrier: {event}"


class PaymentState(StrEnum):
    """How far the order's payment has got; the value is what the `status` query, the console and `oms` show."""

    PENDING = "pending"
    CAPTURED = "captured"
    DECLINED = "declined"
    DUE_ON_DELIVERY = "due on delivery"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class TimelineEntry(BaseModel):
    """One thing that happened to the order, when, who asked for it, and whether it was refused."""

    at: datetime
    # Plain text, not `TimelineEvent`: entries built by `email_sent`, `carrier_scan`, `command_rejected` and
    # `Confirmation` are events too, and stored views and histories hold them all.
    event: str
    detail: str | None = None
    status: OrderStatus | None = Field(None, description="The status the order moved to, if it moved.")
    rejected: bool = False
    by: str | None = Field(
        None,
        description="Who gave the command (an operator's email, `oms cli`, a carrier); None for the order's own steps.",
    )


class PaymentView(BaseModel):
    """The order's payment as far as it has got."""

    method: PaymentMethod
    reference: str
    state: PaymentState = PaymentState.PENDING
    captured: Money | None = None
    gateway_reference: str | None = None
    captured_at: datetime | None = None
    failure: str | None = None


class ShipmentView(BaseModel):
    """The parcel: carrier, tracking number and what the carrier last said."""

    carrier: str
    tracking: str
    shipped_at: datetime
    last_event: str | None = None
    delivered_at: datetime | None = None


class FollowUpView(BaseModel):
    """The satisfaction follow-up after delivery."""

    survey_due_at: datetime | None = None
    survey_sent_at: datetime | None = None
    feedback_rating: int | None = None
    feedback_comment: str | None = None
    feedback_at: datetime | None = None
    closes_at: datetime | None = None


class Totals(BaseModel):
    """What the order costs."""

    subtotal: Money
    shipping: Money
    total: Money


class OrderView(BaseModel):
    """Everything an operator or engineer wants to know about one order, straight from its workflow."""

    order_id: str
    workflow_id: str
    channel: Channel
    external_id: str
    status: OrderStatus
    operator_list: OperatorList
    mode: FulfilmentMode
    customer: Customer
    shipping_address: Address
    lines: list[Line]
    totals: Totals
    payment: PaymentView
    shipment: ShipmentView | None = None
    follow_up: FollowUpView = Field(default_factory=FollowUpView)
    backordered_skus: list[str] = Field(default_factory=list)
    refunds: list[RefundView] = Field(default_factory=list, description="Refunds and cancellations, oldest first.")
    placed_at: datetime
    updated_at: datetime
    version: int = 0
    timeline: list[TimelineEntry] = Field(default_factory=list)
