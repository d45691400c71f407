"""What each email says: its subject and paragraphs for every kind, rendered as plain text and as HTML."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote
from zoneinfo import ZoneInfo

from temporalio.exceptions import ApplicationError

from activities import api
from domain.order import PaymentMethod
from domain.refund import RefundView
from domain.report import count_of
from domain.view import OrderView
from settings import Settings

# How the operator tells the order that a refund was paid out by hand.
PAYOUT_COMMAND = "oms order refund-paid-out {order_id} --reference <your bank reference>"
# Hosts that mean "every address of this machine": a console listening there is reached by the machine's name.
_EVERY_ADDRESS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 (read, not bound)


@dataclass(frozen=True)
class Letter:
    """What an email says before it is rendered: paragraphs around an optional list and order summary, and a link."""

    subject: str
    opening: list[str]
    closing: list[str] = field(default_factory=list)
    with_summary: bool = False
    listing: list[str] = field(default_factory=list)
    link: tuple[str, str] | None = None


@dataclass(frozen=True)
class RefundNotice:
    """What a refund email is about: the order, the refund, which reminder, and the shop's settings and clock."""

    order: OrderView
    refund: RefundView
    sequence: int
    settings: Settings
    now: datetime

    @property
    def deadline(self) -> str:
        """The refund's deadline in shop time, e.g. "Fri 04 Dec 2026 23:59 CET"."""
        return _shop_time(self.refund.deadline, self.settings)


def write(
    kind: api.EmailKind,
    order: OrderView,
    settings: Settings,
    *,
    refund: RefundView | None,
    sequence: int,
    now: datetime | None,
) -> Letter:
    """What the email of this kind says about the order, or about the refund for refund kinds.

    Refund kinds need `refund` (a non-retryable `EmailNotApplicable` error without it); `now` is when the
    workflow asked for the email, which reminders count the days left from.
    """
    if kind.about_a_refund:
        if refund is None:
            raise ApplicationError(
                f"order {order.order_id}: a {kind.value} email needs the refund it is about",
                type=api.ErrorType.EMAIL_NOT_APPLICABLE,
                non_retryable=True,
            )
        return _REFUND_LETTERS[kind](RefundNotice(order, refund, sequence, settings, now or datetime.now(UTC)))
    if kind is api.EmailKind.NEW_ORDER:
        return _new_order(order, settings)
    return _LETTERS[kind](order, settings.shop_name)


def undelivered(
    kind: str, recipient: str, subject: str, order_id: str, answer: str, settings: Settings, *, written: bool = True
) -> str:
    """The subject and plain text of the operator's alert that an order's email was refused for good (or, not
    `written`, could not even be written), as one string: the subject on the first line."""
    what = kind.replace("_", " ")
    why = (
        f"The mail server refused the {what} email for order {order_id}, for good:"
        if written
        else f"The {what} email for order {order_id} could not be written, so it was never sent:"
    )
    return "\n".join(
        [
            f"Email not delivered: {what} for order {order_id}",
            why,
            "",
            f"  To:      {recipient}",
            f"  Subject: {subject}",
            f"  Answer:  {answer}",
            "",
            "The order carries on without it; it will not be sent again. If the address is wrong, reach the "
            "customer another way and correct it.",
            "",
            f"The order: {console_url(settings, order_id)}",
        ]
    )


def console_url(settings: Settings, order_id: str) -> str:
    """The order's page in the operator console (OMS_WEB_HOST, OMS_WEB_PORT, OMS_WEB_HTTPS)."""
    host = settings.web_host
    if host in _EVERY_ADDRESS:
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    scheme = "https" if settings.web_https else "http"
    return f"{scheme}://{host}:{settings.web_port}/orders/{quote(order_id, safe='')}"


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
            type=api.ErrorType.EMAIL_NOT_APPLICABLE,
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


def _new_order(order: OrderView, settings: Settings) -> Letter:
    # Only what an order never changes (lines, customer, total, payment method): the mail relay may rebuild this
    # email from a later view of the order, and it must say the same.
    total, channel = order.totals.total.format(), order.channel.value
    return Letter(
        subject=f"{settings.shop_name}: new order {order.order_id}, {total} from {channel}",
        opening=[
            f"New order {order.order_id} from {channel}, placed {_shop_time(order.placed_at, settings)}.",
            f"Customer: {_customer(order)}",
        ],
        with_summary=True,
        closing=[f"Payment: {_payment_method(order)}", f"Ship to: {_address(order)}"],
        link=(f"Open order {order.order_id} in the console", console_url(settings, order.order_id)),
    )


