"""Customer emails over SMTP (aiosmtplib) in plain text and HTML, each sent once per order and kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from html import escape
from typing import Any

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import api
from domain.order import PaymentMethod
from domain.view import OrderView
from settings import Settings
from store import notifications
from store.schema import Notification

SMTP_TIMEOUT_SECONDS = 10.0
SMTP_UNAVAILABLE = "SmtpUnavailable"
EMAIL_NOT_APPLICABLE = "EmailNotApplicable"


@dataclass(frozen=True)
class Letter:
    """What an email says before it is rendered: paragraphs around an optional order summary."""

    subject: str
    opening: list[str]
    closing: list[str] = field(default_factory=list)
    with_summary: bool = False


class NotificationActivities:
    """Emails to customers; the `notifications` outbox makes each (order, kind) go out once."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def handlers(self) -> list[Callable[..., Awaitable[Any]]]:
        """The activities to register on a worker."""
        return [self.send_email]

    @activity.defn(name=api.SEND_EMAIL)
    async def send_email(self, request: api.SendEmail) -> api.EmailSent:
        """Send the email of this kind for the order unless an earlier attempt already did."""
        order = request.order
        message = compose(request.kind, order, self.settings)
        key = f"{order.order_id}:{request.kind.value}"
        queued = await notifications.enqueue(
            self.sessions,
            Notification(
                idempotency_key=key,
                order_id=order.order_id,
                kind=request.kind.value,
                recipient=order.customer.email,
                subject=str(message["Subject"]),
                message_id=str(message["Message-ID"]),
                created_at=datetime.now(UTC),
            ),
        )
        if queued.status == notifications.SENT:
            return api.EmailSent(message_id=queued.message_id, already_sent=True)
        await self._deliver(message, key)
        return api.EmailSent(message_id=queued.message_id)

    async def _deliver(self, message: EmailMessage, key: str) -> None:
        """Hand the message to SMTP and mark it sent in one transaction that commits the moment the server has it.

        The outbox row is locked before the envelope goes out, so a worker killed mid-send rolls the row back to
        pending and the retry sends again; only a kill in the instant between the server's reply and the commit
        can repeat an email, and then under the same Message-ID. Connecting and QUIT stay outside the lock.
        """
        try:
            async with (
                aiosmtplib.SMTP(
                    hostname=self.settings.smtp_host, port=self.settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS
                ) as smtp,
                self.sessions.begin() as session,
            ):
                await notifications.mark_sent(session, key, datetime.now(UTC))
                await smtp.send_message(message)
        except (aiosmtplib.SMTPException, OSError) as error:
            raise ApplicationError(
                f"email {key}: SMTP server {self.settings.smtp_host}:{self.settings.smtp_port} "
                f"did not accept it ({error}); will retry",
                type=SMTP_UNAVAILABLE,
            ) from error


def compose(kind: api.EmailKind, order: OrderView, settings: Settings) -> EmailMessage:
    """The complete email of this kind for the order: headers, a plain-text part and an HTML alternative."""
    letter = _LETTERS[kind](order, settings.shop_name)
    message = EmailMessage()
    message["Subject"] = letter.subject
    message["From"] = formataddr((settings.shop_name, settings.mail_from))
    message["To"] = formataddr((order.customer.name, order.customer.email))
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(order.order_id, kind, settings.mail_from)
    message.set_content(_text(letter, order, settings.shop_name))
    message.add_alternative(_html(letter, order, settings.shop_name), subtype="html")
    return message


def message_id(order_id: str, kind: api.EmailKind, mail_from: str) -> str:
    """The email's Message-ID: the same for every attempt, so a resend is recognisable as the same email."""
    domain = mail_from.rpartition("@")[2] or "localhost"
    return f"<{order_id}.{kind.value}@{domain}>"


# --- what each email says ---------------------------------------------------------------------------------


def _order_confirmation(order: OrderView, shop: str) -> Letter:
    return Letter(
        subject=f"{shop}: order {order.order_id} confirmed",
        opening=[
            f"Hello {order.customer.name},",
            f"thank you for your order {order.order_id}. This is what you ordered:",
        ],
        closing=[
            _payment_note(order),
            f"It will be shipped to: {_address(order)}.",
            "We will email you again when your parcel is on its way.",
        ],
        with_summary=True,
    )


def _payment_note(order: OrderView) -> str:
    total = order.totals.total.format()
    method = order.payment.method
    if method is PaymentMethod.BANK_TRANSFER:
        return (
            f"Payment is awaited: please transfer {total} quoting {order.order_id} as the reference. "
            "We ship as soon as the money arrives."
        )
    if method is PaymentMethod.INVOICE:
        return (
            f"Payment is awaited: please pay the invoice of {total} quoting {order.order_id}. "
            "We ship as soon as the money arrives."
        )
    if method is PaymentMethod.CASH_ON_DELIVERY:
        return f"Payment method: cash on delivery. Please have {total} ready for the courier."
    return f"Payment method: {order.payment.reference}, {total}."


