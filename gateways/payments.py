"""The sandbox payment gateway: card and PayPal charges and refunds whose outcome is chosen by documented test details.

Cards are charged by the payment provider's token, as its checkout hands it to the shop (the shop never sees a
card number). Test tokens, in the style of well-known providers' test tokens:

==============================  ===============  ==========================================================
token                           shows as         what happens
==============================  ===============  ==========================================================
``tok_visa``                    visa 4242        approved
``tok_mastercard``              mastercard 4444  approved
``tok_amex``                    amex 0005        approved
``tok_visa_declined``           visa 0002        declined: ``card_declined``
``tok_insufficient_funds``      visa 9995        declined: ``insufficient_funds``
``tok_processing_error_twice``  visa 0119        ``processing_error`` on the first 2 attempts, then approved
``tok_refund_fails_48h``        visa 0341        approved; refunds fail (``processing_error``) for 48 hours
any other ``tok_...``                            declined: ``invalid_token``
==============================  ===============  ==========================================================

"Shows as" is the brand and last4 its checkout hands the shop with it, for display only: the token alone decides.
The outage token's refunds succeed once they have been tried for 48 hours.

An unknown token is declined, as a provider's sandbox refuses a token it never issued: retrying cannot make it
valid, and the customer is asked for another way to pay.

Orders placed before tokens carry one of the old test card numbers (`LEGACY_TEST_CARDS`); they are charged and
refunded as before: each number like its token above, any other number approved.

PayPal: every account is approved except ``decline@paypal.example``, which is declined (``paypal_declined``).

Refunds pay a charge back to the same card or PayPal account; every refund succeeds at once except those of
``tok_refund_fails_48h``.

The gateway honours idempotency keys like a real one: the same key always yields the same charge (or refund)
reference, so a charge or refund repeated after a crash (before the OMS stored it) is the same one, not a second.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import timedelta

from domain.money import Money
from domain.order import PaymentDetails, PaymentMethod


@dataclass(frozen=True)
class SandboxCard:
    """A test card: its token, what its checkout shows of it (brand, last four digits) and what the sandbox does."""

    token: str
    brand: str
    last4: str
    outcome: str


# The test cards by the token an order names them with.
APPROVED_CARD = "tok_visa"
MASTERCARD = "tok_mastercard"
AMEX = "tok_amex"
DECLINED_CARD = "tok_visa_declined"
INSUFFICIENT_FUNDS_CARD = "tok_insufficient_funds"
FLAKY_CARD = "tok_processing_error_twice"
REFUND_OUTAGE_CARD = "tok_refund_fails_48h"
DECLINING_PAYPAL_EMAIL = "decline@paypal.example"
UNKNOWN_CARD_REASON = "invalid_token"

# How many attempts the flaky card fails before it is approved.
FLAKY_CARD_FAILURES = 2
# How long refunds of the outage card keep failing: long enough to run into a refund's SLA and its escalation.
REFUND_OUTAGE = timedelta(hours=48)

TEST_CARDS: tuple[SandboxCard, ...] = (
    SandboxCard(APPROVED_CARD, "visa", "4242", "approved"),
    SandboxCard(MASTERCARD, "mastercard", "4444", "approved"),
    SandboxCard(AMEX, "amex", "0005", "approved"),
    SandboxCard(DECLINED_CARD, "visa", "0002", "declined: card_declined"),
    SandboxCard(INSUFFICIENT_FUNDS_CARD, "visa", "9995", "declined: insufficient_funds"),
    SandboxCard(
        FLAKY_CARD, "visa", "0119", f"processing_error on the first {FLAKY_CARD_FAILURES} attempts, then approved"
    ),
    SandboxCard(
        REFUND_OUTAGE_CARD, "visa", "0341", "approved; refunds fail with processing_error for 48 hours, then succeed"
    ),
)
_KNOWN_TOKENS = frozenset(card.token for card in TEST_CARDS)

# The test card numbers of orders placed before tokens, and the token each behaves like. Their workflows may
# still be running (or be refunded for months), so they are charged and refunded exactly as they always were.
LEGACY_TEST_CARDS: dict[str, str] = {
    "4242424242424242": APPROVED_CARD,
    "4000000000000002": DECLINED_CARD,
    "4000000000009995": INSUFFICIENT_FUNDS_CARD,
    "4000000000000119": FLAKY_CARD,
    "4000000000000341": REFUND_OUTAGE_CARD,
}

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


def fail_by_chance(rate: float) -> None:
    """Raise `GatewayUnavailable` for one call in `1 / rate`, as a busy real gateway does now and then
    (`OMS_SANDBOX_GATEWAY_FAILURE_RATE`, for chaos runs); 0: never."""
    if rate > 0 and random.random() < rate:
        raise GatewayUnavailable("processing_error (sandbox: OMS_SANDBOX_GATEWAY_FAILURE_RATE)")


def charge(payment: PaymentDetails, amount: Money, *, idempotency_key: str, attempt: int) -> Charge:
    """Charge `amount` to the card or PayPal account in `payment`.

    `attempt` is the caller's 1-based try count; only the flaky test token looks at it.
    Raises `PaymentDeclined` for a refusal and `GatewayUnavailable` for a failure worth retrying.
    """
    if payment.method is PaymentMethod.CARD:
        _check_card(sandbox_token(payment), attempt)
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

    `elapsed` is how long this refund has been tried so far; only the outage test token looks at it.
    Raises `GatewayUnavailable` for a failure worth retrying.
    """
    if not payment.method.captures_at_once:
        raise ValueError(f"method: {payment.method.value} is not refunded through the gateway")
    if not capture_reference:
        raise ValueError("capture_reference: a refund must name the charge it pays back")
    refunds_fail = payment.method is PaymentMethod.CARD and sandbox_token(payment) == REFUND_OUTAGE_CARD
    if refunds_fail and elapsed < REFUND_OUTAGE:
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


def sandbox_token(payment: PaymentDetails) -> str:
    """The token that decides a card payment: its own, or the one its legacy test card number behaves like."""
    if payment.token:
        return payment.token
    # Before tokens, any number that was not a test card was approved.
    return LEGACY_TEST_CARDS.get(payment.card_number or "", APPROVED_CARD)


def _check_card(token: str, attempt: int) -> None:
    if token not in _KNOWN_TOKENS:
        raise PaymentDeclined(UNKNOWN_CARD_REASON)
    reason = _DECLINE_REASONS.get(token)
    if reason is not None:
        raise PaymentDeclined(reason)
    if token == FLAKY_CARD and attempt <= FLAKY_CARD_FAILURES:
        raise GatewayUnavailable("processing_error")
