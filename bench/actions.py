"""Count the Temporal Cloud Actions, events and workflow tasks in stored workflow histories, per order's status path.

Run with `python -m bench.actions [HISTORY.json ...]` (default: every file in tests/histories). A history is
Temporal's JSON format, `{"events": [{"eventType": ..., "<kind>EventAttributes": {...}}, ...]}`, as written by
`WorkflowHistory.to_json()`, `temporal workflow show --output json` or Temporal UI's download; the event type may be
spelled `EVENT_TYPE_ACTIVITY_TASK_SCHEDULED`, `ACTIVITY_TASK_SCHEDULED`, `ActivityTaskScheduled` or its number.

What counts follows https://docs.temporal.io/cloud/actions (source: temporalio/documentation,
docs/evaluate/cloud/actions.mdx), one rule per history event type:

- workflow started (`WORKFLOW_EXECUTION_STARTED`): 1; a start by a Schedule (`TemporalScheduledById` set) 2 more;
- activity scheduled: 1, and each retry 1 more (`ACTIVITY_TASK_STARTED.attempt` - 1);
- timer started: 1 (including the implicit timer of a `wait_condition` with a timeout);
- signal received (`WORKFLOW_EXECUTION_SIGNALED`): 1, whether a client or a workflow sent it. The sender's
  `SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED` counts 0: the docs bill that signal once, in the signalled history;
- update accepted: 1 (a rejected update is billed too but never written to a history);
- child workflow: the docs bill 2 per `START_CHILD_WORKFLOW_EXECUTION_INITIATED`, the intent and the start. The
  start is the child's own `WORKFLOW_EXECUTION_STARTED`, counted in the child's history, so the parent's event
  counts 1 here and a status path summed with its children gets the documented 2;
- search attribute upsert: 1 per `UPSERT_WORKFLOW_SEARCH_ATTRIBUTES` (attributes given at start are free);
- markers (local activities, side effects): 1 per workflow task that records any, plus the local activity retries
  of `WorkflowTaskCompleted.meteringMetadata.nonfirstLocalActivityExecutionAttempts`;
- other: workflow options updated, workflow reset (`WORKFLOW_TASK_FAILED` with cause reset), Nexus operation
  scheduled or cancel requested: 1 each. Continue-as-new counts as the next run's start, not here.

Not in any history, so not counted: queries (every `oms order status` is one), activity heartbeats that reach the
server, rejected updates, workflow task heartbeats, and history export. Workflow tasks (`WORKFLOW_TASK_STARTED`) are
not billed; they are what a worker's CPU is spent on, so they are counted beside the actions.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "histories"

DEFINITION = (
    "actions = workflow starts + activity attempts (scheduled + retries) + timers started + signals received "
    "+ updates accepted + child starts initiated + search-attribute upserts + marker batches + other; queries, "
    "heartbeats and rejected updates are not in histories and not counted (https://docs.temporal.io/cloud/actions)"
)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_RESET_CAUSE = "WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW"
# Billed 1 each and rare in this project: grouped in one column.
_OTHER_ACTIONS = frozenset(
    {
        "WORKFLOW_EXECUTION_OPTIONS_UPDATED",
        "NEXUS_OPERATION_SCHEDULED",
        "NEXUS_OPERATION_CANCEL_REQUESTED",
    }
)


@dataclass
class Count:
    """What one history (or several, summed) holds: events, workflow tasks and billable actions by kind."""

    events: int = 0
    workflow_tasks: int = 0
    starts: int = 0
    activities: int = 0
    activity_retries: int = 0
    timers: int = 0
    signals: int = 0
    updates: int = 0
    child_workflows: int = 0
    upserts: int = 0
    markers: int = 0
    other: int = 0

    @property
    def actions(self) -> int:
        """Billable Temporal Cloud actions that the history shows."""
        return (
            self.starts
            + self.activities
            + self.activity_retries
            + self.timers
            + self.signals
            + self.updates
            + self.child_workflows
            + self.upserts
            + self.markers
            + self.other
        )

    def __add__(self, other: Count) -> Count:
        return Count(**{field.name: getattr(self, field.name) + getattr(other, field.name) for field in fields(self)})


def event_type(event: Mapping[str, Any]) -> str:
    """The event's type as `ACTIVITY_TASK_SCHEDULED`, whichever of Temporal's JSON spellings the file uses."""
    raw = event.get("eventType", event.get("event_type"))
    if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
        raw = EventType.Name(EventType.ValueType(int(raw)))
    if not isinstance(raw, str) or not raw:
        raise ValueError(f"event {event.get('eventId', '?')} has no event type")
    if "_" not in raw and not raw.isupper():
        raw = _CAMEL_BOUNDARY.sub("_", raw).upper()
    return raw.upper().removeprefix("EVENT_TYPE_")


def attributes(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event's `...EventAttributes` object (camelCase or snake_case JSON), empty if it has none."""
    for key, value in event.items():
        if isinstance(value, dict) and (key.endswith("EventAttributes") or key.endswith("_event_attributes")):
            return value
    return {}


def _field(attrs: Mapping[str, Any], camel: str) -> Any:
    """A field in camelCase JSON, or in the snake_case spelling of the same name."""
    if camel in attrs:
        return attrs[camel]
    return attrs.get(_CAMEL_BOUNDARY.sub("_", camel).lower())


def _as_int(value: Any) -> int:
    """A protobuf JSON number, which int64 fields write as strings."""
    return int(value) if value not in (None, "") else 0


