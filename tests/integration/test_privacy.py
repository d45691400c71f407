"""On `oms up`, a card order's history holds no card number and no customer data in clear, yet the operator and an
engineer with the codec server read it all."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
import stat
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.commands import CommandAccepted
from domain.order import PaymentDetails, PaymentMethod
from domain.refund import Refund
from domain.status import OrderStatus
from domain.view import OrderView
from settings import Settings
from starter.codec import KEY_FILE, KeyRing
from tests.conftest import TEMPORAL_CLI
from tests.integration.conftest import Shop
from tests.integration.test_embedded_stack import EXAMPLE, oms, stack, stack_env
from tests.sample_orders import CARD_DECLINES, an_order
from worker import connect
from workflows.order import STATUS_QUERY, workflow_id

__all__ = ["stack", "stack_env"]

_BASE64 = re.compile(r"[A-Za-z0-9+/]{8,}={0,2}")


def personal_data() -> dict[str, str]:
    """What the example order carries that must never be readable in Temporal: who, where, and how they pay."""
    order = json.loads(EXAMPLE.read_text())
    return {
        "customer name": order["customer"]["name"],
        "customer email": order["customer"]["email"],
        "street": order["shipping_address"]["line1"],
        "card number": "4242424242424242",
        "card number as printed": "4242 4242 4242 4242",
    }


def readable_texts(value: Any) -> Iterator[bytes]:
    """Every string in exported history JSON, and what it decodes to where it is base64 (payload data, metadata)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from readable_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from readable_texts(item)
    elif isinstance(value, str):
        yield value.encode()
        if _BASE64.fullmatch(value) and len(value) % 4 == 0:
            with contextlib.suppress(binascii.Error):
                yield base64.b64decode(value, validate=True)


def found_in(texts: list[bytes], wanted: dict[str, str]) -> list[str]:
    """Which of `wanted` appear in any of `texts`."""
    return [what for what, text in wanted.items() if any(text.encode() in blob for blob in texts)]


