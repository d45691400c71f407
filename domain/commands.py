"""What an operator, a carrier or a bank can tell an order, and the answer they get."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from domain.refund import RefundView
from domain.status import OrderStatus


class Command(StrEnum):
    """Every command an order accepts; the value is the Signal's and the Update's name."""

    PAYMENT_RECEIVED = "payment_received"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    COMPLETE = "complete"
    FEEDBACK = "feedback"
    DELIVERY_EVENT = "delivery_event"
    STOCK_ARRIVED = "stock_arrived"
    REFUND = "refund"
    CANCEL = "cancel"
    REFUND_PAID_OUT = "refund_paid_out"


class PaymentReceived(BaseModel):
    """The bank transfer or invoice payment has arrived."""

    model_config = ConfigDict(frozen=True)

    reference: str | None = Field(None, max_length=200, description="Bank reference, if any.")


class Picked(BaseModel):
    """The warehouse has picked every line."""

    model_config = ConfigDict(frozen=True)

    by: str | None = Field(None, max_length=100)


class Packed(BaseModel):
    """The parcel is packed."""

    model_config = ConfigDict(frozen=True)

    by: str | None = Field(None, max_length=100)


class Shipped(BaseModel):
    """The parcel went out with a carrier under a tracking number."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    carrier: Annotated[str, Field(min_length=1, max_length=50)]
    tracking: Annotated[str, Field(min_length=1, max_length=100)]


class Complete(BaseModel):
    """The operator fulfilled the order outside the system."""

    model_config = ConfigDict(frozen=True)

    note: str | None = Field(None, max_length=500)


class Feedback(BaseModel):
    """The customer's answer to the satisfaction survey."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    rating: Annotated[int, Field(ge=1, le=5)]
    comment: str | None = Field(None, max_length=2000)


class DeliveryEvent(BaseModel):
    """What a carrier reports about the parcel, e.g. `in_transit`, `out_for_delivery`, `delivered`."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    event: Annotated[str, Field(min_length=1, max_length=50)]
    detail: str | None = Field(None, max_length=500)


class StockArrived(BaseModel):
    """Stock was received for one of the order's SKUs; a backordered order tries to reserve again."""

    model_config = ConfigDict(frozen=True)

    sku: str | None = None


class CommandAccepted(BaseModel):
    """The answer to an accepted Update: what the order is now."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    command: Command
    status: OrderStatus
    message: str
    refund: RefundView | None = Field(None, description="The refund a `refund` or `cancel` started.")
