"""The console on the real dev server: order pages, every command as the CLI's Update, refusals in the page, stock
receipts that resume backorders, imports, and the live stream of new orders (LISTEN/NOTIFY on PostgreSQL, the
change cursor on SQLite). What touches the database runs on both; refusals and roles run on SQLite."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from domain.order import FulfilmentMode
from domain.status import OrderStatus
from settings import Settings
from store import catalogue
from tests.conftest import SQLITE, free_port
from tests.integration.conftest import Shop
from tests.sample_orders import an_order
from tests.web.console import (
    OPERATOR,
    ConsoleClient,
    anonymous,
    console_url,
    operator,
    staff,
    viewer,
)

__all__ = ["anonymous", "console_url", "operator", "staff", "viewer"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
async def web_settings(shop: Shop) -> Settings:
    """The shop's settings (dev server, task queue, database) with the console on a free port."""
    return shop.settings.model_copy(update={"web_port": free_port()})


async def press(
    client: ConsoleClient, order_id: str, action: str, fields: dict[str, str] | None = None
) -> httpx.Response:
    """Press a button on the order page, as htmx sends it."""
    token = await client.token(f"/orders/{order_id}")
    return await client.http.post(
        f"/orders/{order_id}/{action}", data=fields or {}, headers={"HX-Request": "true", "X-CSRF-Token": token}
    )


@pytest.mark.database(SQLITE)  # the same on PostgreSQL: nothing here depends on the database
async def test_the_order_page_shows_the_order_and_links_its_workflow(operator: ConsoleClient, shop: Shop) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)
    page = (await operator.http.get(f"/orders/{order_id}")).text
    assert f"Order {order_id}" in page
    assert "MUG-ENAMEL" in page
    assert "29.80 EUR" in page
    assert f"/namespaces/default/workflows/order-{order_id}" in page
    assert 'data-action="pick"' in page
    assert 'data-action="pack"' not in page
    # What cannot be done now is listed with the reason.
    assert "<li>Packed: packing is confirmed while the order is packing</li>" in page


async def test_a_manual_order_is_driven_to_completed_by_buttons_and_every_step_names_the_operator(
    operator: ConsoleClient, shop: Shop
) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)
    picked = await press(operator, order_id, "pick")
    assert picked.status_code == 200
    assert "picking confirmed; packing comes next" in picked.text
    await shop.wait_for(order_id, OrderStatus.PACKING)
    assert "packing confirmed" in (await press(operator, order_id, "pack")).text
    shipped = await press(operator, order_id, "ship", {"carrier": "DHL", "tracking": "JJD000390007"})
    assert "shipped with DHL under JJD000390007" in shipped.text
    await shop.wait_for(order_id, OrderStatus.SHIPPED)
    assert "the order is being completed" in (await press(operator, order_id, "complete", {"note": "in the shop"})).text
    view = await shop.wait_for(order_id, OrderStatus.COMPLETED)
    by_anna = {entry.event for entry in view.timeline if entry.by == OPERATOR}
    assert {"picking confirmed", "packing confirmed", "shipping confirmed", "fulfilled outside the system"} <= by_anna
    completed = await _email(shop, f"your order {order_id} is complete")
    assert completed["To"] == "Ada Lovelace <ada@example.com>"


@pytest.mark.database(SQLITE)  # the same on PostgreSQL: nothing here depends on the database
async def test_a_refused_command_is_shown_in_the_page_with_the_workflows_reason(
    operator: ConsoleClient, shop: Shop
) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)
    refused = await press(operator, order_id, "pack")
    assert refused.status_code == 409
    assert (
        f"packed refused for order {order_id}: the order is picking; packing can be confirmed only while it is packing"
    ) in refused.text
    view = await shop.status(order_id)
    assert view.status is OrderStatus.PICKING
    assert not any(entry.rejected for entry in view.timeline)  # a refused Update leaves no trace


@pytest.mark.database(SQLITE)  # the same on PostgreSQL: nothing here depends on the database
@pytest.mark.parametrize(
    ("action", "fields", "problem"),
    [
        ("ship", {"carrier": "DHL", "tracking": ""}, "tracking: String should have at least 1 character"),
        ("cancel", {"reason": ""}, "reason: String should have at least 1 character"),
        ("feedback", {"rating": "9"}, "rating: Input should be less than or equal to 5"),
        ("refund", {"reason": "broken", "quantity:MUG-ENAMEL": "1", "left:MUG-ENAMEL": "2"}, "confirm: tick"),
        ("teleport", {}, "unknown action &#39;teleport&#39;"),
    ],
    ids=["ship without tracking", "cancel without reason", "rating 9", "refund unconfirmed", "unknown action"],
)
async def test_a_bad_form_is_refused_naming_the_field_and_nothing_is_sent(
    operator: ConsoleClient, shop: Shop, action: str, fields: dict[str, str], problem: str
) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)
    response = await press(operator, order_id, action, fields)
    assert response.status_code in (404, 422)
    assert problem in response.text
    assert (await shop.status(order_id)).status is OrderStatus.PICKING


