"""What an operator, a carrier or a bank can tell an order, when the order refuses it, and the answer they get.

`COMMANDS` is the table the order workflow registers its Signals and Updates from: for each command the model its
input must decode to, one rule over the order's situation that says why it is refused (or None), and its reply.
Everything here is pure, so every refusal can be tested without Temporal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeAlias, TypeVar

from pydantic import ConfigDict, Field, StringConstraints, ValidationError

from domain.base import Frozen
from domain.order import FulfilmentMode
from domain.refund import Actor, Cancel, Refund, RefundKind, RefundPaidOut, RefundRefused, RefundView, plan_refund
from domain.status import OrderStatus
from domain.text import ONE_LINE, PARAGRAPHS

if TYPE_CHECKING:
    # Only for annotations: the view names commands' timeline events, so it imports this module.
    from domain.policy import OrderPolicy
    from domain.view import OrderView

S = OrderStatus


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


def command_rejected(name: str) -> str:
    """The timeline event of a command signalled and refused, e.g. `packed rejected`."""
    return f"{name} rejected"


# The timeline event of a Signal whose name is no command; its detail names what was sent.
UNKNOWN_SIGNAL_REJECTED = "signal rejected"
# A rejection's reason is shown in the timeline and logged: kept to a line of readable length.
REASON_LENGTH = 300


class MalformedCommand(ValueError):
    """A command's input that does not decode to its payload; the message names the field and the problem."""


@dataclass(frozen=True)
class OrderSituation:
    """What the refusal rules read of an order: its view, its policy, the time, and what it has been told.

    `given`: the commands the order has taken in (a payout only until it is passed on to its refund).
    `completed`: the order reached its follow-up. `ending`: the refund or cancellation that ends the order, once
    accepted.
    """

    view: OrderView
    policy: OrderPolicy
    now: datetime
    given: frozenset[Command] = frozenset()
    completed: bool = False
    feedback_closed: bool = False
    ending: RefundView | None = None

    @property
    def status(self) -> OrderStatus:
        return self.view.status

    def shop_time(self, at: datetime) -> str:
        """A time as the shop reads it, e.g. `Fri 04 Dec 2026 23:59 CET`."""
        return shop_time(self.policy, at)

    def refund_window_closes(self) -> datetime | None:
        """When refunds stop being taken: a set time after delivery (or after completion by hand)."""
        if not self.completed:
            return None
        shipment = self.view.shipment
        delivered = shipment.delivered_at if shipment is not None and shipment.delivered_at is not None else self.now
        return delivered + self.policy.refund_window


def shop_time(policy: OrderPolicy, at: datetime) -> str:
    """A time as the shop reads it, in its calendar's zone, e.g. `Fri 04 Dec 2026 23:59 CET`."""
    return at.astimezone(policy.calendar.zone).strftime("%a %d %b %Y %H:%M %Z")


P = TypeVar("P", bound=Frozen)


@dataclass(frozen=True)
class CommandRule(Generic[P]):
    """One command: what its input decodes to, why the order refuses it, and what an accepted one answers.

    `refuse` reads the order before the command; `reply` reads it after the order took the command in.
    `while_ending`: taken even once a refund or cancellation ends the order (a payout for that very refund).
    """

    payload: type[P]
    refuse: Callable[[OrderSituation, P], str | None]
    reply: Callable[[OrderSituation, P], str]
    summary: str
    while_ending: bool = False

    def refusal(self, order: OrderSituation, payload: P) -> str | None:
        """Why the order refuses `payload` now, or None when it takes it."""
        if order.ending is not None and not self.while_ending:
            ending = "refunded" if order.ending.kind is RefundKind.REFUND else "cancelled"
            return f"the order is being {ending} ({order.ending.refund_id}); nothing else can change it"
        return self.refuse(order, payload)

    def read(self, data: bytes | None) -> P:
        """The payload from its JSON; no input, or `null`, is an empty object (every field left out)."""
        if data is None or data.strip() in (b"", b"null"):
            data = b"{}"
        try:
            return self.payload.model_validate_json(data)
        except ValidationError as error:
            raise MalformedCommand(field_problem(error)) from None


def field_problem(error: ValidationError) -> str:
    """The first problem of a decoding error as one readable line, e.g. `rating: Input should be ... 5`."""
    first = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "input"
    return readable(f"{field}: {str(first['msg']).removeprefix('Value error, ')}")


def readable(text: str) -> str:
    """`text` safe for a timeline entry and a log line: printable, on one line, at most `REASON_LENGTH` long."""
    text = "".join(char if char.isprintable() else "?" for char in text)
    return text if len(text) <= REASON_LENGTH else text[: REASON_LENGTH - 1] + "…"