def _scheduled_by_schedule(started: Mapping[str, Any]) -> bool:
    search = _field(started, "searchAttributes") or {}
    indexed = _field(search, "indexedFields") or {}
    return "TemporalScheduledById" in indexed


def count(events: Sequence[Mapping[str, Any]]) -> Count:
    """Count one workflow execution's history, event by event, by the rules in this module's docstring."""
    total = Count(events=len(events))
    markers_in_task = False
    for index, event in enumerate(events):
        kind = event_type(event)
        attrs = attributes(event)
        if kind == "WORKFLOW_EXECUTION_STARTED":
            total.starts += 3 if _scheduled_by_schedule(attrs) else 1
        elif kind == "WORKFLOW_TASK_STARTED":
            total.workflow_tasks += 1
        elif kind == "WORKFLOW_TASK_COMPLETED":
            # Markers are recorded by the commands of the task this event completes; they follow it in history.
            markers_in_task = False
            metering = _field(attrs, "meteringMetadata") or {}
            total.markers += _as_int(_field(metering, "nonfirstLocalActivityExecutionAttempts"))
        elif kind == "MARKER_RECORDED":
            if not markers_in_task:
                total.markers += 1
                markers_in_task = True
        elif kind == "ACTIVITY_TASK_SCHEDULED":
            total.activities += 1
        elif kind == "ACTIVITY_TASK_STARTED":
            total.activity_retries += max(_as_int(_field(attrs, "attempt")) - 1, 0)
        elif kind == "TIMER_STARTED":
            total.timers += 1
        elif kind == "WORKFLOW_EXECUTION_SIGNALED":
            # Signal-with-start writes the signal right after the start, before the first workflow task is
            # scheduled; the docs bill the pair as one action, already counted as the start.
            with_start = index == 1 and event_type(events[0]) == "WORKFLOW_EXECUTION_STARTED"
            total.signals += 0 if with_start else 1
        elif kind == "WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
            total.updates += 1
        elif kind == "START_CHILD_WORKFLOW_EXECUTION_INITIATED":
            total.child_workflows += 1
        elif kind == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            total.upserts += 1
        elif kind in _OTHER_ACTIONS or (kind == "WORKFLOW_TASK_FAILED" and _field(attrs, "cause") == _RESET_CAUSE):
            total.other += 1
    return total


def load(path: Path) -> list[dict[str, Any]]:
    """The events of a history file."""
    document = json.loads(path.read_text())
    events = document.get("events") if isinstance(document, dict) else document
    if not isinstance(events, list):
        raise ValueError(f"{path}: no list of events")
    return events


def status_path(path: Path) -> str:
    """The order a history belongs to: `refunded_order.refund-2.json` is part of `refunded_order`."""
    return path.name.split(".", 1)[0]


def final_status(events: Iterable[Mapping[str, Any]]) -> str | None:
    """The last `OrderStatus` search attribute the history sets, e.g. `completed`; None for other workflows."""
    status: str | None = None
    for event in events:
        if event_type(event) not in ("WORKFLOW_EXECUTION_STARTED", "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"):
            continue
        indexed = _field(_field(attributes(event), "searchAttributes") or {}, "indexedFields") or {}
        payload = indexed.get("OrderStatus")
        if isinstance(payload, dict) and payload.get("data"):
            value = json.loads(base64.b64decode(payload["data"]))
            status = value if isinstance(value, str) else status
    return status


COLUMNS = (
    ("events", "events"),
    ("WF tasks", "workflow_tasks"),
    ("starts", "starts"),
    ("activities", "activities"),
    ("retries", "activity_retries"),
    ("timers", "timers"),
    ("signals", "signals"),
    ("updates", "updates"),
    ("children", "child_workflows"),
    ("upserts", "upserts"),
    ("markers", "markers"),
    ("other", "other"),
)


def table(title: str, rows: Sequence[tuple[str, Count]]) -> str:
    """A plain-text table: one row per history or path, every column of `Count`, and the actions."""
    width = max([len(title), *(len(name) for name, _ in rows)])
    header = f"{title:<{width}} " + " ".join(f"{label:>{max(len(label), 6)}}" for label, _ in COLUMNS) + "  actions"
    lines = [header, "-" * len(header)]
    for name, counted in rows:
        cells = " ".join(f"{getattr(counted, attr):>{max(len(label), 6)}}" for label, attr in COLUMNS)
        lines.append(f"{name:<{width}} {cells}  {counted.actions:>7}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("histories", nargs="*", type=Path, help=f"history JSON files (default: {HISTORIES}/*.json)")
    arguments = parser.parse_args(argv)
    paths: list[Path] = arguments.histories or sorted(HISTORIES.glob("*.json"))
    if not paths:
        print(f"no histories in {HISTORIES}", file=sys.stderr)
        return 1

    per_history: list[tuple[str, Count]] = []
    per_path: dict[str, Count] = {}
    statuses: dict[str, str] = {}
    for path in paths:
        events = load(path)
        counted = count(events)
        per_history.append((path.stem, counted))
        name = status_path(path)
        per_path[name] = per_path.get(name, Count()) + counted
        if path.stem == name and (status := final_status(events)) is not None:
            statuses[name] = status

    print(DEFINITION)
    print()
    print(table("history", per_history))
    print()
    paths_rows = [(f"{name} ({statuses[name]})" if name in statuses else name, c) for name, c in per_path.items()]
    print(table("status path (order + its refunds)", paths_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
