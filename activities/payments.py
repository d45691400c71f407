"""Payment activities: take the money (once per order) and pay refunds back (once per refund), by gateway or hand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities import api
from activities.api import ErrorType
from activities.orders import write_order
from domain import progress
from domain.money import Money
from domain.order import PaymentDetails
from gateways import payments as gateway
from settings import Settings
from store import payments as payment_records
from store import refunds as refund_records
from store.payments import BookedPayment
from store.refunds import RefundPayout
from store.transaction import one_transaction


class PaymentActivities:
    """The customer's money: captured at most once per order and paid back at most once per refund, however retried."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def handlers(self) -> list[Callable[..., Awaitable[Any]]]:
        """The activity functions to register with a worker."""
        return [
            self.capture_payment,
            self.capture_order_payment,
            self.record_payment,
            self.refund_payment,
            self.record_refund_payout,
        ]

    @api.CAPTURE_ORDER_PAYMENT.implementation
    async def capture_order_payment(self, request: api.CaptureOrderPayment) -> api.PaymentCaptured:
        """The order's first step: write it into the read model, charge the gateway, then commit the capture, the
        move to `paid` and the confirmation email together (a decline: `payment_failed` and its email, then the
        non-retryable `PaymentDeclined` error). No transaction stays open while the gateway is asked."""
        changes = request.changes
        order_id = changes.order_id
        async with one_transaction(self.sessions) as shared:
            await write_order(shared, self.settings, changes)
        try:
            booked = await payment_records.find_capture(self.sessions, order_id)
            if booked is None:
                booked = await self._charge(order_id, request.payment, request.amount)
        except ApplicationError as error:
            if error.type == ErrorType.PAYMENT_DECLINED:
                reason = error.message
                async with one_transaction(self.sessions) as shared:
                    await write_order(
                        shared,
                        self.settings,
                        changes,
                        lambda view: progress.payment_declined(view, reason, changes.at),
                    )
            raise
        captured = _captured(booked)
        async with one_transaction(self.sessions) as shared:
            # The charge is the gateway's; booking it here, beside the order's move, makes them one commit.
            await payment_records.record_capture(
                shared,
                order_id=order_id,
                method=request.payment.method,
                amount=captured.amount,
                gateway_reference=captured.gateway_reference,
                reference=request.payment.reference,
            )
            await write_order(
                shared, self.settings, changes, lambda view: progress.payment_captured(view, captured, changes.at)
            )
        return captured

    async def _charge(self, order_id: str, payment: PaymentDetails, amount: Money) -> BookedPayment:
        """Charge the gateway (idempotent by the order's capture key); a decline or an outage as activity errors."""
        try:
            gateway.fail_by_chance(self.settings.sandbox_gateway_failure_rate)
            charge = gateway.charge(
                payment, amount, idempotency_key=payment_records.capture_key(order_id), attempt=activity.info().attempt
            )
        except gateway.PaymentDeclined as declined:
            raise _declined(order_id, amount, payment, declined) from declined
        except gateway.GatewayUnavailable as unavailable:
            raise ApplicationError(
                f"order {order_id}: the payment gateway failed ({unavailable.reason}); will retry"
            ) from unavailable
        return BookedPayment(
            order_id=order_id,
            kind=payment_records.CAPTURE,
            method=payment.method,
            amount=charge.amount,
            gateway_reference=charge.reference,
            reference=payment.reference,
            at=datetime.now(UTC),
        )

    @api.CAPTURE_PAYMENT.implementation
    async def capture_payment(self, request: api.CapturePayment) -> api.PaymentCaptured:
        """Charge a card or PayPal account now; a decline is a non-retryable `PaymentDeclined` error."""
        if not request.payment.method.captures_at_once:
            raise ApplicationError(
                f"order {request.order_id}: {request.payment.method.value} is not captured through the "
                "gateway; book it with record_payment when the money arrives",
                non_retryable=True,
            )
        existing = await payment_records.find_capture(self.sessions, request.order_id)
        if existing is not None:
            return _captured(existing)
        try:
            gateway.fail_by_chance(self.settings.sandbox_gateway_failure_rate)
            charge = gateway.charge(
                request.payment,
                request.amount,
                idempotency_key=payment_records.capture_key(request.order_id),
                attempt=activity.info().attempt,
            )
        except gateway.PaymentDeclined as declined:
            raise _declined(request.order_id, request.amount, request.payment, declined) from declined
        except gateway.GatewayUnavailable as unavailable:
            raise ApplicationError(
                f"order {request.order_id}: the payment gateway failed ({unavailable.reason}); will retry"
            ) from unavailable
        booked = await payment_records.record_capture(
            self.sessions,
            order_id=request.order_id,
            method=request.payment.method,
            amount=charge.amount,
            gateway_reference=charge.reference,
            reference=request.payment.reference,
        )
        activity.logger.info("order %s: captured %s as %s", request.order_id, booked.amount, booked.gateway_reference)
        return _captured(booked)

    @api.RECORD_PAYMENT.implementation
    async def record_payment(self, request: api.RecordPayment) -> api.PaymentCaptured:
        """Book a bank transfer, a paid invoice or cash taken at the door as the order's one capture."""
        if request.method.captures_at_once:
            raise ApplicationError(
                f"order {request.order_id}: {request.method.value} is captured through the gateway, "
                "not booked by hand; use capture_payment",
                non_retryable=True,
            )
        booked = await payment_records.find_capture(self.sessions, request.order_id)
        if booked is None:
            booked = await payment_records.record_capture(
                self.sessions,
                order_id=request.order_id,
                method=request.method,
                amount=request.amount,
                gateway_reference=payment_records.booking_reference(request.method, request.order_id),
                reference=request.reference,
            )
        return _captured(booked)

    @api.REFUND_PAYMENT.implementation
    async def refund_payment(self, request: api.RefundPayment) -> api.RefundPaid:
        """Pay the refund back to the card or PayPal account through the gateway; a retry pays nothing more.

        More than is left of the capture, or an order without one, is a non-retryable `RefundRejected` error;
        a gateway failure is retried (`GatewayUnavailable`).
        """
        if not request.payment.method.captures_at_once:
            raise ApplicationError(
                f"refund {request.refund_id} of order {request.order_id}: {request.payment.method.value} is not "
                "refunded through the gateway; pay it out by hand and book it with record_refund_payout",
                non_retryable=True,
            )
        paid = await refund_records.find_refund_payment(self.sessions, request.refund_id)
        if paid is not None:
            return _refund_paid(paid)
        capture = await self._refundable_capture(request.order_id, request.refund_id, request.amount)
        # The attempt's scheduled time is the server's clock, so a test that skips time sees days of retrying.
        info = activity.info()
        try:
            gateway.fail_by_chance(self.settings.sandbox_gateway_failure_rate)
            receipt = gateway.refund(
                request.payment,
                capture.gateway_reference,
                request.amount,
                idempotency_key=_refund_key(request.refund_id),
                elapsed=info.current_attempt_scheduled_time - info.scheduled_time,
            )
        except gateway.GatewayUnavailable as unavailable:
            raise ApplicationError(
                f"refund {request.refund_id} of order {request.order_id}: the payment gateway failed "
                f"({unavailable.reason}); will retry",
                unavailable.reason,
                type=ErrorType.GATEWAY_UNAVAILABLE,
            ) from unavailable
        paid = await refund_records.record_refund_payment(
            self.sessions,
            refund_id=request.refund_id,
            order_id=request.order_id,
            kind=refund_records.GATEWAY,
            method=request.payment.method,
            amount=receipt.amount,
            reference=receipt.reference,
        )
        activity.logger.info(
            "order %s: refund %s paid back %s as %s", request.order_id, request.refund_id, paid.amount, paid.reference
        )
        return _refund_paid(paid)

    @api.RECORD_REFUND_PAYOUT.implementation
    async def record_refund_payout(self, request: api.RecordRefundPayout) -> api.RefundPaid:
        """Book a refund that a person paid out by hand (bank transfer back, cash); a repeat books nothing more.

        Any order may be paid out by hand, a card order too when the gateway cannot refund it in time: the refund's
        one row in `refund_payments` then stops `refund_payment` from paying it a second time.
        """
        paid = await refund_records.find_refund_payment(self.sessions, request.refund_id)
        if paid is None:
            await self._refundable_capture(request.order_id, request.refund_id, request.amount)
            paid = await refund_records.record_refund_payment(
                self.sessions,
                refund_id=request.refund_id,
                order_id=request.order_id,
                kind=refund_records.PAYOUT,
                method=request.method,
                amount=request.amount,
                reference=request.reference or _payout_reference(request.refund_id),
                paid_by=request.by,
            )
        return _refund_paid(paid)

    async def _refundable_capture(self, order_id: str, refund_id: str, amount: Money) -> BookedPayment:
        """The capture `amount` is paid back from; `RefundRejected` if there is none or too little is left of it."""
        capture = await payment_records.find_capture(self.sessions, order_id)
        if capture is None:
            raise _refund_rejected(
                f"refund {refund_id} of order {order_id}: no payment was taken for the order, so there is nothing "
                "to pay back; finish the refund without a payment"
            )
        if amount.currency != capture.amount.currency or amount.is_zero or amount.amount < 0:
            raise _refund_rejected(
                f"refund {refund_id} of order {order_id}: cannot pay back {amount} of a capture of {capture.amount}; "
                "the amount must be more than zero and in the capture's currency"
            )
        # Not counting this refund: an attempt racing its own twin must not see the twin's row as a second refund.
        refunded = await refund_records.refunded_total(
            self.sessions, order_id, capture.amount.currency, excluding=refund_id
        )
        if capture.amount < refunded + amount:
            raise _refund_rejected(
                f"refund {refund_id} of order {order_id}: {amount} would bring the refunds to {refunded + amount}, "
                f"more than the {capture.amount} captured ({refunded} already refunded, "
                f"{capture.amount - refunded} left)"
            )
        return capture


