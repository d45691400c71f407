"""An operator refunds and cancels orders with `oms` on the real dev server; engineers find refunds in Temporal."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus

from domain.order import FulfilmentMode
from domain.status import OrderStatus
from settings import Settings
from starter.placement import place_order
from tests.conftest import outbox_sent
from tests.integration.conftest import Shop
from tests.integration.test_operator_commands import temporal_signal
from tests.sample_orders import an_order
from workflows import search

OMS = Path(sys.executable).parent / "oms"


async def oms(settings: Settings, *args: str) -> tuple[int, str, str]:
    """Run the real `oms` command against the test's shop; return its exit code, stdout and stderr."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
    env.update(
        OMS_TEMPORAL_ADDRESS=settings.temporal_address,
        OMS_VAR_DIR=str(settings.var_dir),
        OMS_DATABASE_URL=settings.oms_database_url,
        OMS_TASK_QUEUE=settings.task_queue,
    )
    process = await asyncio.create_subprocess_exec(
        str(OMS), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_an_operator_refunds_one_line_with_oms_and_sees_the_deadline_at_once(shop: Shop) -> None:
    order_id = await shop.place(an_order(lines=[("MUG-ENAMEL", 2, "14.90")]))
    await shop.wait_for(order_id, OrderStatus.COMPLETED)

    code, out, err = await oms(
        shop.settings, "order", "refund", order_id, "--reason", "chipped", "--line", "MUG-ENAMEL:1"
    )

    assert code == 0, err
    assert f"refund refund-{order_id} accepted: 14.90" in out
    assert " by " in out
    assert "23:59" in out
    view = await shop.wait_for(order_id, lambda view: bool(view.refunds) and not view.refunds[0].is_open)
    assert view.status is OrderStatus.COMPLETED
    # The timeline says who asked for it: the command line.
    assert [entry.by for entry in view.timeline if entry.event == "refund requested"] == ["oms cli"]
    child = await shop.client.get_workflow_handle(f"refund-{order_id}").describe()
    assert child.parent_id == f"order-{order_id}"
    assert child.status is WorkflowExecutionStatus.COMPLETED
    code, out, _ = await oms(shop.settings, "order", "status", order_id)
    assert code == 0
    assert f"Refund refund-{order_id}" in out
    assert "within SLA" in out
    assert "oms cli" in out


async def test_a_bank_transfer_refund_is_found_by_its_deadline_and_finished_by_refund_paid_out(shop: Shop) -> None:
    order_id = await shop.place(an_order(method="bank_transfer"))
    await shop.wait_for(order_id, OrderStatus.AWAITING_PAYMENT)
    await temporal_signal(shop, order_id, "payment_received", {"reference": "SEPA-1"})
    await shop.wait_for(order_id, OrderStatus.COMPLETED)

    code, _, err = await oms(shop.settings, "order", "refund", order_id, "--reason", "returned")
    assert code == 0, err
    await shop.wait_for(order_id, lambda view: view.refunds[0].state.value == "awaiting_payout")
    query = f"RefundDeadline > '2000-01-01T00:00:00Z' AND WorkflowId = 'order-{order_id}'"
    found = [execution.id async for execution in shop.client.list_workflows(query)]
    for _ in range(50):
        if found:
            break
        await asyncio.sleep(0.2)  # visibility is eventually consistent
        found = [execution.id async for execution in shop.client.list_workflows(query)]
    assert found == [f"order-{order_id}"]
    # The payout request (the operator also hears of every new order: OMS_NEW_ORDER_EMAIL=each), which the refund
    # queued before the order heard it awaits the payout; the mail relay sends it.
    await outbox_sent(shop.sessions)
    assert len([m for m in shop.mailbox.to(shop.settings.operator_email) if "pay back" in m["Subject"]]) == 1

    code, _out, err = await oms(shop.settings, "order", "refund-paid-out", order_id, "--reference", "SEPA-BACK")
    assert code == 0, err
    final = await shop.wait_for(order_id, OrderStatus.REFUNDED)

    assert final.refunds[0].payout_reference == "SEPA-BACK"
    description = await shop.handle(order_id).describe()
    assert description.typed_search_attributes.get(search.REFUND_DEADLINE) is None


async def test_an_operator_cancels_an_order_and_a_second_cancel_is_refused_with_the_reason(shop: Shop) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)

    code, out, err = await oms(shop.settings, "order", "cancel", order_id, "--reason", "customer called")
    assert code == 0, err
    assert "cancellation" in out
    await shop.wait_for(order_id, OrderStatus.CANCELLED)
    code, out, err = await oms(shop.settings, "order", "cancel", order_id, "--reason", "again")

    assert code == 1
    assert "cancelled" in err
    assert len(err.strip().splitlines()) == 1


async def test_a_refund_line_in_the_wrong_form_is_refused_before_anything_is_sent(shop: Shop) -> None:
    code, _, err = await oms(shop.settings, "order", "refund", "web-1", "--reason", "x", "--line", "MUG-ENAMEL")

    assert code != 0
    assert "--line 'MUG-ENAMEL': expected SKU:QTY" in err


async def test_a_refund_after_the_order_has_closed_is_refused_with_the_end_of_its_refund_window(shop: Shop) -> None:
    # Windows of a second: the order completes, surveys, and closes at once.
    brief = shop.settings.model_copy(
        update={"survey_delay_days": 0.0, "feedback_window_days": 0.0, "refund_window_days": 1 / 86_400}
    )
    order = an_order()
    order_id = await place_order(shop.client, brief, shop.sessions, order)
    final = await shop.handle(order_id).result()
    assert final.status is OrderStatus.COMPLETED

    code, _, err = await oms(shop.settings, "order", "refund", order_id, "--reason", "too late")

    assert code == 1
    assert err.startswith(f"error: refund refused for order {order_id}: the refund window closed on ")
    assert final.follow_up.closes_at is not None


async def test_a_partial_refund_sent_as_a_signal_with_the_temporal_cli_is_carried_out(shop: Shop) -> None:
    order_id = await shop.place(an_order(lines=[("MUG-ENAMEL", 2, "14.90")]))
    await shop.wait_for(order_id, OrderStatus.COMPLETED)

    await temporal_signal(
        shop, order_id, "refund", {"reason": "one chipped", "lines": [{"sku": "MUG-ENAMEL", "quantity": 1}]}
    )

    view = await shop.wait_for(order_id, lambda view: bool(view.refunds) and not view.refunds[0].is_open)
    assert view.status is OrderStatus.COMPLETED
    assert [(line.sku, line.quantity) for line in view.refunds[0].lines] == [("MUG-ENAMEL", 1)]
    assert view.refunds[0].within_sla