@pytest.mark.database(SQLITE)  # the same on PostgreSQL: nothing here depends on the database
async def test_an_unknown_order_is_not_found(operator: ConsoleClient, shop: Shop) -> None:
    page = await operator.http.get("/orders/web-nothing-here")
    assert page.status_code == 404
    assert "order web-nothing-here not found" in page.text


async def test_a_partial_refund_through_the_dialog_shows_its_deadline(operator: ConsoleClient, shop: Shop) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)
    await press(operator, order_id, "complete")
    await shop.wait_for(order_id, OrderStatus.COMPLETED)
    page = (await operator.http.get(f"/orders/{order_id}")).text
    assert 'name="quantity:MUG-ENAMEL" value="2"' in page
    refunded = await press(
        operator,
        order_id,
        "refund",
        {"reason": "one chipped", "quantity:MUG-ENAMEL": "1", "left:MUG-ENAMEL": "2", "confirm": "yes"},
    )
    assert refunded.status_code == 200
    assert f"refund refund-{order_id} accepted: 14.90 EUR back to the customer by" in refunded.text
    view = await shop.wait_for(order_id, lambda view: bool(view.refunds) and not view.refunds[0].is_open)
    assert view.refunds[0].lines[0].quantity == 1
    page = (await operator.http.get(f"/orders/{order_id}")).text
    assert f'data-refund-id="refund-{order_id}"' in page
    assert 'name="quantity:MUG-ENAMEL" value="1"' in page  # one mug is left to refund


@pytest.mark.database(SQLITE)  # the same on PostgreSQL: nothing here depends on the database
async def test_more_units_than_are_left_are_refused_by_the_order(operator: ConsoleClient, shop: Shop) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)
    await press(operator, order_id, "complete")
    await shop.wait_for(order_id, OrderStatus.COMPLETED)
    refused = await press(
        operator,
        order_id,
        "refund",
        {"reason": "all of it", "quantity:MUG-ENAMEL": "5", "left:MUG-ENAMEL": "2", "confirm": "yes"},
    )
    assert refused.status_code == 409
    assert "only 2 of SKU MUG-ENAMEL can still be refunded" in refused.text


@pytest.mark.database(SQLITE)  # the same on PostgreSQL: nothing here depends on the database
async def test_a_viewer_sees_the_order_but_no_buttons_and_cannot_press_one(viewer: ConsoleClient, shop: Shop) -> None:
    order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
    await shop.wait_for(order_id, OrderStatus.PICKING)
    page = (await viewer.http.get(f"/orders/{order_id}")).text
    assert f"Order {order_id}" in page
    assert "data-action=" not in page
    assert (await press(viewer, order_id, "pick")).status_code == 403
    assert (await shop.status(order_id)).status is OrderStatus.PICKING


async def test_receiving_stock_resumes_a_backordered_order(operator: ConsoleClient, shop: Shop) -> None:
    order_id = await shop.place(an_order(lines=[("COFFEE-1KG", 1, "24.90")]))
    await shop.wait_for(order_id, OrderStatus.BACKORDERED)
    response = await operator.post("/stock/receive", {"sku": "COFFEE-1KG", "quantity": "5"})
    assert response.status_code == 200
    assert "received 5 x COFFEE-1KG: 5 available; 1 backordered order(s) told to try again" in response.text
    view = await shop.wait_for(order_id, OrderStatus.COMPLETED)
    assert any(entry.event == "stock arrived" and entry.by == OPERATOR for entry in view.timeline)
    levels = {level.sku: level for level in await catalogue.stock_levels(shop.sessions)}
    assert levels["COFFEE-1KG"].available == 4


async def test_an_import_shows_placed_duplicate_and_rejected_rows_and_offers_the_rejected_ones(
    operator: ConsoleClient, shop: Shop
) -> None:
    # Order numbers of this test's own: the dev server outlives the test, and the ids must be new to it.
    prefix = f"T{uuid.uuid4().hex[:8]}-"
    good = (
        (EXAMPLES / "imports" / "marketplace-export.csv").read_text(encoding="utf-8").replace("\n302-", f"\n{prefix}")
    )
    header, *rows = good.splitlines()
    notebook = next(row for row in rows if "NOTEBOOK-A5" in row)
    bad_row = notebook.replace("NOTEBOOK-A5", "MUG-PINK").replace(notebook.split(",")[0], "MP-BAD-1")
    content = "\n".join([header, *rows, bad_row]) + "\n"
    token = await operator.token("/import")
    response = await operator.http.post(
        "/import",
        data={"csrf_token": token, "channel": "marketplace"},
        files={"file": ("export.csv", content.encode(), "text/csv")},
    )
    assert response.status_code == 200
    assert "placed 3 orders" in response.text
    assert "unknown SKU &#39;MUG-PINK&#39;" in response.text
    placed = re.search(r'<a href="/orders/([^"]+)">', response.text)
    assert placed is not None
    view = await shop.status(placed.group(1))
    assert (view.timeline[0].event, view.timeline[0].by) == ("order received", OPERATOR)
    link = re.search(r'href="(/import/[^"]+/rejected\.csv)"', response.text)
    assert link is not None
    rejected = await operator.http.get(link.group(1))
    assert "MUG-PINK" in rejected.text
    assert "reason" in rejected.text.splitlines()[0]
    again = await operator.http.post(
        "/import",
        data={"csrf_token": token, "channel": "marketplace"},
        files={"file": ("export.csv", good.encode(), "text/csv")},
    )
    assert "placed 0 orders" in again.text


