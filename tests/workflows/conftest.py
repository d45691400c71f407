"""Time-skipping Temporal with the real worker: real activities, real SQLite, a real SMTP peer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.order import FulfilmentMode, Order
from domain.policy import OrderPolicy
from domain.view import OrderView
from settings import Settings
from store.catalogue import seed_demo_catalogue
from tests.conftest import TEMPORAL_TEST_SERVER, Mailbox, mail_relay
from worker import build_worker
from workflows import search
from workflows.order import STATUS_QUERY, OrderWorkflow, PlaceOrder, workflow_id


@dataclass
class Shop:
    """One test's shop: Temporal (time-skipping), its worker, database and mailbox."""

    env: WorkflowEnvironment
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    mailbox: Mailbox

    @property
    def client(self) -> Client:
        """The Temporal client."""
        return self.env.client

    async def place(
        self, order: Order, mode: FulfilmentMode = FulfilmentMode.AUTO, policy: OrderPolicy | None = None
    ) -> WorkflowHandle[OrderWorkflow, OrderView]:
        """Start the order's workflow the way `oms order place` does."""
        return await self.client.start_workflow(
            OrderWorkflow.run,
            PlaceOrder(order=order, policy=policy or self.settings.order_policy(mode)),
            id=workflow_id(order.order_id),
            task_queue=self.settings.task_queue,
        )

    async def status(self, handle: WorkflowHandle[OrderWorkflow, OrderView]) -> OrderView:
        """The order's `status` query."""
        return await handle.query(STATUS_QUERY, result_type=OrderView)

    async def until(
        self,
        handle: WorkflowHandle[OrderWorkflow, OrderView],
        done: Callable[[OrderView], bool],
        step: timedelta = timedelta(seconds=1),
        attempts: int = 600,
    ) -> OrderView:
        """Let (skipped) time pass in small steps until the order's view satisfies `done`."""
        for _ in range(attempts):
            view = await self.status(handle)
            if done(view):
                return view
            await self.env.sleep(step)
        raise AssertionError(f"order never got there; it is {view.status.value}: {view.timeline[-3:]}")


@asynccontextmanager
async def open_shop(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], smtp: Mailbox
) -> AsyncIterator[Shop]:
    """A shop with the demo catalogue on a time-skipping server, the real worker polling a fresh task queue."""
    await seed_demo_catalogue(sessions)
    settings = settings.model_copy(update={"task_queue": f"orders-{uuid.uuid4()}"})
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEMPORAL_TEST_SERVER), data_converter=pydantic_data_converter
    ) as env:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={key.name: search.indexed_value_type(key) for key in search.ALL},
            )
        )
        async with build_worker(env.client, settings, sessions), mail_relay(sessions, settings):
            yield Shop(env=env, settings=settings, sessions=sessions, mailbox=smtp)


@pytest.fixture
async def shop(settings: Settings, sessions: async_sessionmaker[AsyncSession], smtp: Mailbox) -> AsyncIterator[Shop]:
    """A shop whose sandbox carrier delivers at once."""
    async with open_shop(settings, sessions, smtp) as shop:
        yield shop