def unknown_signal(name: str) -> str:
    """Why a Signal of `name` is refused: no command has that name; the detail lists the ones there are."""
    shown = readable(name[:60] + ("…" if len(name) > 60 else ""))
    return f"no command is called {shown!r}; an order takes {', '.join(command.value for command in Command)}"


# --- the refusal rules: the order before the command -----------------------------------------------------------


def _payment_refusal(order: OrderSituation, _: PaymentReceived) -> str | None:
    if order.status is not S.AWAITING_PAYMENT:
        return f"the order is {order.status.value}; payment is only awaited for bank transfer and invoice orders"
    return "payment is already confirmed" if Command.PAYMENT_RECEIVED in order.given else None


def _warehouse_step(command: Command, status: OrderStatus, step: str) -> Callable[[OrderSituation, Frozen], str | None]:
    """Picking and packing by hand: only in manual mode, only in the step's own status, only once."""

    def refuse(order: OrderSituation, _: Frozen) -> str | None:
        if order.view.mode is not FulfilmentMode.MANUAL:
            return AUTO_MODE
        if order.status is not status:
            return f"the order is {order.status.value}; {step} can be confirmed only while it is {step}"
        return f"{step} is already confirmed" if command in order.given else None

    return refuse


AUTO_MODE = "the order is in auto mode; the warehouse system confirms this step itself"


def _shipped_refusal(order: OrderSituation, _: Shipped) -> str | None:
    if order.view.mode is not FulfilmentMode.MANUAL:
        return AUTO_MODE
    if order.status is not S.PACKING or Command.PACKED not in order.given:
        return f"the order is {order.status.value}; it can be shipped only once packing is confirmed"
    return "shipping is already confirmed" if Command.SHIPPED in order.given else None


def _complete_refusal(order: OrderSituation, _: Complete) -> str | None:
    if order.status not in (S.PICKING, S.PACKING, S.SHIPPED, S.DELIVERED):
        return f"the order is {order.status.value}; only an order in fulfilment can be completed by hand"
    return "completion is already under way" if Command.COMPLETE in order.given else None


def _feedback_refusal(order: OrderSituation, _: Feedback) -> str | None:
    if not order.completed or order.status not in (S.COMPLETED, S.REFUNDING):
        return f"the order is {order.status.value}; feedback is taken once it is completed"
    if order.feedback_closed:
        return "the satisfaction survey has closed; feedback is no longer taken"
    return "feedback was already given" if Command.FEEDBACK in order.given else None


def _delivery_event_refusal(order: OrderSituation, _: DeliveryEvent) -> str | None:
    if order.status is not S.SHIPPED:
        return f"the order is {order.status.value}; carrier events are taken while it is shipped"
    return None


def _stock_arrived_refusal(order: OrderSituation, _: StockArrived) -> str | None:
    return None if order.status is S.BACKORDERED else f"the order is {order.status.value}, not backordered"


def _refund_refusal(order: OrderSituation, request: Refund) -> str | None:
    status, view = order.status, order.view
    if status.is_final:
        return f"the order is {status.value}; there is nothing left to refund"
    running = next((refund for refund in view.refunds if refund.is_open), None)
    if running is not None:
        return f"refund {running.refund_id} is still under way; wait until it has finished"
    if view.payment.captured is None:
        return f"nothing has been paid for the order yet (it is {status.value}); cancel it instead"
    if Command.COMPLETE in order.given and not order.completed:
        return "completion is under way; refund the order once it is completed"
    if len(view.refunds) >= order.policy.max_refunds:
        # Each refund is a child workflow and a share of the order's history: the number is bounded with it.
        return (
            f"the order has had {len(view.refunds)} refunds, the most one order takes; "
            "give the rest back outside the system"
        )
    window_closes = order.refund_window_closes()
    if window_closes is not None and order.now > window_closes:
        days = order.policy.refund_window / timedelta(days=1)
        return f"the refund window closed on {order.shop_time(window_closes)}, {days:g} days after delivery"
    try:
        plan = plan_refund(view.lines, view.totals.shipping, view.refunds, request)
    except RefundRefused as refused:
        return str(refused)
    if not plan.covers_everything and status is not S.COMPLETED:
        return (
            f"the order is {status.value}; a partial refund is taken once it is completed "
            "(before that, refund the whole order or cancel it)"
        )
    if request.no_restock and view.shipment is None and not order.completed:
        return "--no-restock: the goods never left the warehouse; their reservation is simply released"
    return None


