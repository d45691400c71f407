"""Customer and operator emails sent over SMTP (aiosmtplib), each once per order and kind (or refund)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header, decode_header, make_header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, formatdate
from typing import Any

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import api, letters
from domain.refund import RefundView
from domain.view import OrderView
from settings import Settings
from store import notifications
from store.schema import Notification
from store.transaction import one_transaction

SMTP_TIMEOUT_SECONDS = 10.0
# SMTP replies from 500 on are permanent: sending again would be refused again.
PERMANENT_FAILURE = 500

# A long subject is folded at this many columns (RFC 5322's recommendation).
HEADER_LINE = 78
_ASCII = Charset("us-ascii")
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP

# The outbox kind of the operator's alert that an email was refused for good: not an email of the order's own.
UNDELIVERED = "undelivered"

log = logging.getLogger("oms.notifications")
# Characters a refund id may not carry into a Message-ID.
_NOT_IN_MESSAGE_ID = re.compile(r"[^A-Za-z0-9._-]")


class NotificationActivities:
    """Emails to customers and the shop; the `notifications` outbox makes each (order, kind, refund) go out once."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def handlers(self) -> list[Callable[..., Awaitable[Any]]]:
        """The activities to register on a worker."""
        return [self.send_email, self.queue_email]

    @api.QUEUE_EMAIL.implementation
    async def queue_email(self, request: api.QueueEmail) -> api.EmailQueued:
        """Put the email of this kind for the order (or its refund) into the outbox, whole, unless an earlier
        attempt did; the mail relay sends it."""
        row = queued_email(
            request.kind,
            request.order,
            self.settings,
            refund=request.refund,
            sequence=request.sequence,
            now=request.at,
        )
        queued = await notifications.enqueue(self.sessions, row)
        return api.EmailQueued(message_id=queued.message_id)

    @api.SEND_EMAIL.implementation
    async def send_email(self, request: api.SendEmail) -> api.EmailSent:
        """Send the email of this kind for the order (or its refund) unless an earlier attempt already did."""
        order = request.order
        # The workflow's clock when it asked, not the worker's: a retry says the same, and tests may skip time.
        message = compose(
            request.kind,
            order,
            self.settings,
            refund=request.refund,
            sequence=request.sequence,
            now=activity.info().scheduled_time,
        )
        row = outbox_row(
            request.kind, order, self.settings, message, refund=request.refund, sequence=request.sequence, whole=False
        )
        queued = await notifications.enqueue(self.sessions, row)
        if queued.status == notifications.SENT:
            return api.EmailSent(message_id=queued.message_id, already_sent=True)
        sent = await deliver(
            self.sessions, self.settings, Composed(text_of(message), row.recipient), row.idempotency_key
        )
        return api.EmailSent(message_id=queued.message_id, already_sent=not sent)


async def queue_email(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    kind: api.EmailKind,
    order: OrderView,
    now: datetime | None = None,
) -> Notification:
    """Put the email of this kind, composed now from `order`, into the outbox for the mail relay to send; once per
    order and kind (a retried step finds it queued and queues nothing more)."""
    return await notifications.enqueue(sessions, queued_email(kind, order, settings, now=now))


def queued_email(
    kind: api.EmailKind,
    order: OrderView,
    settings: Settings,
    *,
    refund: RefundView | None = None,
    sequence: int = 0,
    now: datetime | None = None,
) -> Notification:
    """The outbox row of the email of this kind, composed now and kept whole: what the mail relay sends."""
    message = compose(kind, order, settings, refund=refund, sequence=sequence, now=now)
    return outbox_row(kind, order, settings, message, refund=refund, sequence=sequence)


