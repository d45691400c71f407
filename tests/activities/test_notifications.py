"""Customer emails: what each one says, in text and HTML, received by a real SMTP server, once per order and kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.notifications import NotificationActivities
from domain.money import Money
from domain.order import PaymentMethod
from domain.refund import RefundKind, RefundLine, RefundView
from domain.status import OrderStatus
from domain.view import OrderView
from settings import Settings
from store import notifications
from store.schema import Notification
from tests.activities.fixtures_views import placed_order, shipped_with, view_of
from tests.conftest import Mailbox

Kind = api.EmailKind


@pytest.fixture
def mailer(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> NotificationActivities:
    """Notification activities sending to the test's SMTP server."""
    return NotificationActivities(sessions, settings)


async def send(
    mailer: NotificationActivities,
    kind: api.EmailKind,
    order: OrderView,
    refund: RefundView | None = None,
    sequence: int = 0,
) -> api.EmailSent:
    """Run the send-email activity once."""
    request = api.SendEmail(kind=kind, order=order, refund=refund, sequence=sequence)
    return await ActivityEnvironment().run(mailer.send_email, request)


# Friday 4 December 2026, 23:59:59 in Berlin: the end of a refund's last business day.
DEADLINE = datetime(2026, 12, 4, 22, 59, 59, tzinfo=UTC)


def a_refund(
    refund_id: str = "refund-web-1001-1",
    *,
    lines: tuple[tuple[str, int, str, str | None], ...] = (("MUG-BLUE", 2, "12.50", "Blue mug"),),
    shipping: str = "0",
    method: PaymentMethod = PaymentMethod.CARD,
    kind: RefundKind = RefundKind.REFUND,
    reason: str = "arrived broken",
    paid: bool = True,
    currency: str = "EUR",
) -> RefundView:
    """A refund of order web-1001: `lines` are (sku, quantity, unit price, name); `paid` False gives back no money."""
    refund_lines = [
        RefundLine(sku=sku, name=name, quantity=quantity, unit_price=Money.of(price, currency))
        for sku, quantity, price, name in lines
    ]
    amount = Money.of(shipping, currency)
    for line in refund_lines:
        amount = amount + line.amount
    return RefundView(
        refund_id=refund_id,
        kind=kind,
        reason=reason,
        lines=refund_lines,
        shipping=Money.of(shipping, currency),
        amount=amount if paid else Money.zero(currency),
        method=method,
        needs_payout=not method.captures_at_once,
        requested_at=DEADLINE - timedelta(days=7),
        deadline=DEADLINE,
    )


def bodies(message: Message) -> tuple[str, str]:
    """The plain-text and the HTML part of a multipart/alternative email."""
    parts = {part.get_content_type(): part for part in message.walk() if not part.is_multipart()}
    return _decoded(parts["text/plain"]), _decoded(parts["text/html"])


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "utf-8")