def _cancel_refusal(order: OrderSituation, _: Cancel) -> str | None:
    status, view = order.status, order.view
    if status in (S.SHIPPED, S.DELIVERED, S.COMPLETED, S.REFUNDING):
        return f"the order is {status.value}; it has shipped, so refund it instead of cancelling"
    if status.is_final:
        return f"the order is {status.value}, a final status; there is nothing to cancel"
    if status is S.RECEIVED and view.payment.method.captures_at_once:
        return "the payment is being taken right now; cancel once the order is paid or its payment has failed"
    if Command.PAYMENT_RECEIVED in order.given and view.payment.captured is None:
        return "the payment was just confirmed and is being booked; try again in a moment"
    if Command.COMPLETE in order.given:
        return "completion is under way; refund the order once it is completed"
    return None


def _payout_refusal(order: OrderSituation, _: RefundPaidOut) -> str | None:
    if not any(refund.is_open and refund.needs_payout for refund in order.view.refunds):
        return "no refund of this order is waiting for a payout by hand"
    return "the payout is already recorded" if Command.REFUND_PAID_OUT in order.given else None


# --- the replies: the order after it took the command in -------------------------------------------------------


def _refund_reply(order: OrderSituation, _: Refund) -> str:
    refund = order.view.refunds[-1]
    return (
        f"refund {refund.refund_id} accepted: {refund.amount.format()} back to the customer "
        f"by {order.shop_time(refund.deadline)}"
    )


def _cancel_reply(order: OrderSituation, _: Cancel) -> str:
    refund = order.view.refunds[-1]
    if refund.amount.is_zero:
        return f"cancellation {refund.refund_id} accepted; nothing was paid, so nothing goes back"
    return (
        f"cancellation {refund.refund_id} accepted: {refund.amount.format()} goes back to the customer "
        f"by {order.shop_time(refund.deadline)}"
    )


def _delivery_event_reply(_: OrderSituation, payload: DeliveryEvent) -> str:
    return "delivery recorded" if payload.event == "delivered" else f"carrier event {payload.event} recorded"


COMMANDS: Mapping[Command, CommandRule[Any]] = {
    Command.PAYMENT_RECEIVED: CommandRule(
        PaymentReceived,
        _payment_refusal,
        lambda _, __: "payment confirmed; the order moves on to stock reservation",
        "The money arrived (bank transfer, invoice).",
    ),
    Command.PICKED: CommandRule(
        Picked,
        _warehouse_step(Command.PICKED, S.PICKING, "picking"),
        lambda _, __: "picking confirmed; packing comes next",
        "The warehouse picked every line (manual mode).",
    ),
    Command.PACKED: CommandRule(
        Packed,
        _warehouse_step(Command.PACKED, S.PACKING, "packing"),
        lambda _, __: "packing confirmed; the parcel can be shipped now",
        "The parcel is packed (manual mode).",
    ),
    Command.SHIPPED: CommandRule(
        Shipped,
        _shipped_refusal,
        lambda _, shipped: f"shipped with {shipped.carrier} under {shipped.tracking}",
        "The parcel left with a carrier under a tracking number (manual mode).",
    ),
    Command.COMPLETE: CommandRule(
        Complete,
        _complete_refusal,
        lambda _, __: "the order is being completed",
        "The operator fulfilled the order outside the system.",
    ),
    Command.FEEDBACK: CommandRule(
        Feedback,
        _feedback_refusal,
        lambda _, feedback: f"feedback {feedback.rating}/5 recorded",
        "The customer rated the order.",
    ),
    Command.DELIVERY_EVENT: CommandRule(
        DeliveryEvent,
        _delivery_event_refusal,
        _delivery_event_reply,
        "A carrier reported a scan of the parcel.",
    ),
    Command.STOCK_ARRIVED: CommandRule(
        StockArrived,
        _stock_arrived_refusal,
        lambda _, __: "the order will try to reserve its stock again",
        "Stock was received; a backordered order tries to reserve again.",
    ),
    Command.REFUND: CommandRule(
        Refund,
        _refund_refusal,
        _refund_reply,
        "Give the whole order, or some of its lines, back: money, stock and an email, within the SLA.",
    ),
    Command.CANCEL: CommandRule(
        Cancel,
        _cancel_refusal,
        _cancel_reply,
        "Stop an order that has not shipped: release its stock and refund anything taken.",
    ),
    Command.REFUND_PAID_OUT: CommandRule(
        RefundPaidOut,
        _payout_refusal,
        lambda _, __: "payout recorded; the refund finishes now",
        "A person paid the running refund out by hand (bank transfer, invoice, cash).",
        while_ending=True,
    ),
}