async def test_a_new_order_reaches_an_open_page_as_a_toast(operator: ConsoleClient, shop: Shop) -> None:
    async with operator.http.stream("GET", "/events", timeout=30) as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        await _next_event(lines, "orders-changed")  # the stream is open: anything after this is delivered
        order_id = await shop.place(an_order())
        toast = await _next_event(lines, "new-order")
    assert f"New order {order_id}" in toast
    assert "29.80 EUR" in toast


async def _email(shop: Shop, subject: str) -> EmailMessage:
    """The email with this subject, once it has arrived."""
    deadline = asyncio.get_running_loop().time() + 30
    while not shop.mailbox.with_subject(subject):
        assert asyncio.get_running_loop().time() < deadline, f"no email '{subject}'"
        await asyncio.sleep(0.05)
    return shop.mailbox.with_subject(subject)[0]


async def _next_event(lines: AsyncIterator[str], name: str) -> str:
    """The data of the next event called `name` on the stream."""

    async def read() -> str:
        event = None
        async for line in lines:
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:") and event == name:
                return line.removeprefix("data:").strip()
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(read(), 30)


# Each button's command, pressed when the order cannot take it: the order's own reason shows in the page.
REFUSALS = [
    ("pay", "manual", {}, "payment is only awaited for bank transfer and invoice orders"),
    ("pack", "manual", {}, "packing can be confirmed only while it is packing"),
    ("ship", "manual", {"carrier": "DHL", "tracking": "JJD1"}, "it can be shipped only once packing is confirmed"),
    ("deliver", "manual", {}, "carrier events are taken while it is shipped"),
    ("feedback", "manual", {"rating": "5"}, "feedback is taken once it is completed"),
    ("refund-paid-out", "manual", {}, "no refund of this order is waiting for a payout by hand"),
    ("pick", "awaiting", {}, "the order is in auto mode; the warehouse system confirms this step itself"),
    (
        "refund",
        "awaiting",
        {"reason": "x", "confirm": "yes", "quantity:MUG-ENAMEL": "2", "left:MUG-ENAMEL": "2"},
        "nothing has been paid for the order yet",
    ),
    ("cancel", "completed", {"reason": "too late"}, "it has shipped, so refund it instead of cancelling"),
    ("complete", "completed", {}, "only an order in fulfilment can be completed by hand"),
]


@pytest.mark.database(SQLITE)  # the same on PostgreSQL: the refusal is the workflow's
@pytest.mark.parametrize(("action", "order", "fields", "reason"), REFUSALS, ids=[refusal[0] for refusal in REFUSALS])
async def test_every_command_refused_by_the_order_shows_its_reason_in_the_page(
    operator: ConsoleClient, shop: Shop, action: str, order: str, fields: dict[str, str], reason: str
) -> None:
    if order == "awaiting":
        order_id = await shop.place(an_order(method="bank_transfer"))
        await shop.wait_for(order_id, OrderStatus.AWAITING_PAYMENT)
    else:
        order_id = await shop.place(an_order(), FulfilmentMode.MANUAL)
        await shop.wait_for(order_id, OrderStatus.PICKING)
        if order == "completed":
            await press(operator, order_id, "complete")
            await shop.wait_for(order_id, OrderStatus.COMPLETED)
    before = await shop.status(order_id)
    refused = await press(operator, order_id, action, fields)
    assert refused.status_code == 409
    assert 'class="refused"' in refused.text
    assert reason in refused.text.replace("&#39;", "'")
    after = await shop.status(order_id)
    # A refused Update leaves no trace: nothing in the operator's name, nothing rejected. (The order's own steps,
    # such as its confirmation email, may still add entries meanwhile.)
    assert after.status is before.status
    assert [entry for entry in after.timeline if entry.by == OPERATOR] == [
        entry for entry in before.timeline if entry.by == OPERATOR
    ]
    assert not any(entry.rejected for entry in after.timeline)
