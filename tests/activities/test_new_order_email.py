"""OMS_NEW_ORDER_EMAIL=each: a new order's first projection queues one operator email, which the mail relay sends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.mail_relay import MailRelay
from activities.new_orders import queue_new_order_email
from activities.orders import OrderActivities
from domain.order import PaymentMethod
from domain.status import OrderStatus
from domain.view import OrderView
from settings import Settings
from store import notifications
from store.db import create_engine, session_factory
from store.schema import Notification
from tests.activities.fixtures_views import placed_order, view_of
from tests.activities.test_notifications import bodies
from tests.conftest import POSTGRESQL, SQLITE, Mailbox

OPERATOR = "operator@demo-shop.example"


async def project(sessions: async_sessionmaker[AsyncSession], settings: Settings, view: OrderView) -> None:
    """Run the projection activity once, as the order workflow does at each status change."""
    projection = OrderActivities(sessions, settings)
    await ActivityEnvironment().run(projection.project_order, api.ProjectOrder(order=view))


def relay(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> MailRelay:
    """A mail relay that retries quickly, so a test waits for it in moments rather than a minute."""
    return MailRelay(sessions, settings, every=0.05, longest_wait=0.2)


@asynccontextmanager
async def relaying(relay: MailRelay) -> AsyncIterator[None]:
    """The relay running in the background, as beside the worker, until the block ends."""
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        yield
    finally:
        stop.set()
        await running


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until `condition` holds (the timeout only keeps a broken relay from hanging the suite)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.01)


async def outbox(sessions: async_sessionmaker[AsyncSession]) -> list[Notification]:
    """Every row of the email outbox, oldest first."""
    async with sessions() as session:
        return list(await session.scalars(select(Notification).order_by(Notification.id)))


async def test_a_new_order_queues_one_email_to_the_operator_and_the_relay_sends_it(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    await project(sessions, settings, view_of(placed_order(), status=OrderStatus.RECEIVED))

    [queued] = await outbox(sessions)
    assert (queued.kind, queued.recipient, queued.status) == ("new_order", OPERATOR, notifications.PENDING)
    assert smtp.messages == []
    assert await relay(sessions, settings).send_pending() == 1
    [message] = await smtp.wait_for(1)
    assert message["To"] == f"Demo Shop operator <{OPERATOR}>"
    assert message["Subject"] == "Demo Shop: new order web-1001, 29.90 EUR from web"
    assert message["Message-ID"] == queued.message_id == "<web-1001.new_order@demo-shop.example>"
    [sent] = await outbox(sessions)
    assert sent.status == notifications.SENT


async def test_the_email_shows_lines_customer_total_payment_and_a_link_to_the_order_in_the_console(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    settings = settings.model_copy(update={"web_host": "console.shop.example", "web_port": 8443, "web_https": True})
    order = placed_order(external_id="77-B", method=PaymentMethod.BANK_TRANSFER, customer_name="Grace <Hopper>")

    await project(sessions, settings, view_of(order, status=OrderStatus.AWAITING_PAYMENT))
    await relay(sessions, settings).send_pending()

    [message] = await smtp.wait_for(1)
    text, html = bodies(message)
    assert "Customer: Grace <Hopper> <ada@example.com>" in text
    assert "2 x Blue mug (MUG-BLUE) at 12.50 EUR = 25.00 EUR" in text
    assert "Total:    29.90 EUR" in text
    assert "Payment: bank transfer (the money is awaited)" in text
    assert "Ship to: Grace <Hopper>, 12 Analytical Row, 10115 Berlin, DE" in text
    assert "Open order web-77-B in the console: https://console.shop.example:8443/orders/web-77-B" in text
    assert '<a href="https://console.shop.example:8443/orders/web-77-B">Open order web-77-B in the console</a>' in html
    assert "Grace &lt;Hopper&gt;" in html


async def test_a_retried_or_later_projection_sends_no_second_email(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    order = placed_order()
    mail_relay = relay(sessions, settings)

    await project(sessions, settings, view_of(order, status=OrderStatus.RECEIVED, version=1))
    await project(sessions, settings, view_of(order, status=OrderStatus.RECEIVED, version=1))
    await mail_relay.send_pending()
    await project(sessions, settings, view_of(order, status=OrderStatus.PAID, version=2))
    await project(sessions, settings, view_of(order, status=OrderStatus.RECEIVED, version=1))
    await mail_relay.send_pending()

    await smtp.wait_for(1)
    assert len(smtp.messages) == 1
    assert [row.kind for row in await outbox(sessions)] == ["new_order"]


async def test_an_email_queued_before_a_crash_goes_out_once_whole_as_it_was_queued(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    # The first attempt of the projection queued the email and died before it wrote the order: the outbox holds the
    # email whole, so the relay needs nothing of the read model to send it.
    view = view_of(placed_order(), status=OrderStatus.RECEIVED)
    await queue_new_order_email(sessions, settings, view)
    mail_relay = relay(sessions, settings)
    assert await mail_relay.send_pending() == 1

    await project(sessions, settings, view)
    assert await mail_relay.send_pending() == 0

    [message] = await smtp.wait_for(1)
    assert message["Message-ID"] == "<web-1001.new_order@demo-shop.example>"
    assert len(await outbox(sessions)) == 1


async def test_an_order_already_in_the_read_model_is_not_announced(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    # Projected before the shop switched new-order emails on: its later status changes are no news.
    order = placed_order()
    await project(sessions, settings.model_copy(update={"new_order_email": "off"}), view_of(order, version=1))

    await project(sessions, settings, view_of(order, status=OrderStatus.SHIPPED, version=2))

    assert await outbox(sessions) == []


@pytest.mark.parametrize("setting", ["off", "hourly"])
async def test_no_email_per_order_is_queued_or_sent_unless_the_setting_is_each(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox, setting: str
) -> None:
    settings = settings.model_copy(update={"new_order_email": setting})

    await project(sessions, settings, view_of(placed_order(), status=OrderStatus.RECEIVED))
    sent = await relay(sessions, settings).send_pending()

    assert sent == 0
    assert await outbox(sessions) == []
    assert smtp.messages == []


async def test_the_relay_leaves_customer_emails_to_the_activity_that_sends_them(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox
) -> None:
    await project(sessions, settings.model_copy(update={"new_order_email": "off"}), view_of(placed_order()))
    await notifications.enqueue(
        sessions,
        Notification(
            idempotency_key="web-1001:order_confirmation",
            order_id="web-1001",
            kind="order_confirmation",
            recipient="ada@example.com",
            subject="Demo Shop: order web-1001 confirmed",
            message_id="<web-1001.order_confirmation@demo-shop.example>",
            created_at=datetime.now(UTC),
        ),
    )

    sent = await relay(sessions, settings).send_pending()

    [confirmation] = await outbox(sessions)
    assert sent == 0
    assert confirmation.status == notifications.PENDING
    assert smtp.messages == []


async def test_the_relay_keeps_going_while_the_mail_server_is_down_and_sends_once_it_is_up(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await project(sessions, settings, view_of(placed_order(), status=OrderStatus.RECEIVED))
    mailbox = Mailbox()
    server = Controller(mailbox, hostname=settings.smtp_host, port=settings.smtp_port)

    with caplog.at_level(logging.WARNING, logger="oms.mail_relay"):
        async with relaying(relay(sessions, settings)):
            await until(lambda: len(caplog.records) >= 2)
            server.start()
            try:
                await mailbox.wait_for(1)
            finally:
                server.stop()

    [message] = mailbox.messages
    assert message["Subject"] == "Demo Shop: new order web-1001, 29.90 EUR from web"
    [sent] = await outbox(sessions)
    assert sent.status == notifications.SENT
    failure = caplog.records[0].getMessage()
    assert failure.startswith("mail relay: email web-1001:new_order: SMTP server 127.0.0.1:")
    assert "; next attempt in " in failure
    # One line per failed attempt, nothing per second of waiting.
    assert all(record.getMessage().startswith("mail relay: email web-1001:new_order") for record in caplog.records)


@pytest.mark.parametrize("backend", [SQLITE, POSTGRESQL], indirect=True)
async def test_two_relays_racing_for_the_same_email_send_it_once(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, smtp: Mailbox, backend: str
) -> None:
    # Every worker runs a relay: `docker compose` with three workers has three polling the same outbox.
    await project(sessions, settings, view_of(placed_order(), status=OrderStatus.RECEIVED))

    sent = await asyncio.gather(*(relay(sessions, settings).send_pending() for _ in range(3)))

    await smtp.wait_for(1)
    assert sorted(sent) == [0, 0, 1]
    assert len(smtp.messages) == 1


async def test_the_relay_looks_for_work_without_waiting_for_a_writers_lock(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    reader = create_engine(settings.oms_database_url, read_only=True)
    try:
        looking = MailRelay(sessions, settings, readers=session_factory(reader))
        # A worker's step mid-transaction holds SQLite's one write lock until it commits.
        async with sessions.begin() as busy:
            await busy.execute(text("UPDATE products SET name = name"))

            assert await looking.send_pending() == 0
    finally:
        await reader.dispose()
