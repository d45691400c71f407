"""Several `oms worker` processes on one task queue share a batch; one killed with SIGKILL leaves the rest to finish.

Also: a worker serves Temporal SDK metrics for Prometheus on OMS_METRICS_PORT, and a worker at the warehouse
(`oms worker --warehouse`) does the automated picking and packing on its own task queue.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities import api
from domain.money import Money
from domain.status import OrderStatus
from settings import Settings
from store.catalogue import add_product, ledger_balance
from store.payments import CAPTURE
from store.schema import PaymentRecord
from tests.conftest import Mailbox, free_port
from tests.integration.conftest import Shop
from tests.integration.test_worker_crash import (
    all_rows,
    print_logs,
    start_worker,
    stop,
    wait_until_done,
    worker_env,
)
from tests.sample_orders import an_order

BATCH = 20
ORDER_IN_LOG = re.compile(r"order (\S+): ")


def orders_handled(log: Path) -> set[str]:
    """The orders a worker ran an activity for, from its log (every activity line names its order)."""
    return set(ORDER_IN_LOG.findall(log.read_text()))


def scrape(port: int) -> str:
    """The Prometheus text a worker serves."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


async def running_on(shop: Shop, order_ids: list[str], pid: int) -> list[str]:
    """Wait until the worker of process `pid` has started an activity of one of these orders that has not finished,
    as Temporal's pending activities show; which ones ("<order> <activity>")."""
    while True:
        held: list[str] = []
        for order_id in order_ids:
            description = await shop.client.get_workflow_handle(f"order-{order_id}").describe()
            held += [
                f"{order_id} {pending.activity_type.name}"
                for pending in description.raw_description.pending_activities
                if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                and pending.last_worker_identity.startswith(f"{pid}@")
            ]
        if held:
            return held
        statuses = [(await shop.handle(order_id).describe()).status for order_id in order_ids]
        assert any(status == WorkflowExecutionStatus.RUNNING for status in statuses), "the batch ended untouched"
        # Polled, not slept on: the loop ends on the condition itself.
        await asyncio.sleep(0.05)


async def scheduled_activities(shop: Shop, order_id: str) -> list[str]:
    """Wait until the order has an activity scheduled that no worker has started; their names."""
    while True:
        description = await shop.handle(order_id).describe()
        scheduled = [
            pending.activity_type.name
            for pending in description.raw_description.pending_activities
            if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
        ]
        if scheduled:
            return scheduled
        await asyncio.sleep(0.05)


@pytest.fixture
async def shop_without_worker(
    dev_server: WorkflowEnvironment, shop_settings: Settings, sessions: async_sessionmaker[AsyncSession], smtp: Mailbox
) -> Shop:
    """A shop whose orders only `oms worker` subprocesses will run, with a mug in stock."""
    settings = shop_settings.model_copy(update={"pick_seconds": 0.5, "pack_seconds": 0.5})
    await add_product(sessions, "TWO-MUG", "Mug for two workers", Money.of("14.90", "EUR"), stock=200)
    return Shop(client=dev_server.client, settings=settings, sessions=sessions, mailbox=smtp)


