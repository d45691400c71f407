"""Every stored order history still replays on today's workflow code: a change that breaks one needs a patch."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain.calendar import prepare_holidays
from starter.codec import KeyRing, data_converter, new_key
from workflows import sandbox
from workflows.daily_report import DailyReportWorkflow
from workflows.new_order_digest import NewOrderDigestWorkflow
from workflows.order import OrderWorkflow
from workflows.order_v1 import OrderWorkflowV1
from workflows.refund import RefundWorkflow

STORED = Path(__file__).parent.parent / "histories"
# The first order workflow's histories (type OrderWorkflow) keep replaying while its orders drain.
HISTORIES = sorted([*STORED.glob("*.json"), *STORED.glob("v1/*.json"), *STORED.glob("send_email/*.json")])


def test_histories_of_the_main_paths_are_stored() -> None:
    names = {path.stem for path in STORED.glob("*.json")}
    assert {
        "auto_card_order",
        "manual_order",
        "refunded_order",
        "refunded_order.refund-1",
        "cancelled_order",
        "bank_transfer_refund.refund-1",
        "daily_report",
        "new_order_digest",
        "backordered_order",
        "warehouse_closed_order",
        "payout_reminded_refund.refund-1",
        "quiet_tracking_order",
        "lost_parcel_order",
        "rejected_signals_order",
        "gateway_outage_refund",
        "gateway_outage_refund.refund-1",
        "unpaid_invoice_order",
        "completed_by_hand_order",
        "cash_on_delivery_order",
        "refunded_by_update_order",
        "refunded_by_update_order.refund-1",
    } <= names


@pytest.fixture(autouse=True, scope="module")
def holiday_tables() -> None:
    """What a worker prepares for its workflows before they look a holiday up (they cannot build the tables)."""
    prepare_holidays()


def test_refunds_that_sent_their_emails_themselves_keep_their_histories() -> None:
    # Refunds begun before their emails went through the outbox still run `send_email`, and replay that way.
    assert {path.stem for path in STORED.glob("send_email/*.json")} >= {
        "refunded_order.refund-1",
        "cancelled_order.refund-1",
        "bank_transfer_refund.refund-1",
    }


@pytest.mark.parametrize("path", sorted(STORED.glob("*.refund*.json")), ids=lambda path: path.stem)
def test_refunds_recorded_now_queue_their_emails_for_the_relay(path: Path) -> None:
    events = json.loads(path.read_text())["events"]
    activities = [
        event["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for event in events
        if "activityTaskScheduledEventAttributes" in event
    ]
    local_activities = [
        json.loads(base64.b64decode(payload["data"]))["activity_type"]
        for event in events
        if event.get("markerRecordedEventAttributes", {}).get("markerName") == "core_local_activity"
        for payload in event["markerRecordedEventAttributes"]["details"]["data"]["payloads"]
    ]
    assert "send_email" not in activities
    assert "queue_email" in local_activities


def test_the_first_workflows_histories_are_kept_while_its_orders_drain() -> None:
    assert {path.stem for path in STORED.glob("v1/*.json")} >= {"auto_card_order", "manual_order", "refunded_order"}


@pytest.mark.parametrize("path", HISTORIES, ids=[str(path.relative_to(STORED)) for path in HISTORIES])
async def test_stored_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(
        workflows=[OrderWorkflow, OrderWorkflowV1, RefundWorkflow, DailyReportWorkflow, NewOrderDigestWorkflow],
        # A worker's converter with payload keys: histories recorded before encryption hold plain payloads.
        data_converter=data_converter(KeyRing.parse(new_key("k1"))),
        workflow_runner=sandbox.RUNNER,
    )

    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)

    assert result.replay_failure is None
