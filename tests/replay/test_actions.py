"""`bench.actions` counts Temporal Cloud actions as the docs define them, on a hand-made and on a recorded history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.actions import Count, count, event_type, load, main, status_path

HISTORIES = Path(__file__).parent.parent / "histories"


def workflow_task(first_id: int, spelling: str = "EVENT_TYPE_WORKFLOW_TASK_{}") -> list[dict[str, Any]]:
    return [
        {"eventId": str(first_id + offset), "eventType": spelling.format(step)}
        for offset, step in enumerate(("SCHEDULED", "STARTED", "COMPLETED"))
    ]


def test_a_hand_made_history_gives_the_hand_counted_actions() -> None:
    events: list[dict[str, Any]] = [
        {
            "eventId": "1",
            "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
            "workflowExecutionStartedEventAttributes": {},
        },
        *workflow_task(2),
        {"eventId": "5", "eventType": "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"},
        {"eventId": "6", "eventType": "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"},
        # The third attempt succeeded: the first attempt and two retries.
        {
            "eventId": "7",
            "eventType": "EVENT_TYPE_ACTIVITY_TASK_STARTED",
            "activityTaskStartedEventAttributes": {"attempt": 3},
        },
        {"eventId": "8", "eventType": "EVENT_TYPE_ACTIVITY_TASK_COMPLETED"},
        *workflow_task(9),
        # Two markers of one workflow task are one action.
        {"eventId": "12", "eventType": "EVENT_TYPE_MARKER_RECORDED"},
        {"eventId": "13", "eventType": "EVENT_TYPE_MARKER_RECORDED"},
        {"eventId": "14", "eventType": "EVENT_TYPE_TIMER_STARTED"},
        {"eventId": "15", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"},
        *workflow_task(16),
        {"eventId": "19", "eventType": "EVENT_TYPE_TIMER_CANCELED"},
        {"eventId": "20", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"},
        {"eventId": "21", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED"},
        {"eventId": "22", "eventType": "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED"},
        # Billed once, in the history of the workflow that receives it, not here.
        {"eventId": "23", "eventType": "EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED"},
        {"eventId": "24", "eventType": "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED"},
        *workflow_task(25),
        {"eventId": "28", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"},
    ]

    counted = count(events)

    # start 1 + upsert 1 + activity 1 + retries 2 + markers 1 + timer 1 + signal 1 + update 1 + child 1 = 10
    assert counted.actions == 10
    assert counted == Count(
        events=28,
        workflow_tasks=4,
        starts=1,
        activities=1,
        activity_retries=2,
        timers=1,
        signals=1,
        updates=1,
        child_workflows=1,
        upserts=1,
        markers=1,
    )


def test_every_spelling_of_an_event_type_is_understood() -> None:
    assert {
        event_type({"eventType": spelling})
        for spelling in ("EVENT_TYPE_ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_SCHEDULED", "ActivityTaskScheduled", 10)
    } == {"ACTIVITY_TASK_SCHEDULED"}


def test_signal_with_start_is_one_action_and_a_schedule_start_three() -> None:
    scheduled = {"searchAttributes": {"indexedFields": {"TemporalScheduledById": {"data": "InNjaGVkdWxlIg=="}}}}
    signal_with_start: list[dict[str, Any]] = [
        {"eventType": "WorkflowExecutionStarted", "workflowExecutionStartedEventAttributes": {}},
        {"eventType": "WorkflowExecutionSignaled"},
        *workflow_task(3, "WorkflowTask{}"),
    ]
    by_schedule: list[dict[str, Any]] = [
        {"eventType": "WorkflowExecutionStarted", "workflowExecutionStartedEventAttributes": scheduled}
    ]

    assert count(signal_with_start).actions == 1
    assert count(by_schedule).actions == 3


def test_an_auto_card_order_costs_15_actions_in_56_events() -> None:
    counted = count(load(HISTORIES / "auto_card_order.json"))

    # Counted by hand from the file's 56 events (listing eventType and activityType.name of each):
    #   1 WORKFLOW_EXECUTION_STARTED
    # + 5 ACTIVITY_TASK_SCHEDULED, each at attempt 1: capture_order_payment, perform_order_task x2 (pick, pack),
    #   ship_order, track_order (transit 0 s: the first look finds the parcel delivered and completes the order)
    # + 4 UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, before each wait: picking, packing, shipped, completed
    # + 3 TIMER_STARTED: survey delay, feedback window, the rest of the refund window
    # + 2 workflow tasks with markers: reserve_order_stock (a local activity after the capture), store_order (the
    #   survey's email)
    # = 15 (issue 12: at most 15, and at most 60 events). 9 workflow tasks are not billed.
    assert counted.actions == 15
    assert (counted.starts, counted.activities, counted.activity_retries, counted.upserts, counted.timers) == (
        1,
        5,
        0,
        4,
        3,
    )
    assert counted.markers == 2
    assert (counted.events, counted.workflow_tasks) == (56, 9)


def test_the_first_workflows_auto_card_order_cost_29_actions() -> None:
    counted = count(load(HISTORIES / "v1" / "auto_card_order.json"))

    # Counted by hand from the file's 135 events (listing eventType and activityType.name of each):
    #   1 WORKFLOW_EXECUTION_STARTED
    # + 18 ACTIVITY_TASK_SCHEDULED, every ACTIVITY_TASK_STARTED at attempt 1 (no retries): project_order x7,
    #   capture_payment, send_email x4 (confirmation, shipped, completed, survey), reserve_stock,
    #   perform_warehouse_task x2 (pick, pack), create_shipment, ship_stock, track_shipment x1 (transit 0 s)
    # + 7 UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, one per status: received, paid, picking, packing, shipped, delivered,
    #   completed
    # + 3 TIMER_STARTED: survey delay, feedback window, the rest of the refund window
    # = 29; no signals, updates, children or markers. 22 workflow tasks are not billed.
    assert counted.actions == 29
    assert (counted.starts, counted.activities, counted.activity_retries, counted.upserts, counted.timers) == (
        1,
        18,
        0,
        7,
        3,
    )
    assert (counted.events, counted.workflow_tasks) == (135, 22)


def test_a_refund_history_belongs_to_its_order() -> None:
    assert status_path(Path("refunded_order.refund-2.json")) == "refunded_order"
    assert status_path(Path("refunded_order.json")) == "refunded_order"


def test_the_script_prints_a_row_per_history_and_per_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    order = tmp_path / "an_order.json"
    refund = tmp_path / "an_order.refund-1.json"
    order.write_text(json.dumps({"events": [{"eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}]}))
    refund.write_text(json.dumps({"events": [{"eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}]}))

    assert main([str(order), str(refund)]) == 0

    out = capsys.readouterr().out
    assert "actions = workflow starts" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("an_order")]
    assert [(row[0], row[-1]) for row in rows] == [("an_order", "1"), ("an_order.refund-1", "1"), ("an_order", "2")]