def _payment_declined(order: OrderView, shop: str) -> Letter:
    reason = f" ({order.payment.failure})" if order.payment.failure else ""
    return Letter(
        subject=f"{shop}: payment for order {order.order_id} declined",
        opening=[
            f"Hello {order.customer.name},",
            f"your payment of {order.totals.total.format()} with {order.payment.reference} for order "
            f"{order.order_id} was declined{reason}.",
            "Nothing was charged and the order will not be processed. "
            "You are welcome to order again with another payment method.",
        ],
    )


def _payment_expired(order: OrderView, shop: str) -> Letter:
    return Letter(
        subject=f"{shop}: order {order.order_id} cancelled, payment not received",
        opening=[
            f"Hello {order.customer.name},",
            f"we never received your payment of {order.totals.total.format()} for order {order.order_id}, "
            "so the order has been cancelled.",
            "If you have sent the money in the meantime, reply to this email and we will sort it out.",
        ],
    )


def _shipped(order: OrderView, shop: str) -> Letter:
    if order.shipment is None:
        raise ApplicationError(
            f"order {order.order_id}: a shipped email needs the shipment in the order view",
            type=EMAIL_NOT_APPLICABLE,
            non_retryable=True,
        )
    return Letter(
        subject=f"{shop}: order {order.order_id} has shipped",
        opening=[
            f"Hello {order.customer.name},",
            f"your order {order.order_id} is on its way with {order.shipment.carrier}.",
            f"Tracking number: {order.shipment.tracking}",
            f"It goes to: {_address(order)}.",
        ],
    )


def _completed(order: OrderView, shop: str) -> Letter:
    return Letter(
        subject=f"{shop}: your order {order.order_id} is complete",
        opening=[
            f"Hello {order.customer.name},",
            f"your order {order.order_id} is complete. Thank you for shopping with {shop}!",
        ],
        with_summary=True,
    )


def _survey(order: OrderView, shop: str) -> Letter:
    return Letter(
        subject=f"{shop}: how was your order {order.order_id}?",
        opening=[
            f"Hello {order.customer.name},",
            f"how happy are you with order {order.order_id}? Please rate it from 1 (poor) to 5 (excellent) "
            "by replying with a single number; a line on what we could do better is welcome too.",
        ],
    )


_LETTERS: dict[api.EmailKind, Callable[[OrderView, str], Letter]] = {
    api.EmailKind.ORDER_CONFIRMATION: _order_confirmation,
    api.EmailKind.PAYMENT_DECLINED: _payment_declined,
    api.EmailKind.PAYMENT_EXPIRED: _payment_expired,
    api.EmailKind.SHIPPED: _shipped,
    api.EmailKind.COMPLETED: _completed,
    api.EmailKind.SURVEY: _survey,
}


def _address(order: OrderView) -> str:
    address = order.shipping_address
    parts = [
        address.name,
        address.line1,
        address.line2,
        f"{address.postal_code} {address.city}",
        address.country,
    ]
    return ", ".join(part for part in parts if part)


# --- rendering --------------------------------------------------------------------------------------------


def _text(letter: Letter, order: OrderView, shop: str) -> str:
    blocks = list(letter.opening)
    if letter.with_summary:
        blocks.append(_text_summary(order))
    blocks.extend(letter.closing)
    blocks.append(f"-- \n{shop}")
    return "\n\n".join(blocks) + "\n"


def _text_summary(order: OrderView) -> str:
    rows = [
        f"  {line.quantity} x {_item(line.name, line.sku)} at {line.unit_price.format()} = {line.total.format()}"
        for line in order.lines
    ]
    rows.append(f"  Subtotal: {order.totals.subtotal.format()}")
    rows.append(f"  Shipping: {order.totals.shipping.format()}")
    rows.append(f"  Total:    {order.totals.total.format()}")
    return "\n".join(rows)


def _html(letter: Letter, order: OrderView, shop: str) -> str:
    # Every piece of text can carry customer input (names, addresses, notes): escape it all.
    blocks = [f"<p>{escape(paragraph)}</p>" for paragraph in letter.opening]
    if letter.with_summary:
        blocks.append(_html_summary(order))
    blocks.extend(f"<p>{escape(paragraph)}</p>" for paragraph in letter.closing)
    blocks.append(f"<p>&mdash;<br>{escape(shop)}</p>")
    body = "\n".join(blocks)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(letter.subject)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


def _html_summary(order: OrderView) -> str:
    rows = "".join(
        f"<tr><td>{escape(_item(line.name, line.sku))}</td><td>{line.quantity}</td>"
        f"<td>{escape(line.unit_price.format())}</td><td>{escape(line.total.format())}</td></tr>"
        for line in order.lines
    )
    totals = "".join(
        f'<tr><th colspan="3">{label}</th><td>{escape(amount.format())}</td></tr>'
        for label, amount in (
            ("Subtotal", order.totals.subtotal),
            ("Shipping", order.totals.shipping),
            ("Total", order.totals.total),
        )
    )
    return (
        "<table><thead><tr><th>Item</th><th>Quantity</th><th>Unit price</th><th>Amount</th></tr></thead>"
        f"<tbody>{rows}</tbody><tfoot>{totals}</tfoot></table>"
    )


def _item(name: str | None, sku: str) -> str:
    return f"{name} ({sku})" if name else sku