async def test_confirmation_email_has_a_plain_text_and_an_html_part(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    await send(mailer, Kind.ORDER_CONFIRMATION, view_of(placed_order()))

    [message] = await smtp.wait_for(1)
    text, html = bodies(message)
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["Message-ID"] == "<web-1001.order_confirmation@demo-shop.example>"
    assert "web-1001" in text
    assert "<table>" in html


async def test_confirmation_email_lists_lines_quantities_totals_and_payment_method(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    order = placed_order(lines=(("MUG-BLUE", 2, "12.50", "Blue mug"), ("TEA-GREEN", 1, "1234.5", None)))

    await send(mailer, Kind.ORDER_CONFIRMATION, view_of(order))

    [message] = await smtp.wait_for(1)
    for body in bodies(message):
        assert "Blue mug (MUG-BLUE)" in body
        assert "12.50 EUR" in body
        assert "25.00 EUR" in body
        assert "1,234.50 EUR" in body
        assert "4.90 EUR" in body
        assert "1,264.40 EUR" in body
        assert "Visa ending 4242" in body


async def test_confirmation_email_formats_yen_without_decimals_and_dinar_with_three(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    yen = placed_order(external_id="jp-1", currency="JPY", lines=(("TEA", 3, "1500", "Sencha"),), shipping="500")
    dinar = placed_order(external_id="kw-1", currency="KWD", lines=(("DATES", 2, "1.25", "Dates"),), shipping=None)

    await send(mailer, Kind.ORDER_CONFIRMATION, view_of(yen))
    await send(mailer, Kind.ORDER_CONFIRMATION, view_of(dinar))

    await smtp.wait_for(2)
    yen_text, yen_html = bodies(smtp.with_subject("web-jp-1")[0])
    dinar_text, dinar_html = bodies(smtp.with_subject("web-kw-1")[0])
    for body in (yen_text, yen_html):
        assert "1,500 JPY" in body
        assert "5,000 JPY" in body
        assert "1,500.00" not in body
    for body in (dinar_text, dinar_html):
        assert "1.250 KWD" in body
        assert "2.500 KWD" in body


@pytest.mark.parametrize("method", [PaymentMethod.BANK_TRANSFER, PaymentMethod.INVOICE])
async def test_confirmation_of_a_transfer_or_invoice_order_says_payment_is_awaited(
    mailer: NotificationActivities, smtp: Mailbox, method: PaymentMethod
) -> None:
    order = view_of(placed_order(method=method), status=OrderStatus.AWAITING_PAYMENT)

    await send(mailer, Kind.ORDER_CONFIRMATION, order)

    [message] = await smtp.wait_for(1)
    text, html = bodies(message)
    assert "Payment is awaited" in text
    assert "29.90 EUR" in text
    assert "Payment is awaited" in html


async def test_declined_payment_email_says_nothing_was_charged_and_why(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    order = view_of(placed_order(), status=OrderStatus.PAYMENT_FAILED, payment_failure="insufficient funds")

    await send(mailer, Kind.PAYMENT_DECLINED, order)

    [message] = await smtp.wait_for(1)
    text, _ = bodies(message)
    assert "declined" in message["Subject"]
    assert "insufficient funds" in text
    assert "Nothing was charged" in text


async def test_expired_payment_email_says_the_order_was_cancelled(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    order = view_of(placed_order(method=PaymentMethod.BANK_TRANSFER), status=OrderStatus.PAYMENT_FAILED)

    await send(mailer, Kind.PAYMENT_EXPIRED, order)

    [message] = await smtp.wait_for(1)
    text, _ = bodies(message)
    assert "never received your payment of 29.90 EUR" in text
    assert "cancelled" in text


async def test_shipped_email_carries_the_tracking_number(mailer: NotificationActivities, smtp: Mailbox) -> None:
    order = view_of(placed_order(), status=OrderStatus.SHIPPED, shipment=shipped_with("sandbox-post", "SBX0123456789"))

    await send(mailer, Kind.SHIPPED, order)

    [message] = await smtp.wait_for(1)
    for body in bodies(message):
        assert "sandbox-post" in body
        assert "SBX0123456789" in body


async def test_a_shipped_email_without_a_shipment_is_refused_without_retrying(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    with pytest.raises(ApplicationError) as refused:
        await send(mailer, Kind.SHIPPED, view_of(placed_order(), status=OrderStatus.SHIPPED))

    assert refused.value.non_retryable
    assert smtp.messages == []


async def test_completed_email_says_your_order_is_complete(mailer: NotificationActivities, smtp: Mailbox) -> None:
    await send(mailer, Kind.COMPLETED, view_of(placed_order(), status=OrderStatus.COMPLETED))

    [message] = await smtp.wait_for(1)
    text, html = bodies(message)
    assert "your order web-1001 is complete" in text
    assert "is complete" in html


async def test_survey_email_asks_for_a_rating_from_one_to_five(mailer: NotificationActivities, smtp: Mailbox) -> None:
    await send(mailer, Kind.SURVEY, view_of(placed_order(), status=OrderStatus.COMPLETED))

    [message] = await smtp.wait_for(1)
    text, _ = bodies(message)
    assert "from 1 (poor) to 5 (excellent)" in text


@pytest.mark.parametrize("kind", list(api.EmailKind))
async def test_every_subject_names_the_shop_and_the_order(
    mailer: NotificationActivities, smtp: Mailbox, kind: api.EmailKind
) -> None:
    order = view_of(placed_order(), shipment=shipped_with("sandbox-post", "SBX0123456789"))

    await send(mailer, kind, order, a_refund() if kind.about_a_refund else None)

    [message] = await smtp.wait_for(1)
    assert "Demo Shop" in message["Subject"]
    assert "web-1001" in message["Subject"]


async def test_customer_text_is_escaped_in_the_html_part(mailer: NotificationActivities, smtp: Mailbox) -> None:
    order = placed_order(customer_name="<script>alert(1)</script>", lines=(("MUG", 1, "5", "Mug & <b>Co</b>"),))

    await send(mailer, Kind.ORDER_CONFIRMATION, view_of(order))

    [message] = await smtp.wait_for(1)
    text, html = bodies(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Mug &amp; &lt;b&gt;Co&lt;/b&gt;" in html
    assert "Mug & <b>Co</b>" in text


async def test_an_email_is_sent_once_per_order_and_kind_even_when_retried(
    mailer: NotificationActivities, smtp: Mailbox, sessions: async_sessionmaker[AsyncSession]
) -> None:
    order = view_of(placed_order(), status=OrderStatus.COMPLETED)

    first = await send(mailer, Kind.COMPLETED, order)
    retried = await send(mailer, Kind.COMPLETED, order)
    survey = await send(mailer, Kind.SURVEY, order)

    await smtp.wait_for(2)
    assert len(smtp.with_subject("is complete")) == 1
    assert not first.already_sent
    assert retried == api.EmailSent(message_id=first.message_id, already_sent=True)
    assert not survey.already_sent
    sent = await notifications.sent_for_order(sessions, "web-1001")
    assert [row.kind for row in sent] == ["completed", "survey"]


async def test_an_email_left_pending_by_a_crash_is_sent_by_the_retry_under_the_same_message_id(
    mailer: NotificationActivities, smtp: Mailbox, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # The first attempt queued the email and died before (or while) handing it to the SMTP server.
    message_id = "<web-1001.completed@demo-shop.example>"
    await notifications.enqueue(
        sessions,
        Notification(
            idempotency_key="web-1001:completed",
            order_id="web-1001",
            kind="completed",
            recipient="ada@example.com",
            subject="Demo Shop: your order web-1001 is complete",
            message_id=message_id,
            created_at=datetime.now(UTC),
        ),
    )

    sent = await send(mailer, Kind.COMPLETED, view_of(placed_order(), status=OrderStatus.COMPLETED))

    [message] = await smtp.wait_for(1)
    assert sent == api.EmailSent(message_id=message_id, already_sent=False)
    assert message["Message-ID"] == message_id


async def test_an_unreachable_mail_server_is_retried_until_it_takes_the_email(
    mailer: NotificationActivities, settings: Settings
) -> None:
    order = view_of(placed_order(), status=OrderStatus.COMPLETED)

    with pytest.raises(ApplicationError) as unavailable:
        await send(mailer, Kind.COMPLETED, order)
    mailbox = Mailbox()
    server = Controller(mailbox, hostname=settings.smtp_host, port=settings.smtp_port)
    server.start()
    try:
        sent = await send(mailer, Kind.COMPLETED, order)
        await mailbox.wait_for(1)
    finally:
        server.stop()

    assert unavailable.value.type == api.ErrorType.SMTP_UNAVAILABLE
    assert not unavailable.value.non_retryable
    assert not sent.already_sent
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize("kind", [kind for kind in api.EmailKind if not kind.about_a_refund])
async def test_order_emails_keep_their_outbox_key_and_message_id_when_a_refund_is_under_way(
    mailer: NotificationActivities,
    smtp: Mailbox,
    sessions: async_sessionmaker[AsyncSession],
    kind: api.EmailKind,
) -> None:
    order = view_of(placed_order(), shipment=shipped_with("sandbox-post", "SBX0123456789"))

    sent = await send(mailer, kind, order, a_refund(), sequence=3)

    [message] = await smtp.wait_for(1)
    assert sent.message_id == message["Message-ID"] == f"<web-1001.{kind.value}@demo-shop.example>"
    queued = await notifications.get_notification(sessions, f"web-1001:{kind.value}")
    assert queued is not None
    assert queued.status == notifications.SENT


async def test_a_message_id_longer_than_a_header_line_reads_back_exactly(
    mailer: NotificationActivities, smtp: Mailbox
) -> None:
    order = view_of(placed_order(external_id="refund-crash-b7e6c14f-0-with-a-long-marketplace-reference"))

    sent = await send(mailer, Kind.ORDER_CONFIRMATION, order)

    assert len(f"Message-ID: {sent.message_id}") > 78
    [message] = await smtp.wait_for(1)
    assert message["Message-ID"] == sent.message_id
