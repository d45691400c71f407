"""Payment activities: capture through the sandbox gateway or book money paid another way, once per order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities import api
from activities.api import ErrorType
from domain.order import PaymentMethod
from gateways import payments as gateway
from settings import Settings
from store import payments as payment_records
from store.payments import BookedPayment


class PaymentActivities:
    """Taking the customer's money: each order is captured at most once, whatever the retries."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def handlers(self) -> list[Callable[..., Awaitable[Any]]]:
        """The activity functions to register with a worker."""
        return [self.capture_payment, self.record_payment]

    @activity.defn(name=api.CAPTURE_PAYMENT)
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
            charge = gateway.charge(
                request.payment,
                request.amount,
                idempotency_key=payment_records.capture_key(request.order_id),
                attempt=activity.info().attempt,
            )
        except gateway.PaymentDeclined as declined:
            raise ApplicationError(
                f"order {request.order_id}: payment of {request.amount} by {request.payment.reference} "
                f"was declined ({declined.reason}); ask the customer for another way to pay",
                declined.reason,
                type=ErrorType.PAYMENT_DECLINED,
                non_retryable=True,
                # A decline is the customer's business outcome, not a fault: no traceback in the worker's log.
                category=ApplicationErrorCategory.BENIGN,
            ) from declined
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

    @activity.defn(name=api.RECORD_PAYMENT)
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
                gateway_reference=_booking_reference(request.method, request.order_id),
                reference=request.reference,
            )
        return _captured(booked)


def _booking_reference(method: PaymentMethod, order_id: str) -> str:
    # Derived from the order, not the clock, so a retried booking cannot mint a second reference.
    return f"{method.value}:{order_id}"


def _captured(booked: BookedPayment) -> api.PaymentCaptured:
    return api.PaymentCaptured(gateway_reference=booked.gateway_reference, amount=booked.amount, captured_at=booked.at)
