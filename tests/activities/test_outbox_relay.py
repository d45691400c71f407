"""The mail relay sends what order steps queued whole, marks an email refused for good as failed, and talks SMTP
with no database transaction open."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from activities.mail_relay import EMAIL_ATTEMPTS, MailRelay
from activities.notifications import UNDELIVERED, compose, queue_email
from domain.emails import EmailKind
from settings import Settings
from store import orders
from store.notifications import FAILED, PENDING, SENT, get_notification
from store.schema import Notification
from tests.activities.fixtures_views import placed_order, shipped_with, view_of
from tests.conftest import POSTGRESQL, SQLITE, Mailbox, free_port

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SHIPMENT = shipped_with("sandbox-post", "SBX0123456789")


class Refusing:
    """An SMTP peer that refuses every message for good, as a mailbox that does not exist is refused."""

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "550 5.1.1 mailbox unavailable"


class RefusingOneDomain:
    """An SMTP peer that refuses, for good, every recipient at one domain, and keeps what it accepts."""

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.accepted: list[EmailMessage] = []

    async def handle_RCPT(
        self, server: object, session: object, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.endswith(f"@{self.domain}"):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.accepted.append(message_from_bytes(envelope.content, _class=EmailMessage, policy=policy.default))
        return "250 OK"


@pytest.fixture
def refusing(settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a refusing SMTP peer."""
    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield settings.model_copy(update={"smtp_port": port})
    finally:
        controller.stop()


