"""The whole order as the `status` query shows it: status, lines, totals, payment, shipment, refunds, timeline."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.money import Money
from domain.order import Address, Channel, Customer, FulfilmentMode, Line, PaymentMethod
from domain.refund import RefundView
from domain.status import OperatorList, OrderStatus


class TimelineEntry(BaseModel):
    """One thing that happened to the order, when, who asked for it, and whether it was refused."""

    at: datetime
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
    state: str = "pending"
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