def emails_to_queue(
    kind: api.EmailKind,
    order: OrderView,
    settings: Settings,
    *,
    refund: RefundView | None = None,
    sequence: int = 0,
    now: datetime | None = None,
) -> list[Notification]:
    """The outbox rows a step queues for the email of this kind: the email itself, or, when it cannot be written
    (a text no email header can carry, from an order placed before such texts were refused), the email marked
    failed with the reason and the operator's alert about it. No order waits on an email it cannot write."""
    try:
        return [queued_email(kind, order, settings, refund=refund, sequence=sequence, now=now)]
    except (ValueError, UnicodeError) as error:
        reason = f"could not be written: {error}"
        log.error("email %s for order %s %s; marked failed, the operator alerted", kind.value, order.order_id, reason)
        key = outbox_key(order.order_id, kind, refund, sequence)
        domain = settings.mail_from.rpartition("@")[2] or "localhost"
        failed = Notification(
            idempotency_key=key,
            order_id=order.order_id,
            kind=kind.value,
            recipient=recipient(kind, order, settings)[1],
            subject=f"{kind.value.replace('_', ' ')} for order {order.order_id}",
            message_id=f"<{_NOT_IN_MESSAGE_ID.sub('-', key)}.not-written@{domain}>",
            created_at=datetime.now(UTC),
            status=notifications.FAILED,
            failure=reason,
        )
        rows = [failed]
        if failed.recipient != settings.operator_email:
            rows.append(undelivered_alert(failed, reason, settings, failed.created_at, written=False))
        return rows


def outbox_row(
    kind: api.EmailKind,
    order: OrderView,
    settings: Settings,
    message: Message,
    *,
    refund: RefundView | None = None,
    sequence: int = 0,
    whole: bool = True,
) -> Notification:
    """The outbox row of `message`, the email of this kind for the order; `whole` keeps its text for the relay (the
    send_email activity sends its own)."""
    return Notification(
        idempotency_key=outbox_key(order.order_id, kind, refund, sequence),
        order_id=order.order_id,
        kind=kind.value,
        recipient=recipient(kind, order, settings)[1],
        subject=subject_of(message),
        message_id=str(message["Message-ID"]),
        created_at=datetime.now(UTC),
        message=text_of(message) if whole else None,
    )


async def deliver(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, message: Message | Composed, key: str
) -> bool:
    """Claim the queued email, hand it to SMTP with no transaction open, then mark it sent.

    A sender killed mid-send leaves its claim to run out (half a minute), and the next sender sends again; only a kill
    between the server's reply and the mark can repeat an email, and then under the same Message-ID. An email the
    server refuses for good (a 5xx reply) is marked failed, so it never holds anything up. False, and nothing sent,
    when it was sent already; a retryable error while another sender holds it.
    """
    claimant = uuid.uuid4().hex
    if not await notifications.claim(sessions, key, claimant, datetime.now(UTC)):
        queued = await notifications.get_notification(sessions, key)
        if queued is None or queued.status != notifications.PENDING:
            return False
        raise ApplicationError(
            f"email {key}: another sender is handing it to SMTP right now; will retry", type=api.ErrorType.EMAIL_CLAIMED
        )
    return await hand_over(sessions, settings, message, key, claimant)


@dataclass(frozen=True)
class Composed:
    """An email as the outbox keeps it, ready for SMTP: its 7-bit text (`text_of`) and the address it goes to."""

    text: str
    recipient: str


async def hand_over(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    message: Message | Composed,
    key: str,
    claimant: str,
) -> bool:
    """Send the email `claimant` has claimed, with no transaction open, and settle it: sent (True), or failed for
    good on a 5xx (False, the operator alerted); an SMTP server that cannot take it now gives the claim back and
    raises a retryable error."""
    try:
        async with aiosmtplib.SMTP(
            hostname=settings.smtp_host, port=settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS
        ) as smtp:
            if isinstance(message, Composed):
                # As it was composed: neither parsed nor written out again. It is 7-bit (every email the outbox
                # ever kept whole is); encoded as UTF-8 rather than ASCII, one that were not would still go out.
                await smtp.sendmail(settings.mail_from, [message.recipient], message.text.encode("utf-8"))
            else:
                await smtp.send_message(message)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as refused:
        if _permanent(refused):
            answer = _answer(refused)
            alerted = await mark_failed(sessions, settings, key, claimant, answer)
            log.error(
                "email %s: refused for good by the SMTP server (%s); marked failed%s",
                key,
                answer,
                f", the operator alerted at {settings.operator_email}" if alerted else "",
            )
            return False
        await notifications.unclaim(sessions, key, claimant)
        raise _unavailable(settings, key, refused) from refused
    except (aiosmtplib.SMTPException, OSError) as error:
        await notifications.unclaim(sessions, key, claimant)
        raise _unavailable(settings, key, error) from error
    await notifications.settle(sessions, key, claimant, datetime.now(UTC))
    return True


