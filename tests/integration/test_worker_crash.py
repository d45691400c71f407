"""A worker killed with SIGKILL in the middle of a batch and restarted: every order completes, exactly once.

The worker runs as `oms worker` in a subprocess, configured only by OMS_* environment variables, against the
session's dev server, the test's SQLite file and the test's SMTP peer. Orders arrive as a stream so that, when the
worker is killed, some are not yet paid, some are in the warehouse and some have shipped.

Activities the killed worker had started are retried only once their timeout expires (10 s heartbeat for warehouse
tasks and database activities, 20 s for an email), so the batch finishes 10 to 25 s after the kill.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.api import EmailKind
from activities.notifications import message_id
from domain.money import Money
from domain.status import OrderStatus
from domain.view import OrderView
from settings import Settings
from store.catalogue import add_product, ledger_balance, stock_levels
from store.notifications import SENT, get_notification
from store.payments import CAPTURE
from store.schema import Base, Notification, PaymentRecord
from tests.conftest import Mailbox, outbox_sent
from tests.integration.conftest import Shop
from tests.sample_orders import an_order

OMS = str(Path(sys.executable).parent / "oms")

BATCH = 20
# One order placed every this often: the batch reaches the worker as a stream, spread over every step.
PLACEMENT_GAP_SECONDS = 0.15
# Generous: a retried email waits out its 20 s start-to-close timeout first.
COMPLETION_TIMEOUT_SECONDS = 90
# What a card order in auto mode emails before its follow-up (the survey is days away).
EMAILS = (EmailKind.ORDER_CONFIRMATION, EmailKind.SHIPPED, EmailKind.COMPLETED, EmailKind.NEW_ORDER)
PRODUCTS = {"CRASH-MUG": ("Crash-tested mug", "14.90"), "CRASH-TEE": ("Crash-tested T-shirt", "24.00")}
OPENING_STOCK = 100

NOT_PAID_YET = {OrderStatus.RECEIVED, OrderStatus.PAID}
SHIPPED_OR_LATER = {OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED}

RowT = TypeVar("RowT", bound=Base)


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment of `oms worker` for this shop: every setting that matters, and no stray OMS_* variable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
    env.update(
        OMS_TEMPORAL_ADDRESS=settings.temporal_address,
        OMS_TEMPORAL_NAMESPACE=settings.temporal_namespace,
        OMS_TASK_QUEUE=settings.task_queue,
        OMS_VAR_DIR=str(settings.var_dir),
        OMS_DATABASE_URL=settings.oms_database_url,
        OMS_SMTP_HOST=settings.smtp_host,
        OMS_SMTP_PORT=str(settings.smtp_port),
        OMS_MAIL_FROM=settings.mail_from,
        OMS_WAREHOUSE=settings.warehouse,
        OMS_PICK_SECONDS=str(settings.pick_seconds),
        OMS_PACK_SECONDS=str(settings.pack_seconds),
        OMS_CARRIER_TRANSIT_SECONDS=str(settings.carrier_transit_seconds),
        OMS_TRACKING_POLL_SECONDS=str(settings.tracking_poll_seconds),
        OMS_DEMO_DATA="false",
        OMS_LOG_LEVEL="info",
    )
    return env


async def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`oms worker` in a subprocess writing to `log`, once it is connected and about to poll."""
    with log.open("wb") as output:
        # Run outside the checkout so that no `.env` file adds to the configuration.
        process = subprocess.Popen([OMS, "worker"], env=env, cwd=log.parent, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while "worker polling task queue" not in log.read_text():
        assert process.poll() is None, f"oms worker exited with {process.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"oms worker not polling after 30 s:\n{log.read_text()}"
        await asyncio.sleep(0.1)
    return process


async def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a worker if it still runs: drain on SIGTERM, SIGKILL when that takes too long."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        await asyncio.to_thread(process.wait, 15)
    except subprocess.TimeoutExpired:
        process.kill()
        await asyncio.to_thread(process.wait, 10)


def print_logs(logs: list[Path]) -> None:
    """Show what the workers wrote: a failed crash test is read from their logs."""
    for log in logs:
        if log.exists():
            print(f"\n----- {log.name} -----\n{log.read_text()}")


async def wind_down(feeding: asyncio.Task[None] | None, workers: list[subprocess.Popen[bytes]]) -> None:
    """Stop the task still feeding the batch in, then every worker still running."""
    if feeding is not None and not feeding.done():
        feeding.cancel()
        with suppress(asyncio.CancelledError):
            await feeding
    for process in workers:
        await stop(process)


async def status_or_none(shop: Shop, order_id: str) -> OrderView | None:
    """The order's `status` query, or None while no worker answers it (not picked up yet, killed, restarting)."""
    try:
        return await shop.status(order_id)
    except (RPCError, WorkflowQueryFailedError):
        return None


async def wait_until_mid_flight(shop: Shop, placed: list[str], placing: asyncio.Task[None]) -> Counter[str]:
    """Wait until one order has shipped while another is not paid yet; how many orders are where."""
    deadline = time.monotonic() + 30
    while True:
        views = await asyncio.gather(*(status_or_none(shop, order_id) for order_id in list(placed)))
        statuses = [view.status if view else OrderStatus.RECEIVED for view in views]
        unplaced = BATCH - len(statuses)
        if any(status in SHIPPED_OR_LATER for status in statuses) and (
            unplaced or any(status in NOT_PAID_YET for status in statuses)
        ):
            return Counter([status.value for status in statuses] + ["not placed yet"] * unplaced)
        if placing.done():
            placing.result()  # a failed placement fails the test here
        assert time.monotonic() < deadline, f"the batch never got mid-flight: {Counter(statuses)}"
        await asyncio.sleep(0.05)


async def completion_email_sent(shop: Shop, order_id: str) -> bool:
    """Whether the mail relay has handed the order's completion email to SMTP."""
    queued = await get_notification(shop.sessions, f"{order_id}:{EmailKind.COMPLETED.value}")
    return queued is not None and queued.status == SENT


async def wait_until_done(shop: Shop, order_id: str) -> OrderView:
    """Poll the `status` query until the order is completed and its completion email has gone out."""
    deadline = time.monotonic() + COMPLETION_TIMEOUT_SECONDS
    view: OrderView | None = None
    while True:
        view = await status_or_none(shop, order_id) or view
        if view is not None and view.status is OrderStatus.COMPLETED and await completion_email_sent(shop, order_id):
            return view
        if time.monotonic() > deadline:
            where = f"stuck in {view.status.value}, timeline: {view.timeline}" if view else "never answered"
            raise AssertionError(f"order {order_id} {where}")
        await asyncio.sleep(0.25)


async def retried_activities(shop: Shop, workflow_ids: list[str]) -> Counter[str]:
    """Work the kill interrupted: activities that needed another attempt, by type and the failure that caused it, and
    workflow tasks that timed out with the worker gone (the local activities a step runs within them included)."""
    retried: Counter[str] = Counter()
    for workflow_id in workflow_ids:
        events = (await shop.client.get_workflow_handle(workflow_id).fetch_history()).events
        names = {
            event.event_id: event.activity_task_scheduled_event_attributes.activity_type.name
            for event in events
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        }
        for event in events:
            started = event.activity_task_started_event_attributes
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED and started.attempt > 1:
                retried[f"{names[started.scheduled_event_id]} ({started.last_failure.message})"] += 1
            timed_out = event.workflow_task_timed_out_event_attributes
            # Started and never finished: the worker died running it. (A task that timed out waiting in the dead
            # worker's own queue was interrupted before it began, and is not counted.)
            if (
                event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
                and timed_out.timeout_type == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
            ):
                retried["workflow task (its worker was killed running it)"] += 1
    return retried


async def all_rows(sessions: async_sessionmaker[AsyncSession], table: type[RowT]) -> list[RowT]:
    """Every row of `table`."""
    async with sessions() as session:
        return list(await session.scalars(select(table)))


@pytest.mark.slow
async def test_a_worker_killed_mid_batch_and_restarted_completes_every_order_exactly_once(
    dev_server: WorkflowEnvironment,
    shop_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    smtp: Mailbox,
    tmp_path: Path,
) -> None:
    # The order policy (pick and pack durations, tracking interval) is fixed at placement: place with the
    # same slow settings the worker runs with, so that a batch takes several seconds and has a middle to hit.
    settings = shop_settings.model_copy(
        update={"pick_seconds": 1, "pack_seconds": 1, "carrier_transit_seconds": 2, "tracking_poll_seconds": 1}
    )
    shop = Shop(client=dev_server.client, settings=settings, sessions=sessions, mailbox=smtp)
    for sku, (name, price) in PRODUCTS.items():
        await add_product(sessions, sku, name, Money.of(price, "EUR"), stock=OPENING_STOCK)
    batch = uuid.uuid4().hex[:8]
    orders = [
        an_order(
            external_id=f"crash-{batch}-{number}",
            email=f"customer{number}@example.com",
            lines=[("CRASH-MUG", 1 + number % 3, "14.90")] + ([("CRASH-TEE", 1, "24.00")] if number % 2 else []),
        )
        for number in range(BATCH)
    ]
    ordered = Counter[str]()
    for order in orders:
        for line in order.lines:
            ordered[line.sku] += line.quantity

    env = worker_env(settings)
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers: list[subprocess.Popen[bytes]] = []
    placed: list[str] = []

    async def place_batch() -> None:
        for order in orders:
            placed.append(await shop.place(order))
            await asyncio.sleep(PLACEMENT_GAP_SECONDS)

    placing: asyncio.Task[None] | None = None
    try:
        workers.append(await start_worker(env, logs[0]))
        started = time.monotonic()
        placing = asyncio.create_task(place_batch())
        at_kill = await wait_until_mid_flight(shop, placed, placing)

        workers[0].kill()
        assert await asyncio.to_thread(workers[0].wait, 10) == -signal.SIGKILL
        killed_at = time.monotonic()
        workers.append(await start_worker(env, logs[1]))
        await placing
        assert len(placed) == BATCH

        views = await asyncio.gather(*(wait_until_done(shop, order_id) for order_id in placed))
        assert [view.status for view in views] == [OrderStatus.COMPLETED] * BATCH
        retried = await retried_activities(shop, [f"order-{order_id}" for order_id in placed])
        print(
            f"\nkilled {killed_at - started:.1f} s after the first order with the batch at {dict(at_kill)}; "
            f"all completed {time.monotonic() - killed_at:.1f} s after the kill; retried: {dict(retried)}"
        )
        # An activity, not only a workflow task: the kill landed while a step's side effect was under way.
        interrupted = [kind for kind in retried if not kind.startswith("workflow task")]
        assert interrupted, f"the kill interrupted no activity: it did not land mid-batch ({dict(retried)})"

        # One capture per order, each under its own gateway reference: nobody was charged twice.
        payments = await all_rows(sessions, PaymentRecord)
        assert Counter((payment.order_id, payment.kind) for payment in payments) == {
            (order_id, CAPTURE): 1 for order_id in placed
        }
        assert len({payment.gateway_reference for payment in payments}) == BATCH
        assert {view.order_id: view.payment.gateway_reference for view in views} == {
            payment.order_id: payment.gateway_reference for payment in payments
        }

        # One outbox row per order and kind, every one sent... An email the killed worker's relay was sending stays
        # claimed until its claim runs out (half a minute); then a live relay sends it: wait for that, too.
        await outbox_sent(sessions, timeout=COMPLETION_TIMEOUT_SECONDS)
        notifications = await all_rows(sessions, Notification)
        assert Counter((row.order_id, row.kind) for row in notifications) == {
            (order_id, kind.value): 1 for order_id in placed for kind in EMAILS
        }
        assert {row.status for row in notifications} == {SENT}
        # ...and the SMTP peer received each email, nothing else. SMTP cannot join a transaction: only a kill between
        # the server accepting a message and the outbox commit repeats it, under the same Message-ID (README).
        received = Counter(str(message["Message-ID"]) for message in smtp.messages)
        expected = {message_id(order_id, kind, settings.mail_from) for order_id in placed for kind in EMAILS}
        assert set(received) == expected
        print(f"emails received per message: {Counter(received.values())}")
        # One sender was killed, and a sender hands over one email at a time: at most one email twice, none thrice.
        assert sum(count - 1 for count in received.values()) <= 1, received

        # Stock adds up: the ledger explains every level, and exactly the ordered units left the warehouse.
        balances = await ledger_balance(sessions)
        assert all(balance.balanced and balance.explains_levels for balance in balances.values()), balances
        assert {key[0]: balance.ship_moves for key, balance in balances.items()} == dict(ordered)
        levels = await stock_levels(sessions, skus=list(PRODUCTS))
        assert {level.sku: (level.available, level.reserved, level.shipped) for level in levels} == {
            sku: (OPENING_STOCK - ordered[sku], 0, ordered[sku]) for sku in PRODUCTS
        }
    except BaseException:
        print_logs(logs)
        raise
    finally:
        await wind_down(placing, workers)
