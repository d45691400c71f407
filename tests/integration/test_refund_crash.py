"""Refunds under way when the worker is killed with SIGKILL: after a restart every one finishes, exactly once.

Money and stock move exactly once. An email is sent once, except that a kill in the instant between the SMTP server
accepting it and the outbox commit sends the same message again (same Message-ID); 1 of 8 runs landed there on a
2-core machine, because the kill comes just as the other refunds are emailing.

The same `oms worker` subprocess as `test_worker_crash.py`; here the orders are completed first and then refunded as
a stream, and the worker is killed as soon as the first refund has finished, while the others are restocking, paying
back or emailing. The gateway refund retries only after its 30 s timeout, so the test takes about 50 s.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.api import EmailKind
from activities.notifications import message_id
from domain.commands import CommandAccepted
from domain.money import Money
from domain.refund import Refund, RefundState
from domain.status import OrderStatus
from domain.view import OrderView
from settings import Settings
from store.catalogue import add_product, ledger_balance, stock_levels
from store.notifications import SENT
from store.schema import Notification, RefundPaymentRecord, RefundRecord
from tests.conftest import Mailbox, outbox_sent
from tests.integration.conftest import Shop
from tests.integration.test_worker_crash import (
    all_rows,
    print_logs,
    retried_activities,
    start_worker,
    status_or_none,
    wind_down,
    worker_env,
)
from tests.sample_orders import an_order

BATCH = 12
REFUND_GAP_SECONDS = 0.05
DONE_TIMEOUT_SECONDS = 90
OPENING_STOCK = 50


async def wait_for_all(shop: Shop, order_ids: list[str], wanted: OrderStatus) -> list[OrderView]:
    """Poll until every order is in `wanted` (answers may pause while no worker runs)."""
    deadline = time.monotonic() + DONE_TIMEOUT_SECONDS
    while True:
        views = await asyncio.gather(*(status_or_none(shop, order_id) for order_id in order_ids))
        if all(view is not None and view.status is wanted for view in views):
            return [view for view in views if view is not None]
        where = Counter(view.status.value if view else "no answer" for view in views)
        assert time.monotonic() < deadline, f"not all {wanted.value}: {where}"
        await asyncio.sleep(0.5)


@pytest.mark.slow
async def test_refunds_interrupted_by_a_killed_worker_each_pay_back_restock_and_email_once(
    dev_server: WorkflowEnvironment,
    shop_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    smtp: Mailbox,
    tmp_path: Path,
) -> None:
    settings = shop_settings.model_copy(update={"carrier_transit_seconds": 0, "tracking_poll_seconds": 1})
    shop = Shop(client=dev_server.client, settings=settings, sessions=sessions, mailbox=smtp)
    await add_product(sessions, "REFUND-MUG", "Mug that comes back", Money.of("14.90", "EUR"), stock=OPENING_STOCK)
    batch = uuid.uuid4().hex[:8]
    orders = [
        an_order(
            external_id=f"refund-crash-{batch}-{number}",
            email=f"returner{number}@example.com",
            lines=[("REFUND-MUG", 1 + number % 3, "14.90")],
        )
        for number in range(BATCH)
    ]
    ordered = sum(order.lines[0].quantity for order in orders)
    env = worker_env(settings)
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers: list[subprocess.Popen[bytes]] = []
    asked: list[str] = []

    async def refund_all(order_ids: list[str]) -> None:
        for order_id in order_ids:
            await shop.handle(order_id).execute_update(
                "refund", Refund(reason="returned in the crash test"), result_type=CommandAccepted
            )
            asked.append(order_id)
            await asyncio.sleep(REFUND_GAP_SECONDS)

    refunding: asyncio.Task[None] | None = None
    try:
        workers.append(await start_worker(env, logs[0]))
        placed = [await shop.place(order) for order in orders]
        await wait_for_all(shop, placed, OrderStatus.COMPLETED)

        refunding = asyncio.create_task(refund_all(placed))
        deadline = time.monotonic() + 30
        while not (len(asked) >= 3 and asked[0] and (await shop.status(asked[0])).status is OrderStatus.REFUNDED):
            assert time.monotonic() < deadline, f"refunds never got going: {len(asked)} asked"
            await asyncio.sleep(0.02)
        at_kill = len(asked)
        workers[0].kill()
        assert await asyncio.to_thread(workers[0].wait, 10) == -signal.SIGKILL
        workers.append(await start_worker(env, logs[1]))
        await refunding

        views = await wait_for_all(shop, placed, OrderStatus.REFUNDED)
        refund_ids = [f"refund-{order_id}" for order_id in placed]
        retried = await retried_activities(shop, [f"order-{order_id}" for order_id in placed] + refund_ids)
        print(f"\nkilled with {at_kill} of {BATCH} refunds asked; retried: {dict(retried)}")
        # An activity, not only a workflow task: the kill landed while a step's side effect was under way.
        interrupted = [kind for kind in retried if not kind.startswith("workflow task")]
        assert interrupted, f"the kill interrupted no activity: it did not land mid-refund ({dict(retried)})"

        # Every refund finished within its SLA, and the order shows it.
        assert all(view.refunds[0].state is RefundState.FINISHED and view.refunds[0].within_sla for view in views)
        rows = await all_rows(sessions, RefundRecord)
        assert Counter(row.refund_id for row in rows) == dict.fromkeys(refund_ids, 1)
        assert {row.state for row in rows} == {RefundState.FINISHED.value}

        # One payment back per refund, for exactly what the customer paid.
        paid = await all_rows(sessions, RefundPaymentRecord)
        assert Counter(row.refund_id for row in paid) == dict.fromkeys(refund_ids, 1)
        totals = {f"refund-{order.order_id}": order.total.minor for order in orders}
        assert {row.refund_id: row.amount_minor for row in paid} == totals

        # One refund email per customer: one outbox row each, sent. SMTP cannot be part of a transaction, so a kill
        # between the server accepting a message and the outbox commit sends it again: the same message under the
        # same Message-ID, which mail clients drop (README, "Exactly once"). Nothing may be lost or sent a third time.
        # Refunds queue their emails for the mail relay; one the killed worker's relay was sending goes out when its
        # claim runs out (half a minute).
        await outbox_sent(sessions, timeout=DONE_TIMEOUT_SECONDS)
        outbox = [row for row in await all_rows(sessions, Notification) if row.kind == EmailKind.REFUNDED.value]
        assert sorted(row.order_id for row in outbox) == sorted(placed)
        assert {row.status for row in outbox} == {SENT}
        received = Counter(str(message["Message-ID"]) for message in smtp.messages)
        copies = {
            order.order_id: received[
                message_id(order.order_id, EmailKind.REFUNDED, settings.mail_from, refund_id=f"refund-{order.order_id}")
            ]
            for order in orders
        }
        print(f"refund emails received per order: {Counter(copies.values())}")
        # One sender was killed, and a sender hands over one email at a time: at most one email twice, none thrice.
        assert all(count >= 1 for count in copies.values()), copies
        assert sum(count - 1 for count in copies.values()) <= 1, copies

        # Stock adds up: every unit that left came back, none twice.
        balance = (await ledger_balance(sessions))[("REFUND-MUG", settings.warehouse)]
        assert balance.balanced
        assert balance.explains_levels
        assert balance.restocked == ordered
        (level,) = await stock_levels(sessions, skus=["REFUND-MUG"])
        assert (level.available, level.reserved, level.shipped) == (OPENING_STOCK, 0, ordered)
        assert sum(Decimal(view.refunds[0].amount.amount) for view in views) == sum(
            order.total.amount for order in orders
        )
    except BaseException:
        print_logs(logs)
        raise
    finally:
        await wind_down(refunding, workers)
