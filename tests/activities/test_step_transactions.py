"""A step's side effect and the order's move in the read model commit together: a kill between them leaves neither."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.inventory import InventoryActivities
from activities.orders import OrderActivities
from activities.payments import PaymentActivities
from activities.warehouse import WarehouseActivities
from domain.emails import EmailKind
from domain.progress import OrderChanges
from domain.status import OrderStatus
from domain.view import PaymentState
from settings import Settings
from store import orders, warehouse
from store.catalogue import seed_demo_catalogue, stock_levels
from store.notifications import get_notification
from store.schema import Notification, PaymentRecord
from tests.activities.fixtures_views import TEST_CARD, placed_order, view_of

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Killed(BaseException):
    """The worker died here (a BaseException, as the process's end is: nothing catches it on the way out)."""


def first_changes(order_id_suffix: str = "1001") -> tuple[OrderChanges, str]:
    order = placed_order(external_id=order_id_suffix, lines=(("MUG-ENAMEL", 1, "14.90", "Enamel mug"),))
    view = view_of(order, status=OrderStatus.RECEIVED, version=0)
    view.payment.state = PaymentState.PENDING
    return OrderChanges(order_id=order.order_id, version=1, at=AT, view=view), order.order_id


async def count(sessions: async_sessionmaker[AsyncSession], table: type[PaymentRecord] | type[Notification]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


def kill_when_the_order_moves(monkeypatch: pytest.MonkeyPatch, status: OrderStatus) -> None:
    """Kill the worker as the step's transaction writes the order's move to `status`: after its side effect."""
    write_over = orders.write_over

    async def dying(
        sessions: async_sessionmaker[AsyncSession],
        view: orders.OrderView,
        stored: orders.OrderView | None,
        *,
        retake: bool = False,
    ) -> int:
        if view.status is status:
            raise Killed
        return await write_over(sessions, view, stored, retake=retake)

    monkeypatch.setattr(orders, "write_over", dying)


async def test_a_kill_after_the_capture_is_booked_rolls_back_the_booking_with_the_orders_move(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes, order_id = first_changes()
    request = api.CaptureOrderPayment(changes=changes, payment=TEST_CARD, amount=changes.view.totals.total)  # type: ignore[union-attr]
    payments = PaymentActivities(sessions, settings)
    with monkeypatch.context() as killing:
        kill_when_the_order_moves(killing, OrderStatus.PAID)
        with pytest.raises(Killed):
            await ActivityEnvironment().run(payments.capture_order_payment, request)

    # Written before the gateway was asked: the order, received. Not the capture, nor the move, nor the email.
    stored = await orders.get_order(sessions, order_id)
    assert stored is not None
    assert stored.status == OrderStatus.RECEIVED.value
    assert await count(sessions, PaymentRecord) == 0
    assert await get_notification(sessions, f"{order_id}:{EmailKind.ORDER_CONFIRMATION.value}") is None

    # The retry the killed attempt gets: the gateway's idempotency key gives the same charge, all commit together.
    captured = await ActivityEnvironment().run(payments.capture_order_payment, request)
    stored = await orders.get_order(sessions, order_id)
    assert stored is not None
    assert stored.status == OrderStatus.PAID.value
    assert await count(sessions, PaymentRecord) == 1
    queued = await get_notification(sessions, f"{order_id}:{EmailKind.ORDER_CONFIRMATION.value}")
    assert queued is not None
    assert queued.message is not None
    assert captured.gateway_reference in stored.view_json


async def test_a_kill_after_the_stock_is_taken_puts_it_back_with_the_orders_move(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_demo_catalogue(sessions)
    before = {level.sku: level.available for level in await stock_levels(sessions)}
    changes, order_id = first_changes("1002")
    request = api.ReserveOrderStock(
        changes=changes,
        warehouse="main",
        lines=[api.StockLine(sku="MUG-ENAMEL", quantity=1)],
        picking=changes.view.mode,  # type: ignore[union-attr]
    )
    inventory = InventoryActivities(sessions, settings)
    with monkeypatch.context() as killing:
        kill_when_the_order_moves(killing, OrderStatus.PICKING)
        with pytest.raises(Killed):
            await ActivityEnvironment().run(inventory.reserve_order_stock, request)

    assert {level.sku: level.available for level in await stock_levels(sessions)} == before
    assert await orders.get_order(sessions, order_id) is None

    reservation = await ActivityEnvironment().run(inventory.reserve_order_stock, request)
    assert reservation.reserved
    stored = await orders.get_order(sessions, order_id)
    assert stored is not None
    assert stored.status == OrderStatus.PICKING.value
    levels = {level.sku: level for level in await stock_levels(sessions)}
    assert levels["MUG-ENAMEL"].available == before["MUG-ENAMEL"] - 1
    assert levels["MUG-ENAMEL"].reserved == 1


async def test_a_kill_as_a_job_of_no_duration_is_noted_leaves_no_job_behind(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes, order_id = first_changes("1003")
    assert changes.view is not None
    changes.view.status = OrderStatus.PICKING
    request = api.PerformOrderTask(changes=changes, kind=api.TaskKind.PICK, duration=timedelta(0), packing=True)
    jobs = WarehouseActivities(sessions, settings)
    with monkeypatch.context() as killing:
        kill_when_the_order_moves(killing, OrderStatus.PACKING)
        with pytest.raises(Killed):
            await ActivityEnvironment().run(jobs.perform_order_task, request)

    # Opened and done in the one commit that was rolled back: no job left open for a retry to wait on.
    assert await warehouse.get_task(sessions, order_id, api.TaskKind.PICK.value) is None
    assert await orders.get_order(sessions, order_id) is None

    done = await ActivityEnvironment().run(jobs.perform_order_task, request)
    assert done.status == warehouse.DONE
    stored = await orders.get_order(sessions, order_id)
    assert stored is not None
    assert stored.status == OrderStatus.PACKING.value


async def test_an_email_that_cannot_be_written_is_marked_failed_the_operator_alerted_and_the_step_commits(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    changes, order_id = first_changes("1009")
    assert changes.view is not None
    # A name from before such names were refused at the door: no email header can carry it.
    view = changes.view.model_copy(
        update={"customer": changes.view.customer.model_copy(update={"name": "Eve\r\nBcc: spy@evil.example"})}
    )
    changes = changes.model_copy(update={"view": view, "emails": [EmailKind.ORDER_CONFIRMATION]})
    stored = await ActivityEnvironment().run(
        OrderActivities(sessions, settings).store_order, api.StoreOrder(changes=changes)
    )

    assert stored.version == 1
    failed = await get_notification(sessions, f"{order_id}:order_confirmation")
    assert failed is not None
    assert failed.status == "failed"
    assert failed.failure is not None
    assert failed.failure.startswith("could not be written: ")
    alert = await get_notification(sessions, f"{order_id}:order_confirmation:undelivered")
    assert alert is not None
    assert (alert.status, alert.recipient) == ("pending", settings.operator_email)
    assert alert.message is not None
    body = email.message_from_string(alert.message, policy=email.policy.default)
    assert isinstance(body, EmailMessage)
    assert "could not be written, so it was never sent" in body.get_content()
    assert await orders.get_order(sessions, order_id) is not None