def _payment_method(order: OrderView) -> str:
    method = order.payment.method
    if method is PaymentMethod.CARD:
        return order.payment.reference
    if method is PaymentMethod.PAYPAL:
        return "PayPal"
    if method is PaymentMethod.CASH_ON_DELIVERY:
        return "cash on delivery"
    return f"{method.value.replace('_', ' ')} (the money is awaited)"


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


# --- what each refund email says --------------------------------------------------------------------------


def _refunded(notice: RefundNotice) -> Letter:
    order, refund = notice.order, notice.refund
    shop = notice.settings.shop_name
    if refund.amount.is_zero:
        money = "No payment had been taken for it, so there is no money to pay back."
    else:
        money = f"The money goes back to {_paid_back_to(order, refund)}."
    return Letter(
        subject=f"{shop}: refund of {refund.amount.format()} for order {order.order_id}",
        opening=[
            f"Hello {order.customer.name},",
            f"we have refunded {refund.amount.format()} for order {order.order_id}. This is what it covers:",
        ],
        listing=_refund_lines(refund),
        closing=[money, f"Reason: {refund.reason}", f"Refund reference: {refund.refund_id}"],
    )


def _cancelled(notice: RefundNotice) -> Letter:
    order, refund = notice.order, notice.refund
    opening = [
        f"Hello {order.customer.name},",
        f"your order {order.order_id} has been cancelled and will not be shipped.",
        f"Reason: {refund.reason}",
    ]
    if not refund.amount.is_zero:
        opening.append(f"We are refunding {refund.amount.format()} to {_paid_back_to(order, refund)}.")
    return Letter(subject=f"{notice.settings.shop_name}: order {order.order_id} cancelled", opening=opening)


def _payout_requested(notice: RefundNotice) -> Letter:
    order, refund = notice.order, notice.refund
    return Letter(
        subject=(
            f"{notice.settings.shop_name}: pay back {refund.amount.format()} for order {order.order_id} "
            f"by {notice.deadline}"
        ),
        opening=[
            "Hello,",
            f"refund {refund.refund_id} of order {order.order_id} has to be paid out by hand: pay "
            f"{refund.amount.format()} back to {_customer(order)} by {notice.deadline}, "
            f"{_how_to_pay_out(refund)}.",
            f"Reason: {refund.reason}",
            "It covers:",
        ],
        listing=_refund_lines(refund),
        closing=_record_the_payout(order),
    )


def _reminder(notice: RefundNotice) -> Letter:
    order, refund = notice.order, notice.refund
    number = f"reminder {notice.sequence}" if notice.sequence else "reminder"
    return Letter(
        subject=(
            f"{notice.settings.shop_name}: {number}: pay back {refund.amount.format()} for order {order.order_id}"
        ),
        opening=[
            "Hello,",
            f"{number.capitalize()}: refund {refund.refund_id} of order {order.order_id} has not been paid out yet. "
            f"Pay {refund.amount.format()} back to {_customer(order)}, {_how_to_pay_out(refund)}.",
            f"Deadline: {notice.deadline}; {_time_left(notice)}.",
        ],
        closing=_record_the_payout(order),
    )


def _escalated(notice: RefundNotice) -> Letter:
    order, refund = notice.order, notice.refund
    if refund.needs_payout:
        unanswered = (
            f"; {count_of(refund.reminders_sent, 'reminder')} to {notice.settings.operator_email} went unanswered"
            if refund.reminders_sent
            else ""
        )
        stuck = [f"It waits to be paid out by hand, {_how_to_pay_out(refund)}{unanswered}.", *_record_the_payout(order)]
    else:
        failure = f" (last error: {refund.last_error})" if refund.last_error else ""
        account = f"the {order.payment.reference}" if refund.method is PaymentMethod.CARD else "the PayPal account"
        stuck = [
            f"The payment gateway has not managed to pay it back to {account}{failure}. "
            "It keeps retrying; check the gateway."
        ]
    return Letter(
        subject=(
            f"[urgent] {notice.settings.shop_name}: refund {refund.refund_id} of order {order.order_id}, "
            f"{refund.amount.format()}, deadline {notice.deadline}"
        ),
        opening=[
            "Hello,",
            f"refund {refund.refund_id} of order {order.order_id}, {refund.amount.format()} to {_customer(order)}, "
            f"is not finished. Deadline: {notice.deadline}; {_time_left(notice)}.",
            *stuck,
            f"Reason for the refund: {refund.reason}",
        ],
    )


