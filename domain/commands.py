"""What an operator, a carrier or a bank can tell an order, and the answer they get."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, TypeAlias

from pydantic import ConfigDict, Field, StringConstraints

from domain.base import Frozen
from domain.refund import Actor, Cancel, Refund, RefundPaidOut, RefundView
from domain.status import OrderStatus
from domain.text import ONE_LINE, PARAGRAPHS


class Confirmation(StrEnum):
    """Timeline events of accepted operator commands that the order acts on later: what a person confirmed."""

    PAYMENT = "payment confirmed"
    PICKING = "picking confirmed"
    PACKING = "packing confirmed"
    SHIPPING = "shipping confirmed"
    COMPLETION = "fulfilled outside the system"


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


class PaymentReceived(Frozen):
    """The bank transfer or invoice payment has arrived."""

    reference: Annotated[str, StringConstraints(max_length=200), ONE_LINE] | None = Field(
        None, description="Bank reference, if any."
    )
    by: Actor | None = Field(None, description="Who confirmed the payment.")


class Picked(Frozen):
    """The warehouse has picked every line."""

    by: Actor | None = Field(None, description="Who confirmed it; the warehouse task is closed in their name.")


class Packed(Frozen):
    """The parcel is packed."""

    by: Actor | None = Field(None, description="Who confirmed it; the warehouse task is closed in their name.")


class Shipped(Frozen):
    """The parcel went out with a carrier under a tracking number."""

    model_config = ConfigDict(str_strip_whitespace=True)

    carrier: Annotated[str, StringConstraints(min_length=1, max_length=50), ONE_LINE]
    tracking: Annotated[str, StringConstraints(min_length=1, max_length=100), ONE_LINE]
    by: Actor | None = Field(None, description="Who handed the parcel over.")


class Complete(Frozen):
    """The operator fulfilled the order outside the system."""

    note: Annotated[str, StringConstraints(max_length=500), PARAGRAPHS] | None = None
    by: Actor | None = Field(None, description="Who fulfilled the order.")


class Feedback(Frozen):
    """The customer's answer to the satisfaction survey."""

    model_config = ConfigDict(str_strip_whitespace=True)

    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(max_length=2000), PARAGRAPHS] | None = None
    by: Actor | None = Field(None, description="Who passed the answer on: the survey, an operator.")


class DeliveryEvent(Frozen):
    """What a carrier reports about the parcel, e.g. `in_transit`, `out_for_delivery`, `delivered`."""

    model_config = ConfigDict(str_strip_whitespace=True)

    event: Annotated[str, StringConstraints(min_length=1, max_length=50), ONE_LINE]
    detail: Annotated[str, StringConstraints(max_length=500), ONE_LINE] | None = None
    by: Actor | None = Field(None, description="Who reported it: the carrier, its webhook, an operator.")


class StockArrived(Frozen):
    """Stock was received for one of the order's SKUs; a backordered order tries to reserve again."""

    sku: Annotated[str, StringConstraints(max_length=64), ONE_LINE] | None = None
    by: Actor | None = Field(None, description="Who booked the stock in.")


# The payload of any command, for code that handles them all; each one says who gave it in `by`.
CommandPayload: TypeAlias = (
    PaymentReceived
    | Picked
    | Packed
    | Shipped
    | Complete
    | Feedback
    | DeliveryEvent
    | StockArrived
    | Refund
    | Cancel
    | RefundPaidOut
)


class CommandAccepted(Frozen):
    """The answer to an accepted Update: what the order is now."""

    order_id: str
    command: Command
    status: OrderStatus
    message: str
    refund: RefundView | None = Field(None, description="The refund a `refund` or `cancel` started.")