async def mark_failed(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, key: str, claimant: str, answer: str
) -> bool:
    """Mark the email failed for good and, in the same transaction, queue the operator's alert about it (unless it
    was to the shop already, which an alert would not reach either); whether an alert was queued."""
    now = datetime.now(UTC)
    async with one_transaction(sessions) as shared:
        if not await notifications.settle(shared, key, claimant, now, status=notifications.FAILED, failure=answer):
            return False
        failed = await notifications.get_notification(shared, key)
        if failed is None or failed.kind == UNDELIVERED or failed.recipient == settings.operator_email:
            return False
        await notifications.enqueue(shared, undelivered_alert(failed, answer, settings, now))
    return True


def undelivered_alert(
    failed: Notification, answer: str, settings: Settings, now: datetime, *, written: bool = True
) -> Notification:
    """The outbox row of the operator's alert that `failed` was refused for good with the server's `answer` (or,
    not `written`, could not be written for the reason in `answer`)."""
    subject, _, body = letters.undelivered(
        failed.kind, failed.recipient, failed.subject, failed.order_id, answer, settings, written=written
    ).partition("\n")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = formataddr((settings.shop_name, settings.mail_from))
    message["To"] = formataddr((f"{settings.shop_name} operator", settings.operator_email))
    message["Date"] = formatdate(usegmt=True)
    domain = settings.mail_from.rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<{_NOT_IN_MESSAGE_ID.sub('-', failed.idempotency_key)}.undelivered@{domain}>"
    message.set_content(body)
    return Notification(
        idempotency_key=f"{failed.idempotency_key}:{UNDELIVERED}",
        order_id=failed.order_id,
        kind=UNDELIVERED,
        recipient=settings.operator_email,
        subject=subject,
        message_id=str(message["Message-ID"]),
        created_at=now,
        message=message.as_string(),
    )


def _answer(refused: aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused) -> str:
    """The server's reply as it said it, e.g. "550 5.1.1 no such mailbox here" (per recipient when it refused
    them)."""
    if isinstance(refused, aiosmtplib.SMTPRecipientsRefused):
        return "; ".join(f"{each.recipient}: {each.code} {each.message}" for each in refused.recipients)
    return f"{refused.code} {refused.message}"


def _permanent(refused: aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused) -> bool:
    if isinstance(refused, aiosmtplib.SMTPRecipientsRefused):
        return all(recipient.code >= PERMANENT_FAILURE for recipient in refused.recipients)
    return refused.code >= PERMANENT_FAILURE


def _unavailable(settings: Settings, key: str, error: Exception) -> ApplicationError:
    return ApplicationError(
        f"email {key}: SMTP server {settings.smtp_host}:{settings.smtp_port} did not accept it ({error}); will retry",
        type=api.ErrorType.SMTP_UNAVAILABLE,
    )