async def test_an_email_queued_by_a_step_goes_out_as_it_was_composed(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    view = view_of(placed_order())
    queued = await queue_email(sessions, settings, EmailKind.ORDER_CONFIRMATION, view, NOW)

    assert await MailRelay(sessions, settings).send_pending() == 1

    [message] = await smtp.wait_for(1)
    assert message["Message-ID"] == queued.message_id
    assert message["Subject"] == queued.subject
    stored = await get_notification(sessions, queued.idempotency_key)
    assert stored is not None
    assert stored.status == SENT


async def test_an_email_the_server_refuses_for_good_is_marked_failed_and_not_tried_again(
    sessions: async_sessionmaker[AsyncSession], refusing: Settings
) -> None:
    view = view_of(placed_order())
    queued = await queue_email(sessions, refusing, EmailKind.ORDER_CONFIRMATION, view, NOW)
    relay = MailRelay(sessions, refusing)

    assert await relay.send_pending() == 0

    stored = await get_notification(sessions, queued.idempotency_key)
    assert stored is not None
    assert stored.status == FAILED
    assert stored.failure is not None
    assert "550" in stored.failure
    # Nothing left for the next round: a failed email never holds the outbox up.
    assert await relay.send_pending() == 0


async def test_the_operator_is_told_of_an_email_refused_for_good_and_the_alert_goes_out_once(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    peer = RefusingOneDomain("nowhere.example")
    port = free_port()
    controller = Controller(peer, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        shop = settings.model_copy(update={"smtp_port": port})
        view = view_of(placed_order(customer_email="anna@nowhere.example"))
        queued = await queue_email(sessions, shop, EmailKind.COMPLETED, view, NOW)
        relay = MailRelay(sessions, shop)

        # The customer's email is refused and marked failed; the operator's alert about it is queued with it...
        assert await relay.send_pending() == 0
        # ...and goes out in the next round, once.
        assert await relay.send_pending() == 1
        assert await relay.send_pending() == 0
    finally:
        controller.stop()

    [alert] = peer.accepted
    assert alert["To"] == f"{shop.shop_name} operator <{shop.operator_email}>"
    assert alert["Subject"] == "Email not delivered: completed for order web-1001"
    body = alert.get_content()
    assert "To:      anna@nowhere.example" in body
    assert f"Subject: {queued.subject}" in body
    assert "550 5.1.1 no such mailbox here" in body
    assert "/orders/web-1001" in body
    stored = await get_notification(sessions, f"{queued.idempotency_key}:{UNDELIVERED}")
    assert stored is not None
    assert (stored.status, stored.recipient, stored.message_id) == (SENT, shop.operator_email, alert["Message-ID"])


async def test_an_alert_the_server_refuses_too_is_marked_failed_without_an_alert_of_its_own(
    sessions: async_sessionmaker[AsyncSession], refusing: Settings
) -> None:
    view = view_of(placed_order())
    queued = await queue_email(sessions, refusing, EmailKind.ORDER_CONFIRMATION, view, NOW)
    relay = MailRelay(sessions, refusing)

    assert await relay.send_pending() == 0
    assert await relay.send_pending() == 0

    alert = await get_notification(sessions, f"{queued.idempotency_key}:{UNDELIVERED}")
    assert alert is not None
    assert alert.status == FAILED
    assert await get_notification(sessions, f"{alert.idempotency_key}:{UNDELIVERED}") is None
    assert await relay.send_pending() == 0


async def test_another_writer_commits_while_the_relay_waits_on_the_smtp_server(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # An SMTP server that answers nothing until released: the relay is mid-send for as long as we like.
    listening = asyncio.Event()
    release = asyncio.Event()

    async def slow_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        listening.set()
        await release.wait()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(slow_server, "127.0.0.1", port)
    slow = settings.model_copy(update={"smtp_port": port})
    queued = await queue_email(sessions, slow, EmailKind.COMPLETED, view_of(placed_order()), NOW)
    sending = asyncio.create_task(MailRelay(sessions, slow).send_pending())
    try:
        await listening.wait()
        # A writer (a step's transaction) commits while the relay waits on SMTP: the relay holds no lock. Were it to
        # hold one, this would wait out SQLite's 30 s busy timeout and fail with "database is locked".
        async with sessions.begin() as session:
            await session.execute(
                text("UPDATE notifications SET subject = subject WHERE idempotency_key = :key"),
                {"key": queued.idempotency_key},
            )
    finally:
        release.set()
        # The server hung up without a greeting: the relay says the SMTP server is unavailable and will retry.
        with pytest.raises(ApplicationError, match="did not accept it"):
            await sending
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("backend", [SQLITE, POSTGRESQL], indirect=True)
async def test_two_relays_at_once_send_each_email_exactly_once(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    queued = [
        await queue_email(sessions, settings, EmailKind.ORDER_CONFIRMATION, view_of(placed_order(external_id=f"{n}")))
        for n in range(1000, 1060)
    ]
    first, second = MailRelay(sessions, settings), MailRelay(sessions, settings)

    # Both look at the same pending rows at once; each email is claimed by one of them.
    counts = await asyncio.gather(first.send_pending(), second.send_pending())

    assert sum(counts) == len(queued)
    print(f"\nsent by each relay: {counts}")
    messages = await smtp.wait_for(len(queued))
    assert sorted(str(message["Message-ID"]) for message in messages) == sorted(row.message_id for row in queued)
    for row in queued:
        stored = await get_notification(sessions, row.idempotency_key)
        assert stored is not None
        assert (stored.status, stored.claimed_by) == (SENT, None)


class Raw:
    """An SMTP peer that keeps each message exactly as it came over the wire, with its envelope."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        self.received.append(envelope)
        return "250 OK"


@pytest.fixture
def raw(settings: Settings) -> Iterator[tuple[Raw, Settings]]:
    """A raw-keeping SMTP peer and settings pointing at it."""
    peer = Raw()
    port = free_port()
    controller = Controller(peer, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield peer, settings.model_copy(update={"smtp_port": port})
    finally:
        controller.stop()


async def test_the_relay_sends_a_queued_email_as_it_was_stored_to_the_address_it_was_queued_for(
    sessions: async_sessionmaker[AsyncSession], raw: tuple[Raw, Settings]
) -> None:
    peer, settings = raw
    queued = await queue_email(sessions, settings, EmailKind.SHIPPED, view_of(placed_order(), shipment=SHIPMENT), NOW)

    assert await MailRelay(sessions, settings).send_pending() == 1

    [envelope] = peer.received
    assert envelope.mail_from == settings.mail_from
    assert envelope.rcpt_tos == ["ada@example.com"]
    assert isinstance(envelope.content, bytes)
    assert envelope.content.decode("ascii").replace("\r\n", "\n") == queued.message


async def test_an_email_to_a_customer_with_accents_is_kept_7_bit_and_reads_as_written(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    order = placed_order(customer_name="Zoë Müller-Łukasiewicz", lines=(("MUG-BLUE", 1, "12.50", "Tasse «Café»"),))

    queued = await queue_email(sessions, settings, EmailKind.ORDER_CONFIRMATION, view_of(order), NOW)
    assert await MailRelay(sessions, settings).send_pending() == 1

    assert queued.message is not None
    assert queued.message.isascii()
    [message] = await smtp.wait_for(1)
    assert message["To"].addresses[0].display_name == "Zoë Müller-Łukasiewicz"
    assert message["Subject"] == queued.subject
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert "Zoë" in text.get_content()
    assert "Tasse «Café»" in text.get_content()
    assert "Tasse «Café»" in html.get_content()


async def test_an_email_queued_whole_before_emails_were_composed_with_the_classic_classes_still_goes_out(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    earlier = EmailMessage()
    earlier["Subject"] = "Deine Bestellung, Zoë"
    earlier["From"] = settings.mail_from
    earlier["To"] = "Zoë <zoe@example.com>"
    earlier["Message-ID"] = "<web-1001.order_confirmation@shop.example>"
    earlier.set_content("Grüße aus Berlin\n")
    async with sessions.begin() as session:
        session.add(
            Notification(
                idempotency_key="web-1001:order_confirmation",
                order_id="web-1001",
                kind="order_confirmation",
                recipient="zoe@example.com",
                subject=str(earlier["Subject"]),
                message_id=str(earlier["Message-ID"]),
                status=PENDING,
                created_at=NOW,
                message=earlier.as_string(),
            )
        )

    assert await MailRelay(sessions, settings).send_pending() == 1

    [message] = await smtp.wait_for(1)
    assert message["Subject"] == "Deine Bestellung, Zoë"
    assert message.get_content() == "Grüße aus Berlin\n"


def test_a_line_break_in_a_name_never_reaches_a_header(settings: Settings) -> None:
    # The domain refuses such a name at the door; the composer refuses it too, for a history written before that.
    valid = placed_order()
    order = valid.model_copy(
        update={"customer": valid.customer.model_copy(update={"name": "Eve\r\nBcc: spy@evil.example"})}
    )

    with pytest.raises(ValueError, match="linefeed or carriage return"):
        compose(EmailKind.ORDER_CONFIRMATION, view_of(order), settings)


async def test_a_message_id_longer_than_a_header_line_reads_back_exactly(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    order = placed_order(external_id="refund-crash-b7e6c14f-0-with-a-long-marketplace-reference")
    queued = await queue_email(sessions, settings, EmailKind.ORDER_CONFIRMATION, view_of(order), NOW)
    assert len(f"Message-ID: {queued.message_id}") > 78

    assert await MailRelay(sessions, settings).send_pending() == 1

    [message] = await smtp.wait_for(1)
    assert message["Message-ID"] == queued.message_id


async def test_an_email_that_keeps_failing_for_a_reason_of_its_own_is_given_up_and_the_operator_told(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    valid = view_of(placed_order(external_id="1077"))
    # A new-order email queued before emails were kept whole is composed from the read model; this order's name,
    # from before such names were refused, makes it fail every time.
    view = valid.model_copy(update={"customer": valid.customer.model_copy(update={"name": "Eve\r\nBcc: x@y.z"})})
    await orders.project(sessions, view)
    async with sessions.begin() as session:
        session.add(
            Notification(
                idempotency_key="web-1077:new_order",
                order_id=view.order_id,
                kind=EmailKind.NEW_ORDER.value,
                recipient=settings.operator_email,
                subject="New order web-1077",
                message_id="<web-1077.new_order@demo-shop.example>",
                status=PENDING,
                created_at=NOW,
            )
        )
    relay = MailRelay(sessions, settings, every=0, longest_wait=0)

    for _ in range(EMAIL_ATTEMPTS - 1):
        assert await relay.send_pending() == 0
        stored = await get_notification(sessions, "web-1077:new_order")
        assert stored is not None
        assert stored.status == PENDING
    await relay.send_pending()

    stored = await get_notification(sessions, "web-1077:new_order")
    assert stored is not None
    assert stored.status == FAILED
    assert stored.failure is not None
    assert stored.failure.startswith(f"given up after {EMAIL_ATTEMPTS} attempts: ValidationError: ")
    assert "\n" not in stored.failure
    # The email was to the operator: no alert about it, and nothing left to send.
    assert await relay.send_pending() == 0
