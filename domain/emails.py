"""The emails an order sends, by kind: who gets each and how often it may go out."""

from __future__ import annotations

from enum import StrEnum


class EmailKind(StrEnum):
    """The emails an order sends; each at most once per order (per refund, and per reminder, for refund emails)."""

    ORDER_CONFIRMATION = "order_confirmation"
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_EXPIRED = "payment_expired"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    SURVEY = "survey"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    REFUND_PAYOUT_REQUESTED = "refund_payout_requested"
    REFUND_REMINDER = "refund_reminder"
    REFUND_ESCALATED = "refund_escalated"
    NEW_ORDER = "new_order"

    @property
    def for_operator(self) -> bool:
        """Goes to the shop (operator, or the escalation address), not to the customer."""
        return self in (
            EmailKind.REFUND_PAYOUT_REQUESTED,
            EmailKind.REFUND_REMINDER,
            EmailKind.REFUND_ESCALATED,
            EmailKind.NEW_ORDER,
        )

    @property
    def about_a_refund(self) -> bool:
        """Needs the refund in `SendEmail.refund`, and is sent once per refund rather than once per order."""
        return self in (
            EmailKind.REFUNDED,
            EmailKind.CANCELLED,
            EmailKind.REFUND_PAYOUT_REQUESTED,
            EmailKind.REFUND_REMINDER,
            EmailKind.REFUND_ESCALATED,
        )