def exported_history(env: dict[str, str], workflow: str, *codec: str) -> Any:
    """`temporal workflow show --output json`, as an engineer exports a history."""
    result = subprocess.run(
        [
            *(str(TEMPORAL_CLI), "workflow", "show", "--output", "json"),
            *("--address", env["OMS_TEMPORAL_ADDRESS"], "--workflow-id", workflow, *codec),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def wait_until(settings: Settings, order_id: str, done: Any) -> OrderView:
    """Query the order (decrypted with the stack's key) until `done(view)`."""
    client = await connect(settings)
    handle = client.get_workflow_handle(workflow_id(order_id))
    while True:
        view: OrderView = await handle.query(STATUS_QUERY, result_type=OrderView)
        if done(view):
            return view
        await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_a_refunded_card_orders_history_and_temporal_database_hold_no_personal_data_in_clear(
    stack: subprocess.Popen[str], stack_env: dict[str, str]
) -> None:
    settings = Settings(var_dir=Path(stack_env["OMS_VAR_DIR"]), temporal_address=stack_env["OMS_TEMPORAL_ADDRESS"])
    order_id = json.loads(oms(stack_env, "order", "place", str(EXAMPLE), "--json"))["id"]
    await wait_until(settings, order_id, lambda view: view.status is OrderStatus.COMPLETED)
    oms(stack_env, "order", "refund", order_id, "--reason", "one mug arrived chipped", "--line", "MUG-ENAMEL:1")
    view = await wait_until(
        settings,
        order_id,
        lambda view: view.status is OrderStatus.COMPLETED and view.refunds and view.refunds[-1].finished_at,
    )
    secrets = personal_data()
    # The key `oms up` made on this fresh state, readable by its owner only.
    keys = Path(stack_env["OMS_VAR_DIR"]) / KEY_FILE
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert KeyRing.parse(keys.read_text()).active == "k1"

    workflows = [workflow_id(order_id), *(refund.refund_id for refund in view.refunds)]
    texts = [text for workflow in workflows for text in readable_texts(exported_history(stack_env, workflow))]
    assert found_in(texts, secrets) == []
    var = Path(stack_env["OMS_VAR_DIR"])
    database = [path.read_bytes() for path in var.glob("temporal.db*")]
    # The scan reads the histories themselves: the order's id is stored in clear beside its encrypted payloads.
    assert any(workflow_id(order_id).encode() in blob for blob in database)
    assert found_in(database, secrets) == []

    # The codec server the stack runs gives an engineer the history in clear.
    codec = ["--codec-endpoint", f"http://127.0.0.1:{stack_env['OMS_CODEC_PORT']}"]
    decoded = list(readable_texts(exported_history(stack_env, workflow_id(order_id), *codec)))
    assert found_in(decoded, secrets) == ["customer name", "customer email", "street"]
    # And the operator reads the order as ever.
    status = oms(stack_env, "order", "status", order_id)
    assert all(secrets[what] in status for what in ("customer name", "customer email", "street"))


@pytest.mark.slow
def test_oms_up_points_temporal_ui_at_its_codec_server_and_lets_only_the_ui_call_it(
    stack: subprocess.Popen[str], stack_env: dict[str, str]
) -> None:
    ui = f"http://127.0.0.1:{stack_env['OMS_TEMPORAL_UI_PORT']}"
    codec = f"http://127.0.0.1:{stack_env['OMS_CODEC_PORT']}"
    with urllib.request.urlopen(f"{ui}/api/v1/settings") as answer:
        assert json.load(answer)["Codec"]["Endpoint"] == codec

    # The browser's preflight for the UI's decode request, then the request itself.
    preflight = urllib.request.Request(
        f"{codec}/decode",
        method="OPTIONS",
        headers={
            "Origin": ui,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        },
    )
    with urllib.request.urlopen(preflight) as answer:
        assert answer.headers["Access-Control-Allow-Origin"] == ui
    plain = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(b'"hi"').decode(),
    }
    encode = urllib.request.Request(
        f"{codec}/encode", data=json.dumps({"payloads": [plain]}).encode(), headers={"Origin": ui}, method="POST"
    )
    with urllib.request.urlopen(encode) as answer:
        assert answer.headers["Access-Control-Allow-Origin"] == ui
        sealed = json.load(answer)
    decode = urllib.request.Request(
        f"{codec}/decode", data=json.dumps(sealed).encode(), headers={"Origin": ui, "X-Namespace": "default"}
    )
    with urllib.request.urlopen(decode) as answer:
        assert json.load(answer) == {"payloads": [plain]}

    elsewhere = urllib.request.Request(
        f"{codec}/decode",
        method="OPTIONS",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(elsewhere)
    assert refused.value.code == 400


async def test_the_workflow_list_shows_an_orders_summary_and_details_without_customer_data(shop: Shop) -> None:
    order = an_order(email="grace.hopper@example.com")
    order_id = await shop.place(order)
    await shop.wait_for(order_id, OrderStatus.COMPLETED)

    description = await shop.handle(order_id).describe()
    summary, details = await description.static_summary(), await description.static_details()
    metadata = await shop.handle(order_id).query("__temporal_workflow_metadata")
    shown = [summary or "", details or "", str(metadata), str(description.typed_search_attributes)]

    assert summary == f"web order {order.external_id}: {order.total.format()}, card"
    customer = (order.customer.name, order.customer.email, order.shipping_address.line1, order.shipping_address.city)
    assert [text for text in customer if any(text in place for place in shown)] == []


async def test_a_failure_message_is_encrypted_in_history_and_the_order_still_says_why(shop: Shop) -> None:
    order_id = await shop.place(an_order(card=CARD_DECLINES))
    view = await shop.wait_for(order_id, OrderStatus.PAYMENT_FAILED)

    history = await shop.handle(order_id).fetch_history()
    failures = [
        event.activity_task_failed_event_attributes.failure
        for event in history.events
        if event.HasField("activity_task_failed_event_attributes")
    ]
    assert failures
    assert all(failure.message == "Encoded failure" and not failure.stack_trace for failure in failures)
    assert all(failure.HasField("encoded_attributes") for failure in failures)
    assert any("card_declined" in (entry.detail or "") for entry in view.timeline)


async def test_an_order_placed_before_tokens_with_a_card_number_still_finishes_and_refunds(shop: Shop) -> None:
    # As an earlier version started it: the card number in the workflow's input (intake refuses this today).
    legacy = PaymentDetails(method=PaymentMethod.CARD, card_number="4242424242424242")
    order_id = await shop.place(an_order().model_copy(update={"payment": legacy}))
    await shop.wait_for(order_id, OrderStatus.COMPLETED)

    await shop.handle(order_id).execute_update("refund", Refund(reason="legacy"), result_type=CommandAccepted)

    view = await shop.wait_for(order_id, OrderStatus.REFUNDED)
    assert view.payment.reference == "card ending 4242"
