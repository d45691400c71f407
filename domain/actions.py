"""What an operator can do to an order now, read from its view: the console's buttons and why some are missing.

The order workflow decides; this only predicts its answer so the console offers the buttons that make sense. When the
two disagree (a command raced with the order moving on), the workflow's refusal is what the operator is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.commands import Command, Confirmation
from domain.order import FulfilmentMode
from domain.status import OrderStatus
from domain.view import OrderView

S = OrderStatus

# Statuses in which the goods have not left the warehouse, so the order can still be cancelled.
_BEFORE_SHIPMENT = frozenset({S.RECEIVED, S.AWAITING_PAYMENT, S.PAID, S.BACKORDERED, S.PICKING, S.PACKING})
_IN_FULFILMENT = frozenset({S.PICKING, S.PACKING, S.SHIPPED, S.DELIVERED})


class Action(StrEnum):
    """A button on the order page; the value is the path segment it posts to."""

    PAY = "pay"
    PICK = "pick"
    PACK = "pack"
    SHIP = "ship"
    DELIVER = "deliver"
    COMPLETE = "complete"
    FEEDBACK = "feedback"
    CANCEL = "cancel"
    REFUND = "refund"
    REFUND_PAID_OUT = "refund-paid-out"

    @property
    def command(self) -> Command:
        """The Update the button sends."""
        return _COMMANDS[self]

    @property
    def label(self) -> str:
        """The button's text."""
        return _LABELS[self]


_COMMANDS = {
    Action.PAY: Command.PAYMENT_RECEIVED,
    Action.PICK: Command.PICKED,
    Action.PACK: Command.PACKED,
    Action.SHIP: Command.SHIPPED,
    Action.DELIVER: Command.DELIVERY_EVENT,
    Action.COMPLETE: Command.COMPLETE,
    Action.FEEDBACK: Command.FEEDBACK,
    Action.CANCEL: Command.CANCEL,
    Action.REFUND: Command.REFUND,
    Action.REFUND_PAID_OUT: Command.REFUND_PAID_OUT,
}

_LABELS = {
    Action.PAY: "Payment received",
    Action.PICK: "Picked",
    Action.PACK: "Packed",
    Action.SHIP: "Shipped",
    Action.DELIVER: "Delivered",
    Action.COMPLETE: "Complete",
    Action.FEEDBACK: "Record feedback",
    Action.CANCEL: "Cancel order",
    Action.REFUND: "Refund",
    Action.REFUND_PAID_OUT: "Refund paid out",
}


@dataclass(frozen=True)
class Offer:
    """One action and, when it cannot be taken now, why not."""

    action: Action
    unavailable: str | None

    @property
    def available(self) -> bool:
        """The button can be pressed."""
        return self.unavailable is None


@dataclass(frozen=True)
class Refundable:
    """Units of one SKU that can still be refunded."""

    sku: str
    name: str | None
    quantity: int


def offers(view: OrderView, now: datetime) -> list[Offer]:
    """Every action with the reason it is unavailable now, or None when it is available."""
    return [Offer(action, _unavailable(action, view, now)) for action in Action]


def refundable(view: OrderView) -> list[Refundable]:
    """Per line, the units not yet given back by an earlier refund."""
    given_back: dict[str, int] = {}
    for refund in view.refunds:
        for line in refund.lines:
            given_back[line.sku] = given_back.get(line.sku, 0) + line.quantity
    return [
        Refundable(line.sku, line.name, line.quantity - given_back.get(line.sku, 0))
        for line in view.lines
        if line.quantity > given_back.get(line.sku, 0)
    ]


def _unavailable(action: Action, view: OrderView, now: datetime) -> str | None:
    status = view.status
    running = next((refund for refund in view.refunds if refund.is_open), None)
    if action is Action.REFUND_PAID_OUT:
        if running is None or not running.needs_payout or running.paid_at is not None:
            return "no refund is waiting for a payout by hand"
        return None
    if status.is_final:
        return f"the order is {status.value}"
    if running is not None:
        return f"{running.kind.value} {running.refund_id} is under way"
    manual = view.mode is FulfilmentMode.MANUAL
    match action:
        case Action.PAY:
            if status is not S.AWAITING_PAYMENT:
                return "only an order awaiting payment can be paid"
            return "payment is already confirmed" if _confirmed(view, Confirmation.PAYMENT) else None
        case Action.PICK | Action.PACK | Action.SHIP if not manual:
            return "auto mode: the warehouse system confirms this step"
        case Action.PICK:
            if status is not S.PICKING:
                return "picking is confirmed while the order is picking"
            return "picking is already confirmed" if _confirmed(view, Confirmation.PICKING) else None
        case Action.PACK:
            if status is not S.PACKING:
                return "packing is confirmed while the order is packing"
            return "packing is already confirmed" if _confirmed(view, Confirmation.PACKING) else None
        case Action.SHIP:
            if status is not S.PACKING or not _confirmed(view, Confirmation.PACKING):
                return "the parcel is shipped once packing is confirmed"
            return "shipping is already confirmed" if _confirmed(view, Confirmation.SHIPPING) else None
        case Action.DELIVER:
            return None if status is S.SHIPPED else "delivery is recorded while the order is shipped"
        case Action.COMPLETE:
            if status not in _IN_FULFILMENT:
                return "only an order in fulfilment can be completed by hand"
            return "completion is under way" if _confirmed(view, Confirmation.COMPLETION) else None
        case Action.FEEDBACK:
            if status is not S.COMPLETED:
                return "feedback is taken once the order is completed"
            return "feedback was already given" if view.follow_up.feedback_rating is not None else None
        case Action.CANCEL:
            if status not in _BEFORE_SHIPMENT:
                return "the order has shipped; refund it instead"
            if status is S.RECEIVED and view.payment.method.captures_at_once:
                return "the payment is being taken right now"
            return None
        case Action.REFUND:
            if view.payment.captured is None:
                return "nothing has been paid; cancel the order instead"
            closes = view.follow_up.closes_at
            if status is S.COMPLETED and closes is not None and now > closes:
                return "the refund window has closed"
            return None if refundable(view) else "everything has been refunded"
    return None


def _confirmed(view: OrderView, confirmation: Confirmation) -> bool:
    """A person confirmed this since the order entered its current status (the order acts on it shortly)."""
    for entry in reversed(view.timeline):
        if entry.event == confirmation.value and not entry.rejected:
            return True
        if entry.status is not None:
            return False
    return False
