"""How workflows call activities: retry policies and timeouts per kind of external system, in one place."""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import api

RequestT = TypeVar("RequestT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)

# A business failure is a typed ApplicationError and never retried.
GATEWAY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[api.ErrorType.PAYMENT_DECLINED],
)
# A refund has days, not seconds: a gateway that is down is asked again at most hourly, for as long as it takes.
REFUND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
    non_retryable_error_types=[api.ErrorType.REFUND_REJECTED],
)
DATABASE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=[api.ErrorType.UNKNOWN_SKU],
)
MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=10)
)
# A killed worker's activity is retried only when its timeout runs out, so timeouts stay close to what the work
# needs: milliseconds for the database, a few SMTP round trips for an email.
DATABASE_TIMEOUT = timedelta(seconds=10)
EMAIL_TIMEOUT = timedelta(seconds=20)
GATEWAY_TIMEOUT = timedelta(seconds=30)


async def call(
    definition: api.ActivityDef[RequestT, ResultT],
    request: RequestT,
    *,
    summary: str,
    timeout: timedelta = DATABASE_TIMEOUT,
    retry: RetryPolicy = DATABASE_RETRY,
    heartbeat: timedelta | None = None,
    task_queue: str | None = None,
) -> ResultT:
    """Run one activity and return its result, typed as its declaration says.

    Cancelling the caller does not wait for the activity to stop (waiting can lose the cancellation when the activity
    completes anyway), so a step being stopped may still finish in the background. Every step is safe against that:
    the database decides whether stock is released or restocked, a cancelled warehouse task is never marked done, and
    commands that race a capture are refused until the capture is settled.
    """
    result: ResultT = await workflow.execute_activity(
        definition.name,
        request,
        result_type=definition.result,
        start_to_close_timeout=timeout,
        heartbeat_timeout=heartbeat,
        retry_policy=retry,
        task_queue=task_queue,
        summary=summary,
    )
    return result


async def call_local(
    definition: api.ActivityDef[RequestT, ResultT],
    request: RequestT,
    *,
    summary: str,
    timeout: timedelta = DATABASE_TIMEOUT,
    retry: RetryPolicy = DATABASE_RETRY,
) -> ResultT:
    """Run one activity as a local activity: in the worker that runs the workflow task, recorded as one marker.

    For steps that only talk to the OMS database: no round trip through the server's task queue, and a chain of
    them shares one workflow task.
    """
    result: ResultT = await workflow.execute_local_activity(
        definition.name,
        request,
        result_type=definition.result,
        start_to_close_timeout=timeout,
        retry_policy=retry,
        summary=summary,
    )
    return result


def start(
    definition: api.ActivityDef[RequestT, ResultT],
    request: RequestT,
    *,
    summary: str,
    timeout: timedelta,
    retry: RetryPolicy,
) -> workflow.ActivityHandle[ResultT]:
    """Start one activity and go on; the handle is awaited (or watched) for its result."""
    handle: workflow.ActivityHandle[ResultT] = workflow.start_activity(
        definition.name,
        request,
        result_type=definition.result,
        start_to_close_timeout=timeout,
        retry_policy=retry,
        summary=summary,
    )
    return handle


def error_type(error: ActivityError) -> str | None:
    """The business error type behind an activity failure, if it was one."""
    cause = error.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def error_message(error: ActivityError) -> str:
    """The activity's own message for its failure."""
    cause = error.cause
    return cause.message if isinstance(cause, ApplicationError) else str(error)
