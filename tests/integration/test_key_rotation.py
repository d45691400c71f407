"""Rotating the payload key: an order started under the old key finishes, refunds and replays under the new one."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.commands import CommandAccepted, Packed, Picked, Shipped
from domain.order import FulfilmentMode
from domain.refund import Refund
from domain.status import OrderStatus
from domain.view import OrderView
from settings import Settings
from starter.codec import KEY_ID, KeyRing, PayloadUndecodable, data_converter, new_key
from starter.placement import place_order
from store.catalogue import seed_demo_catalogue
from tests.conftest import Mailbox
from tests.integration.conftest import Shop
from tests.sample_orders import an_order
from worker import build_worker
from workflows import sandbox
from workflows.order import OrderWorkflow, workflow_id
from workflows.refund import RefundWorkflow

K1 = new_key("k1")
K2 = new_key("k2")


async def client_with(dev_server: WorkflowEnvironment, ring: KeyRing) -> Client:
    """A client of the test's dev server that encrypts with `ring`, as a worker configured with it does."""
    return await Client.connect(
        dev_server.client.service_client.config.target_host, data_converter=data_converter(ring)
    )


def key_ids(value: Any) -> Iterator[str]:
    """The key id of every encrypted payload in a history, as protobuf JSON."""
    if isinstance(value, dict):
        metadata = value.get("metadata")
        if isinstance(metadata, dict) and KEY_ID in metadata:
            yield base64.b64decode(metadata[KEY_ID]).decode()
        for item in value.values():
            yield from key_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from key_ids(item)


async def test_an_order_started_under_k1_completes_refunds_and_replays_after_k2_becomes_active(
    dev_server: WorkflowEnvironment,
    shop_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    smtp: Mailbox,
) -> None:
    await seed_demo_catalogue(sessions)
    before = await client_with(dev_server, KeyRing.parse(K1))
    # Rotated: both keys known, the new one encrypts.
    after_ring = KeyRing.parse(f"{K1},{K2}", "k2")
    after = await client_with(dev_server, after_ring)

    async with build_worker(before, shop_settings, sessions):
        order_id = await place_order(before, shop_settings, sessions, an_order(), FulfilmentMode.MANUAL)
        await Shop(before, shop_settings, sessions, smtp).wait_for(order_id, OrderStatus.PICKING)

    shop = Shop(after, shop_settings, sessions, smtp)
    handle = shop.handle(order_id)
    async with build_worker(after, shop_settings, sessions):
        await handle.execute_update("picked", Picked(), result_type=CommandAccepted)
        await shop.wait_for(order_id, OrderStatus.PACKING)
        await handle.execute_update("packed", Packed(), result_type=CommandAccepted)
        await shop.wait_for(order_id, lambda view: any(entry.event == "pack done" for entry in view.timeline))
        await handle.execute_update("shipped", Shipped(carrier="DHL", tracking="JJD1"), result_type=CommandAccepted)
        await shop.wait_for(order_id, OrderStatus.SHIPPED)
        await handle.execute_update("complete", {"note": "handed over"}, result_type=CommandAccepted)
        await shop.wait_for(order_id, OrderStatus.COMPLETED)
        await handle.execute_update("refund", Refund(reason="changed mind"), result_type=CommandAccepted)
        view: OrderView = await shop.wait_for(order_id, OrderStatus.REFUNDED)

    order_history = await after.get_workflow_handle(workflow_id(order_id)).fetch_history()
    refund_history = await after.get_workflow_handle(view.refunds[0].refund_id).fetch_history()
    # The order's start went out under k1, its later steps under k2; the refund began after the rotation.
    assert set(key_ids(order_history.to_json_dict())) == {"k1", "k2"}
    assert set(key_ids(refund_history.to_json_dict())) == {"k2"}
    replayer = Replayer(
        workflows=[OrderWorkflow, RefundWorkflow],
        data_converter=data_converter(after_ring),
        workflow_runner=sandbox.RUNNER,
    )
    for history in (order_history, refund_history):
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure
    # A ring that dropped k1 too soon cannot read the order's start: keep old keys while their histories matter.
    without_k1 = Replayer(
        workflows=[OrderWorkflow, RefundWorkflow],
        data_converter=data_converter(KeyRing.parse(K2)),
        workflow_runner=sandbox.RUNNER,
    )
    # The worker fails the workflow task (and retries it) rather than the order; its log names the missing key.
    with pytest.raises(RuntimeError, match=PayloadUndecodable.__name__):
        await without_k1.replay_workflow(order_history)