def _declined(
    order_id: str, amount: Money, payment: PaymentDetails, declined: gateway.PaymentDeclined
) -> ApplicationError:
    return ApplicationError(
        f"order {order_id}: payment of {amount} by {payment.reference} "
        f"was declined ({declined.reason}); ask the customer for another way to pay",
        declined.reason,
        type=ErrorType.PAYMENT_DECLINED,
        non_retryable=True,
        # A decline is the customer's business outcome, not a fault: no traceback in the worker's log.
        category=ApplicationErrorCategory.BENIGN,
    )


def _refund_rejected(message: str) -> ApplicationError:
    return ApplicationError(
        message,
        type=ErrorType.REFUND_REJECTED,
        non_retryable=True,
        # Refusing an impossible refund is a business outcome, not a fault: no traceback in the worker's log.
        category=ApplicationErrorCategory.BENIGN,
    )


def _refund_key(refund_id: str) -> str:
    # The gateway's idempotency key: a refund retried after a crash is the same refund, not a second one.
    return f"refund:{refund_id}"


def _payout_reference(refund_id: str) -> str:
    # Derived from the refund, not the clock, so a retried booking cannot mint a second reference.
    return f"payout:{refund_id}"


def _refund_paid(paid: RefundPayout) -> api.RefundPaid:
    return api.RefundPaid(refund_id=paid.refund_id, reference=paid.reference, amount=paid.amount, paid_at=paid.paid_at)


def _captured(booked: BookedPayment) -> api.PaymentCaptured:
    return api.PaymentCaptured(gateway_reference=booked.gateway_reference, amount=booked.amount, captured_at=booked.at)