_REFUND_LETTERS: dict[api.EmailKind, Callable[[RefundNotice], Letter]] = {
    api.EmailKind.REFUNDED: _refunded,
    api.EmailKind.CANCELLED: _cancelled,
    api.EmailKind.REFUND_PAYOUT_REQUESTED: _payout_requested,
    api.EmailKind.REFUND_REMINDER: _reminder,
    api.EmailKind.REFUND_ESCALATED: _escalated,
}


def _refund_lines(refund: RefundView) -> list[str]:
    rows = [
        f"{line.quantity} x {_item(line.name, line.sku)} at {line.unit_price.format()} = {line.amount.format()}"
        for line in refund.lines
    ]
    if not refund.shipping.is_zero:
        rows.append(f"Shipping: {refund.shipping.format()}")
    rows.append(f"Total: {refund.amount.format()}")
    return rows


def _paid_back_to(order: OrderView, refund: RefundView) -> str:
    method = refund.method
    if method is PaymentMethod.CARD:
        return f"your {order.payment.reference}"
    if method is PaymentMethod.PAYPAL:
        return "your PayPal account"
    if method is PaymentMethod.CASH_ON_DELIVERY:
        return "you by bank transfer (you paid cash; we will ask for your bank details if we do not have them)"
    return "the bank account you paid from, by bank transfer"


def _how_to_pay_out(refund: RefundView) -> str:
    if refund.method is PaymentMethod.CASH_ON_DELIVERY:
        return "by bank transfer (the order was paid in cash: ask the customer for their bank details)"
    paid_by = refund.method.value.replace("_", " ")
    return f"by bank transfer to the account the customer paid from (the order was paid by {paid_by})"


def _record_the_payout(order: OrderView) -> list[str]:
    return ["Once it is paid, record it with:", PAYOUT_COMMAND.format(order_id=order.order_id)]


def _customer(order: OrderView) -> str:
    return f"{order.customer.name} <{order.customer.email}>"


def _time_left(notice: RefundNotice) -> str:
    zone = ZoneInfo(notice.settings.timezone)
    deadline, now = notice.refund.deadline.astimezone(zone), notice.now.astimezone(zone)
    days = (deadline.date() - now.date()).days
    if now > deadline:
        return f"it is overdue by {count_of(-days, 'day')}" if days else "it is overdue"
    if days == 0:
        return "it is due today"
    return f"{count_of(days, 'day')} left"


def _shop_time(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(ZoneInfo(settings.timezone)).strftime("%a %d %b %Y %H:%M %Z")


# --- rendering --------------------------------------------------------------------------------------------


def text(letter: Letter, order: OrderView, shop: str) -> str:
    """The letter as the email's plain-text part, signed by the shop."""
    blocks = list(letter.opening)
    if letter.listing:
        blocks.append("\n".join(f"  - {item}" for item in letter.listing))
    if letter.with_summary:
        blocks.append(_text_summary(order))
    blocks.extend(letter.closing)
    if letter.link:
        label, url = letter.link
        blocks.append(f"{label}: {url}")
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


def html(letter: Letter, order: OrderView, shop: str) -> str:
    """The letter as the email's HTML alternative: a whole document, every piece of text escaped."""
    # Every piece of text can carry customer input (names, addresses, notes): escape it all.
    blocks = [f"<p>{escape(paragraph)}</p>" for paragraph in letter.opening]
    if letter.listing:
        blocks.append("<ul>" + "".join(f"<li>{escape(item)}</li>" for item in letter.listing) + "</ul>")
    if letter.with_summary:
        blocks.append(_html_summary(order))
    blocks.extend(f"<p>{escape(paragraph)}</p>" for paragraph in letter.closing)
    if letter.link:
        label, url = letter.link
        blocks.append(f'<p><a href="{escape(url)}">{escape(label)}</a></p>')
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