def compose(
    kind: api.EmailKind,
    order: OrderView,
    settings: Settings,
    *,
    refund: RefundView | None = None,
    sequence: int = 0,
    now: datetime | None = None,
) -> Message:
    """The complete email of this kind for the order: headers, a plain-text part and an HTML alternative.

    `letters.write` says what it says: refund kinds need `refund` (a non-retryable `EmailNotApplicable` error
    without it); `now` is when the workflow asked for the email, which reminders count the days left from.

    Built with the email package's classic classes: every order sends several, and the modern `EmailMessage`
    takes five times as long to compose one. `text_of` gives what goes to SMTP, 7-bit throughout.
    """
    letter = letters.write(kind, order, settings, refund=refund, sequence=sequence, now=now)
    message = MIMEMultipart("alternative")
    message["Subject"] = _header(letter.subject)
    message["From"] = _address(settings.shop_name, settings.mail_from)
    message["To"] = _address(*recipient(kind, order, settings))
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(
        order.order_id,
        kind,
        settings.mail_from,
        refund_id=refund.refund_id if refund is not None and kind.about_a_refund else None,
        sequence=sequence,
    )
    message.attach(_text(letters.text(letter, order, settings.shop_name), "plain"))
    message.attach(_text(letters.html(letter, order, settings.shop_name), "html"))
    return message


def text_of(message: Message) -> str:
    """The email as SMTP takes it and the outbox keeps it. Header lines are written as `compose` made them: a long
    subject is folded between its encoded words there, and nothing else is folded (a Message-ID pushed onto a line
    of its own reads back with a leading space)."""
    return message.as_string(maxheaderlen=0)


def subject_of(message: Message) -> str:
    """The subject as the recipient reads it, encoded words decoded."""
    return str(make_header(decode_header(str(message["Subject"]))))


def _one_line(value: str) -> str:
    # The check the modern EmailMessage makes: a line break in a header value would start a header of its own.
    if "\r" in value or "\n" in value:
        raise ValueError(f"Header values may not contain linefeed or carriage return characters: {value[:80]!r}")
    return value


def _header(value: str) -> str:
    """A header value; RFC 2047 encoded words when it is not ASCII, folded between them at 78 columns."""
    if value.isascii():
        return _one_line(value)
    return Header(_one_line(value), "utf-8", maxlinelen=HEADER_LINE, header_name="Subject").encode()


def _address(name: str, address: str) -> str:
    """`Name <address>`, the name RFC 2047-encoded when it is not ASCII."""
    return formataddr((_one_line(name), _one_line(address)), charset="utf-8")


def _text(body: str, subtype: str) -> MIMENonMultipart:
    """A text part: ASCII as it is, anything else UTF-8 in quoted-printable (readable, and 7-bit for any server)."""
    charset = _ASCII if body.isascii() else _UTF8
    part = MIMENonMultipart("text", subtype, charset=str(charset))
    part.set_payload(body, charset)
    return part


def recipient(kind: api.EmailKind, order: OrderView, settings: Settings) -> tuple[str, str]:
    """Name and address the email goes to: the customer, or the shop for operator kinds."""
    if kind is api.EmailKind.REFUND_ESCALATED:
        return f"{settings.shop_name} escalations", settings.escalation_address
    if kind.for_operator:
        return f"{settings.shop_name} operator", settings.operator_email
    return order.customer.name, order.customer.email


def outbox_key(order_id: str, kind: api.EmailKind, refund: RefundView | None = None, sequence: int = 0) -> str:
    """The outbox's idempotency key: once per order and kind, and per refund (and reminder) for refund kinds."""
    if not kind.about_a_refund or refund is None:
        # Unchanged since before refunds: stored outboxes and running orders depend on it.
        return f"{order_id}:{kind.value}"
    key = f"{order_id}:{kind.value}:{refund.refund_id}"
    return f"{key}:{sequence}" if sequence else key


def message_id(
    order_id: str, kind: api.EmailKind, mail_from: str, *, refund_id: str | None = None, sequence: int = 0
) -> str:
    """The email's Message-ID: the same for every attempt, so a resend is recognisable as the same email.

    Refund emails carry the refund id, and reminders their number, so each is a message of its own.
    """
    domain = mail_from.rpartition("@")[2] or "localhost"
    if refund_id is None:
        return f"<{order_id}.{kind.value}@{domain}>"
    local = f"{order_id}.{kind.value}.{_NOT_IN_MESSAGE_ID.sub('-', refund_id)}"
    if sequence:
        local = f"{local}.{sequence}"
    return f"<{local}@{domain}>"
