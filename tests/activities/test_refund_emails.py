"""Refund emails: the customer's refund and cancellation letters and the operator's payout, reminder and escalation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from email.message import Message

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.mail_relay import MailRelay
from activities.notifications import NotificationActivities, compose
from domain.order import PaymentMethod
from domain.refund import RefundKind, RefundView
from domain.status import OrderStatus
from domain.view import OrderView
from settings import Settings
from store import notifications
from tests.activities.fixtures_views import placed_order, view_of
from tests.activities.test_notifications import DEADLINE, a_refund, bodies, send
from tests.conftest import Mailbox

Kind = api.EmailKind
OPERATOR = "operator@demo-shop.example"
CUSTOMER = "ada@example.com"


@pytest.fixture
def mailer(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> NotificationActivities:
    """Notification activities sending to the test's SMTP server."""
    return NotificationActivities(sessions, settings)


def refunding(method: PaymentMethod = PaymentMethod.CARD) -> OrderView:
    """Order web-1001, paid by `method`, while a refund runs."""
    return view_of(placed_order(method=method), status=OrderStatus.REFUNDING)


def subject(message: Message) -> str:
    """The subject as a mail client shows it: Python's parser keeps the space of a header folded after its name."""
    return str(message["Subject"]).strip()


async def send_at(
    mailer: NotificationActivities, kind: api.EmailKind, refund: RefundView, at: datetime, sequence: int = 0
) -> api.EmailSent:
    """Run the send-email activity as the workflow schedules it at `at` (server time)."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(ActivityEnvironment.default_info(), scheduled_time=at)
    request = api.SendEmail(kind=kind, order=refunding(refund.method), refund=refund, sequence=sequence)
    return await env.run(mailer.send_email, request)


# --- to the customer ------------------------------------------------------------------------------------------


async def test_the_refunded_email_tells_the_customer_the_amount_lines_method_and_reason(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    refund = a_refund(lines=(("MUG-BLUE", 2, "12.50", "Blue mug"), ("TEA", 1, "1234.5", None)), shipping="4.90")

    await send(mailer, Kind.REFUNDED, refunding(), refund)

    [message] = await smtp.wait_for(1)
    assert message["To"] == f"Ada Lovelace <{CUSTOMER}>"
    assert subject(message) == "Demo Shop: refund of 1,264.40 EUR for order web-1001"
    for body in bodies(message):
        assert "1,264.40 EUR" in body
        assert "2 x Blue mug (MUG-BLUE) at 12.50 EUR = 25.00 EUR" in body
        assert "1 x TEA at 1,234.50 EUR" in body
        assert "Shipping: 4.90 EUR" in body
        assert "Visa ending 4242" in body
        assert "arrived broken" in body


async def test_the_refunded_email_of_a_bank_transfer_says_it_goes_back_by_bank_transfer(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    refund = a_refund(method=PaymentMethod.BANK_TRANSFER)

    await send(mailer, Kind.REFUNDED, refunding(PaymentMethod.BANK_TRANSFER), refund)

    [message] = await smtp.wait_for(1)
    text, _ = bodies(message)
    assert "back to the bank account you paid from, by bank transfer" in text


async def test_each_partial_refund_gets_its_own_refunded_email(
    mailer: NotificationActivities, smtp: Mailbox, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = a_refund("refund-web-1001-1", lines=(("MUG-BLUE", 1, "12.50", "Blue mug"),))
    second = a_refund("refund-web-1001-2", lines=(("MUG-BLUE", 1, "12.50", "Blue mug"),), shipping="4.90")

    sent = [await send(mailer, Kind.REFUNDED, refunding(), refund) for refund in (first, second)]

    await smtp.wait_for(2)
    assert [s.already_sent for s in sent] == [False, False]
    assert [m["Message-ID"] for m in smtp.messages] == [
        "<web-1001.refunded.refund-web-1001-1@demo-shop.example>",
        "<web-1001.refunded.refund-web-1001-2@demo-shop.example>",
    ]
    assert [subject(m) for m in smtp.messages] == [
        "Demo Shop: refund of 12.50 EUR for order web-1001",
        "Demo Shop: refund of 17.40 EUR for order web-1001",
    ]
    assert await notifications.get_notification(sessions, "web-1001:refunded:refund-web-1001-2") is not None


async def test_a_refunded_email_is_sent_once_per_refund_even_when_retried(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    first = await send(mailer, Kind.REFUNDED, refunding(), a_refund())
    retried = await send(mailer, Kind.REFUNDED, refunding(), a_refund())

    await smtp.wait_for(1)
    assert retried == api.EmailSent(message_id=first.message_id, already_sent=True)
    assert len(smtp.messages) == 1


async def test_the_cancelled_email_gives_the_reason_and_the_money_coming_back(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    cancellation = a_refund(kind=RefundKind.CANCELLATION, reason="out of stock for months", shipping="4.90")

    await send(mailer, Kind.CANCELLED, refunding(), cancellation)

    [message] = await smtp.wait_for(1)
    assert message["To"] == f"Ada Lovelace <{CUSTOMER}>"
    assert subject(message) == "Demo Shop: order web-1001 cancelled"
    for body in bodies(message):
        assert "out of stock for months" in body
        assert "We are refunding 29.90 EUR to your Visa ending 4242." in body


async def test_the_cancelled_email_of_an_unpaid_order_says_nothing_about_money(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    cancellation = a_refund(kind=RefundKind.CANCELLATION, method=PaymentMethod.CASH_ON_DELIVERY, paid=False)

    await send(mailer, Kind.CANCELLED, refunding(PaymentMethod.CASH_ON_DELIVERY), cancellation)

    [message] = await smtp.wait_for(1)
    for body in bodies(message):
        assert "cancelled" in body
        assert "refunding" not in body
        assert "EUR" not in body


# --- to the shop ----------------------------------------------------------------------------------------------


async def test_the_payout_request_goes_to_the_operator_with_the_deadline_in_shop_time_and_the_command(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    refund = a_refund(method=PaymentMethod.BANK_TRANSFER)

    await send_at(mailer, Kind.REFUND_PAYOUT_REQUESTED, refund, DEADLINE - timedelta(days=7))

    [message] = await smtp.wait_for(1)
    assert smtp.to(CUSTOMER) == []
    assert message["To"] == f"Demo Shop operator <{OPERATOR}>"
    assert subject(message) == "Demo Shop: pay back 25.00 EUR for order web-1001 by Fri 04 Dec 2026 23:59 CET"
    for body in bodies(message):
        assert "pay 25.00 EUR back to Ada Lovelace" in body
        assert "by Fri 04 Dec 2026 23:59 CET" in body
        assert "by bank transfer" in body
        assert "arrived broken" in body
    text, html = bodies(message)
    assert "oms order refund-paid-out web-1001 --reference <your bank reference>" in text
    assert "oms order refund-paid-out web-1001 --reference &lt;your bank reference&gt;" in html


async def test_each_reminder_goes_to_the_operator_once_under_its_number(
    mailer: NotificationActivities, smtp: Mailbox, sessions: async_sessionmaker[AsyncSession]
) -> None:
    refund = a_refund(method=PaymentMethod.BANK_TRANSFER)
    morning = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    first = await send_at(mailer, Kind.REFUND_REMINDER, refund, morning, sequence=1)
    again = await send_at(mailer, Kind.REFUND_REMINDER, refund, morning, sequence=1)
    second = await send_at(mailer, Kind.REFUND_REMINDER, refund, morning + timedelta(days=1), sequence=2)

    await smtp.wait_for(2)
    assert (first.already_sent, again.already_sent, second.already_sent) == (False, True, False)
    assert [m["Message-ID"] for m in smtp.to(OPERATOR)] == [
        "<web-1001.refund_reminder.refund-web-1001-1.1@demo-shop.example>",
        "<web-1001.refund_reminder.refund-web-1001-1.2@demo-shop.example>",
    ]
    assert [subject(m) for m in smtp.messages] == [
        "Demo Shop: reminder 1: pay back 25.00 EUR for order web-1001",
        "Demo Shop: reminder 2: pay back 25.00 EUR for order web-1001",
    ]
    assert await notifications.get_notification(sessions, "web-1001:refund_reminder:refund-web-1001-1:2") is not None


@pytest.mark.parametrize(
    ("at", "says"),
    [
        (datetime(2026, 12, 1, 8, 0, tzinfo=UTC), "3 days left"),
        (datetime(2026, 12, 3, 8, 0, tzinfo=UTC), "1 day left"),
        (datetime(2026, 12, 4, 22, 0, tzinfo=UTC), "it is due today"),
        (datetime(2026, 12, 5, 8, 0, tzinfo=UTC), "it is overdue by 1 day"),
        (datetime(2026, 12, 8, 8, 0, tzinfo=UTC), "it is overdue by 4 days"),
    ],
)
async def test_a_reminder_counts_the_days_left_in_shop_time(
    mailer: NotificationActivities, smtp: Mailbox, at: datetime, says: str
) -> None:
    await send_at(mailer, Kind.REFUND_REMINDER, a_refund(method=PaymentMethod.INVOICE), at, sequence=1)

    [message] = await smtp.wait_for(1)
    text, _ = bodies(message)
    assert f"Deadline: Fri 04 Dec 2026 23:59 CET; {says}." in text


async def test_the_escalation_goes_to_the_escalation_address_marked_urgent(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    mailer = NotificationActivities(
        sessions, settings.model_copy(update={"escalation_email": "boss@demo-shop.example"})
    )
    refund = a_refund(method=PaymentMethod.BANK_TRANSFER).model_copy(update={"reminders_sent": 3})

    await send_at(mailer, Kind.REFUND_ESCALATED, refund, datetime(2026, 12, 4, 8, 0, tzinfo=UTC))

    [message] = await smtp.wait_for(1)
    assert message["To"] == "Demo Shop escalations <boss@demo-shop.example>"
    assert smtp.to(OPERATOR) == []
    assert subject(message) == (
        "[urgent] Demo Shop: refund refund-web-1001-1 of order web-1001, 25.00 EUR, deadline Fri 04 Dec 2026 23:59 CET"
    )
    text, _ = bodies(message)
    assert "it is due today" in text
    assert f"3 reminders to {OPERATOR} went unanswered" in text
    assert "oms order refund-paid-out web-1001" in text


async def test_the_escalation_goes_to_the_operator_when_no_escalation_address_is_set(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    await send_at(mailer, Kind.REFUND_ESCALATED, a_refund(method=PaymentMethod.BANK_TRANSFER), DEADLINE)

    [message] = await smtp.wait_for(1)
    assert message["To"] == f"Demo Shop escalations <{OPERATOR}>"


async def test_the_escalation_of_a_gateway_refund_names_the_gateways_failure(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    refund = a_refund().model_copy(update={"last_error": "processing_error"})

    await send_at(mailer, Kind.REFUND_ESCALATED, refund, DEADLINE + timedelta(days=2))

    [message] = await smtp.wait_for(1)
    text, _ = bodies(message)
    assert "has not managed to pay it back to the Visa ending 4242 (last error: processing_error)" in text
    assert "it is overdue by 2 days" in text


# --- refusals and escaping ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [kind for kind in api.EmailKind if kind.about_a_refund])
async def test_a_refund_email_without_the_refund_is_refused_without_retrying(
    mailer: NotificationActivities, smtp: Mailbox, sessions: async_sessionmaker[AsyncSession], kind: api.EmailKind
) -> None:
    with pytest.raises(ApplicationError) as refused:
        await send(mailer, kind, refunding())

    assert refused.value.type == api.ErrorType.EMAIL_NOT_APPLICABLE
    assert refused.value.non_retryable
    assert smtp.messages == []
    assert await notifications.sent_for_order(sessions, "web-1001") == []


async def test_the_reason_and_names_are_escaped_in_the_html_of_operator_emails(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    refund = a_refund(
        method=PaymentMethod.BANK_TRANSFER,
        reason="<b>wrong</b> size & colour",
        lines=(("MUG", 1, "5", "Mug & <i>Co</i>"),),
    )

    await send_at(mailer, Kind.REFUND_PAYOUT_REQUESTED, refund, DEADLINE - timedelta(days=3))

    [message] = await smtp.wait_for(1)
    text, html = bodies(message)
    assert "<b>" not in html
    assert "&lt;b&gt;wrong&lt;/b&gt; size &amp; colour" in html
    assert "Mug &amp; &lt;i&gt;Co&lt;/i&gt;" in html
    assert "<b>wrong</b> size & colour" in text


# --- through the outbox -----------------------------------------------------------------------------------------


async def queue_at(
    mailer: NotificationActivities, kind: api.EmailKind, refund: RefundView, at: datetime, sequence: int = 0
) -> api.EmailQueued:
    """Run the queue-email local activity as a refund workflow asks for it at `at` (its clock)."""
    request = api.QueueEmail(kind=kind, order=refunding(refund.method), refund=refund, sequence=sequence, at=at)
    return await ActivityEnvironment().run(mailer.queue_email, request)


def composed_reminder(mailer: NotificationActivities, refund: RefundView, at: datetime) -> Message:
    """The reminder as `compose` writes it for the same refund at the same moment."""
    return compose(Kind.REFUND_REMINDER, refunding(refund.method), mailer.settings, refund=refund, sequence=2, now=at)


async def test_a_refund_email_queued_for_the_relay_is_the_email_send_email_would_have_sent(
    mailer: NotificationActivities, sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    refund = a_refund(method=PaymentMethod.BANK_TRANSFER)
    at = DEADLINE - timedelta(days=2)

    queued = await queue_at(mailer, Kind.REFUND_REMINDER, refund, at, sequence=2)

    assert smtp.messages == []  # nothing talks SMTP until the relay does
    row = await notifications.get_notification(sessions, f"web-1001:refund_reminder:{refund.refund_id}:2")
    assert row is not None
    assert (row.status, row.message_id, row.recipient) == (notifications.PENDING, queued.message_id, OPERATOR)
    assert await MailRelay(sessions, settings).send_pending() == 1
    [relayed] = await smtp.wait_for(1)
    assert relayed["Message-ID"] == queued.message_id
    await send_at(mailer, Kind.REFUND_REMINDER, refund, at, sequence=2)
    assert len(smtp.messages) == 1  # the same key: send_email finds it sent
    # As received over SMTP, lines end in CRLF.
    received = tuple(part.replace("\r\n", "\n") for part in bodies(relayed))
    assert received == bodies(composed_reminder(mailer, refund, at))


async def test_a_retried_queue_email_queues_nothing_more(
    mailer: NotificationActivities, sessions: async_sessionmaker[AsyncSession]
) -> None:
    refund = a_refund()

    first = await queue_at(mailer, Kind.REFUNDED, refund, DEADLINE)
    again = await queue_at(mailer, Kind.REFUNDED, refund, DEADLINE + timedelta(minutes=1))

    assert again.message_id == first.message_id
    rows = await notifications.pending(sessions, (), 100)
    assert [row.idempotency_key for row in rows] == [f"web-1001:refunded:{refund.refund_id}"]