@pytest.mark.slow
async def test_two_workers_share_a_batch_and_the_survivor_of_a_sigkill_finishes_every_order(
    shop_without_worker: Shop, tmp_path: Path
) -> None:
    shop = shop_without_worker
    ports = [free_port(), free_port()]
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers: list[subprocess.Popen[bytes]] = []
    batch = uuid.uuid4().hex[:8]
    first = [an_order(external_id=f"two-{batch}-{n}", lines=[("TWO-MUG", 1, "14.90")]) for n in range(BATCH)]
    second = [an_order(external_id=f"one-{batch}-{n}", lines=[("TWO-MUG", 1, "14.90")]) for n in range(BATCH)]
    try:
        for port, log in zip(ports, logs, strict=True):
            workers.append(await start_worker({**worker_env(shop.settings), "OMS_METRICS_PORT": str(port)}, log))

        placed = [await shop.place(order) for order in first]
        await asyncio.gather(*(wait_until_done(shop, order_id) for order_id in placed))
        shares = [orders_handled(log) & set(placed) for log in logs]
        metrics = [scrape(port) for port in ports]

        # The second batch: worker A dies with SIGKILL while it holds work, as Temporal sees it.
        survivors = [await shop.place(order) for order in second]
        held = await running_on(shop, survivors, workers[0].pid)
        workers[0].kill()
        assert await asyncio.to_thread(workers[0].wait, 10) == -signal.SIGKILL
        views = await asyncio.gather(*(wait_until_done(shop, order_id) for order_id in survivors))
    except BaseException:
        print_logs(logs)
        raise
    finally:
        for process in workers:
            await stop(process)

    print(f"\nfirst batch handled by A: {len(shares[0])}, by B: {len(shares[1])} of {BATCH}; A killed running {held}")
    assert all(shares), f"one worker did nothing: {[len(share) for share in shares]}"
    assert shares[0] | shares[1] == set(placed)
    assert all("temporal_" in text and "task_queue" in text for text in metrics), metrics[0][:500]
    assert [view.status for view in views] == [OrderStatus.COMPLETED] * BATCH
    payments = await all_rows(shop.sessions, PaymentRecord)
    assert Counter((payment.order_id, payment.kind) for payment in payments) == {
        (order_id, CAPTURE): 1 for order_id in placed + survivors
    }
    balances = await ledger_balance(shop.sessions)
    assert all(balance.balanced and balance.explains_levels for balance in balances.values()), balances


async def test_a_worker_at_the_warehouse_does_the_picking_and_packing_on_its_own_task_queue(
    shop_without_worker: Shop, tmp_path: Path
) -> None:
    warehouse_queue = f"warehouse-{uuid.uuid4().hex[:8]}"
    settings = shop_without_worker.settings.model_copy(update={"warehouse_task_queue": warehouse_queue})
    shop = Shop(
        client=shop_without_worker.client,
        settings=settings,
        sessions=shop_without_worker.sessions,
        mailbox=shop_without_worker.mailbox,
    )
    env = {**worker_env(settings), "OMS_WAREHOUSE_TASK_QUEUE": warehouse_queue}
    logs = [tmp_path / "orders.log", tmp_path / "warehouse.log"]
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers.append(await start_worker(env, logs[0]))
        order_id = await shop.place(an_order(external_id=f"wh-{uuid.uuid4().hex[:8]}", lines=[("TWO-MUG", 1, "14.90")]))
        # Without a worker at the warehouse the order waits in picking: its pick is scheduled on the warehouse's
        # task queue, and nobody has started it.
        await shop.wait_for(order_id, OrderStatus.PICKING)
        waiting = await scheduled_activities(shop, order_id)
        assert waiting == [api.PERFORM_ORDER_TASK.name]
        assert (await shop.status(order_id)).status is OrderStatus.PICKING
        with logs[1].open("wb") as output:
            workers.append(
                subprocess.Popen(
                    [str(Path(workers[0].args[0])), "worker", "--warehouse"],
                    env=env,
                    cwd=tmp_path,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
        started = time.monotonic()
        view = await wait_until_done(shop, order_id)
    except BaseException:
        print_logs(logs)
        raise
    finally:
        for process in workers:
            await stop(process)

    assert view.status is OrderStatus.COMPLETED
    print(f"\ncompleted {time.monotonic() - started:.1f} s after the warehouse worker started")
    history = await shop.client.get_workflow_handle(f"order-{order_id}").fetch_history()
    queues = {
        event.activity_task_scheduled_event_attributes.activity_type.name: (
            event.activity_task_scheduled_event_attributes.task_queue.name
        )
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    assert queues[api.PERFORM_ORDER_TASK.name] == warehouse_queue
    assert queues[api.CAPTURE_ORDER_PAYMENT.name] == settings.task_queue
    assert f"worker polling task queue '{warehouse_queue}'" in logs[1].read_text()
