"""Order statuses, the operator list each belongs to, and the one table of allowed status changes."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    """Where an order is in its life; also the `OrderStatus` search attribute and the read model's column."""

    RECEIVED = "received"
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    BACKORDERED = "backordered"
    PICKING = "picking"
    PACKING = "packing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    REFUNDING = "refunding"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    PAYMENT_FAILED = "payment_failed"

    @property
    def operator_list(self) -> OperatorList:
        """The list an operator finds this order in."""
        if self is OrderStatus.COMPLETED:
            return OperatorList.COMPLETED
        if self in _CANCELLED:
            return OperatorList.CANCELLED
        return OperatorList.PENDING

    @property
    def is_final(self) -> bool:
        """No further status change can follow."""
        return not any(source is self for source, _ in TRANSITIONS)


class OperatorList(StrEnum):
    """The three lists a shop operator knows from their spreadsheet."""

    PENDING = "pending"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


_CANCELLED = frozenset({OrderStatus.REFUNDED, OrderStatus.CANCELLED, OrderStatus.PAYMENT_FAILED})

S = OrderStatus
# (from, to): every status change the shop allows. Anything not listed is refused by `refusal`.
TRANSITIONS: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset(
    {
        (S.RECEIVED, S.PAID),
        (S.RECEIVED, S.AWAITING_PAYMENT),
        (S.RECEIVED, S.PAYMENT_FAILED),
        (S.RECEIVED, S.BACKORDERED),
        (S.RECEIVED, S.PICKING),  # cash on delivery: nothing to capture before fulfilment
        (S.RECEIVED, S.CANCELLED),
        (S.AWAITING_PAYMENT, S.PAID),
        (S.AWAITING_PAYMENT, S.PAYMENT_FAILED),
        (S.AWAITING_PAYMENT, S.CANCELLED),
        (S.PAID, S.PICKING),
        (S.PAID, S.BACKORDERED),
        (S.PAID, S.CANCELLED),
        (S.PAID, S.REFUNDING),
        (S.BACKORDERED, S.PICKING),
        (S.BACKORDERED, S.CANCELLED),
        (S.BACKORDERED, S.REFUNDING),
        (S.PICKING, S.PACKING),
        (S.PICKING, S.COMPLETED),
        (S.PICKING, S.CANCELLED),
        (S.PICKING, S.REFUNDING),
        (S.PACKING, S.SHIPPED),
        (S.PACKING, S.COMPLETED),
        (S.PACKING, S.CANCELLED),
        (S.PACKING, S.REFUNDING),
        (S.SHIPPED, S.DELIVERED),
        (S.SHIPPED, S.COMPLETED),
        (S.SHIPPED, S.REFUNDING),
        (S.DELIVERED, S.COMPLETED),
        (S.DELIVERED, S.REFUNDING),
        (S.COMPLETED, S.REFUNDING),
        (S.REFUNDING, S.REFUNDED),
        (S.REFUNDING, S.COMPLETED),  # a partial refund leaves the rest of the order where it was
        (S.REFUNDING, S.CANCELLED),  # a cancellation that had money to give back
    }
)
del S


def refusal(current: OrderStatus, wanted: OrderStatus) -> str | None:
    """Why an order in `current` may not move to `wanted`, or None when the change is allowed."""
    if (current, wanted) in TRANSITIONS:
        return None
    if current.is_final:
        return f"the order is {current.value}, a final status; nothing can change it"
    if current is wanted:
        return f"the order is already {current.value}"
    allowed = sorted(target.value for source, target in TRANSITIONS if source is current)
    return f"an order that is {current.value} cannot become {wanted.value} (it can become: {', '.join(allowed)})"
