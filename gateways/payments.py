"""The sandbox payment gateway: card and PayPal charges and refunds whose outcome is chosen by documented test details.

Test card numbers (any expiry, any CVC):

========================  ===================================================================
card number               what happens
========================  ===================================================================
4242 4242 4242 4242       approved
4000 0000 0000 0002       declined: ``card_declined``
4000 0000 0000 9995       declined: ``insufficient_funds``
4000 0000 0000 0119       fails with ``processing_error`` on the first 2 attempts, then approved
4000 0000 0000 0341       approved; its refunds fail with ``processing_error`` for 48 hours, then succeed
any other number          approved
========================  ===================================================================

PayPal: every account is approved except ``decline@paypal.example``, which is declined (``paypal_declined``).

Refunds pay a charge back to the same card or PayPal account; every refund succeeds except those of the outage card.

The gateway honours idempotency keys like a real one: the same key always yields the same charge (or refund)
reference, so a charge or refund repeated after a crash (before the OMS stored it) is the same one, not a second.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from domain.money import Money
from domain.order import PaymentDetails, PaymentMethod


@dataclass(frozen=True)
class SandboxCard:
    """A test card number and what the sandbox does with it."""

    number: str
    outcome: str


APPROVED_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
FLAKY_CARD = "4000000000000119"
REFUND_OUTAGE_CARD = "4000000000000341"
DECLINING_PAYPAL_EMAIL = "decline@paypal.example"

# How many attempts the flaky card fails before it is approved.
FLAKY_CARD_FAILURES = 2
# How long refunds of the outage card keep failing: long enough to run into a refund's SLA and its escalation.
REFUND_OUTAGE = timedelta(hours=48)

TEST_CARDS: tuple[SandboxCard, ...] = (
    SandboxCard(APPROVED_CARD, "approved"),
    SandboxCard(DECLINED_CARD, "declined: card_declined"),
    SandboxCard(INSUFFICIENT_FUNDS_CARD, "declined: insufficient_funds"),
    SandboxCard(FLAKY_CARD, f"processing_error on the first {FLAKY_CARD_FAILURES} attempts, then approved"),
    SandboxCard(REFUND_OUTAGE_CARD, "approved; refunds fail with processing_error for 48 hours, then succeed"),
)

_DECLINE_REASONS: dict[str, str] = {
    DECLINED_CARD: "card_declined",
    INSUFFICIENT_FUNDS_CARD: "insufficient_funds",
}


class PaymentDeclined(Exception):
    """The gateway refused the charge for good; retrying will not change its mind."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GatewayUnavailable(Exception):
    """The gateway failed to process the charge or refund this time; the same one may succeed if tried again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Charge:
    """An approved charge: the gateway's reference for it and the amount taken."""

    reference: str
    amount: Money


def charge(payment: PaymentDetails, amount: Money, *, idempotency_key: str, attempt: int) -> Charge:
    """Charge `amount` to the card or PayPal account in `payment`.

    `attempt` is the caller's 1-based try count; only the flaky test card looks at it.
    Raises `PaymentDeclined` for a refusal and `GatewayUnavailable` for a failure worth retrying.
    """
    if payment.method is PaymentMethod.CARD:
        _check_card(payment.card_number or "", attempt)
    elif payment.method is PaymentMethod.PAYPAL:
        if (payment.paypal_email or "").strip().lower() == DECLINING_PAYPAL_EMAIL:
            raise PaymentDeclined("paypal_declined")
    else:
        raise ValueError(f"method: {payment.method.value} is not charged through the gateway")
    return Charge(reference=charge_reference(idempotency_key), amount=amount)


@dataclass(frozen=True)
class RefundReceipt:
    """A refund the gateway made: its reference and the amount paid back."""

    reference: str
    amount: Money


def refund(
    payment: PaymentDetails, capture_reference: str, amount: Money, *, idempotency_key: str, elapsed: timedelta
) -> RefundReceipt:
    """Pay `amount` of the charge `capture_reference` back to the card or PayPal account in `payment`.

    `elapsed` is how long this refund has been tried so far; only the outage test card looks at it.
    Raises `GatewayUnavailable` for a failure worth retrying.
    """
    if not payment.method.captures_at_once:
        raise ValueError(f"method: {payment.method.value} is not refunded through the gateway")
    if not capture_reference:
        raise ValueError("capture_reference: a refund must name the charge it pays back")
    if payment.card_number == REFUND_OUTAGE_CARD and elapsed < REFUND_OUTAGE:
        raise GatewayUnavailable("processing_error")
    return RefundReceipt(reference=refund_reference(idempotency_key), amount=amount)


def refund_reference(idempotency_key: str) -> str:
    """The sandbox's reference for the refund made under `idempotency_key`: same key, same refund."""
    return "sbx_re_" + _digest(idempotency_key)


def charge_reference(idempotency_key: str) -> str:
    """The sandbox's reference for the charge made under `idempotency_key`: same key, same charge."""
    return "sbx_" + _digest(idempotency_key)


def _digest(idempotency_key: str) -> str:
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


def _check_card(number: str, attempt: int) -> None:
    reason = _DECLINE_REASONS.get(number)
    if reason is not None:
        raise PaymentDeclined(reason)
    if number == FLAKY_CARD and attempt <= FLAKY_CARD_FAILURES:
        raise GatewayUnavailable("processing_error")
