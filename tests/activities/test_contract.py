"""The activity contract: every activity declared in `activities.api` runs on the worker once, as declared."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities import api
from settings import Settings
from worker import activity_handlers

# Every declaration the module holds, found rather than listed: a new one cannot be left out of these tests.
DECLARED: list[api.ActivityDef[Any, Any]] = [
    value for value in vars(api).values() if isinstance(value, api.ActivityDef)
]


@pytest.fixture
def on_the_worker(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> list[activity._Definition]:
    """What `build_worker` registers on the order task queue: each activity's name, argument and result types.

    Read the way the worker reads them (the SDK's own definition of a handler), so the types are the ones Temporal
    converts payloads with, not the ones mypy was told.
    """
    return [activity._Definition.must_from_callable(handler) for handler in activity_handlers(sessions, settings)]


def test_no_two_declared_activities_share_a_name() -> None:
    names = Counter(declared.name for declared in DECLARED)

    assert [name for name, times in names.items() if times > 1] == []


def test_every_declared_activity_runs_on_the_worker_exactly_once(on_the_worker: list[activity._Definition]) -> None:
    times = Counter(definition.name for definition in on_the_worker)

    assert {declared.name: times[declared.name] for declared in DECLARED} == {declared.name: 1 for declared in DECLARED}


def test_the_worker_runs_no_activity_the_contract_does_not_declare(on_the_worker: list[activity._Definition]) -> None:
    assert {definition.name for definition in on_the_worker} == {declared.name for declared in DECLARED}


@pytest.mark.parametrize("declared", DECLARED, ids=[declared.name for declared in DECLARED])
def test_each_activity_takes_the_declared_request_and_returns_the_declared_result(
    declared: api.ActivityDef[Any, Any], on_the_worker: list[activity._Definition]
) -> None:
    [implementation] = [definition for definition in on_the_worker if definition.name == declared.name]

    assert (implementation.arg_types, implementation.ret_type) == ([declared.request], declared.result)
