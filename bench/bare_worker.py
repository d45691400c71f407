"""The bench's yardstick: a bare Temporal workflow of eight no-op activities, and a worker process serving only it.

`bench.throughput` runs it as `python -m bench.bare_worker ADDRESS NAMESPACE TASK_QUEUE ...` beside `oms worker`,
so both pay the same process costs. It imports the Temporal SDK and nothing of the orchestrator: its start-up is
what any Python worker pays, and its workflow is what the engine allows for eight steps.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

# The yardstick of the throughput goal (issue 12): an order should cost no more than a bare workflow of 8 steps.
STEPS = 8
STEP_TIMEOUT = timedelta(seconds=10)


@activity.defn
async def no_op(step: int) -> int:
    """Does nothing: what is left is the engine's cost of one activity."""
    return step


@workflow.defn
class BareWorkflow:
    """Eight no-op activities, one after the other, as an order's steps are."""

    @workflow.run
    async def run(self) -> int:
        """The steps done."""
        for step in range(STEPS):
            await workflow.execute_activity(no_op, step, start_to_close_timeout=STEP_TIMEOUT)
        return STEPS


@workflow.defn
class WaitingBareWorkflow:
    """Half the steps, then a wait for a Signal, as a manual order waits in picking: the memory yardstick, what the
    SDK holds in its cache for a workflow that does nothing of its own."""

    def __init__(self) -> None:
        self._released = False

    @workflow.run
    async def run(self) -> int:
        """The steps done once released."""
        for step in range(STEPS // 2):
            await workflow.execute_activity(no_op, step, start_to_close_timeout=STEP_TIMEOUT)
        await workflow.wait_condition(lambda: self._released)
        return STEPS // 2

    @workflow.signal
    def release(self) -> None:
        """Let the workflow finish."""
        self._released = True


async def serve(
    address: str, namespace: str, task_queue: str, max_concurrent_activities: int, graceful_shutdown: timedelta
) -> None:
    """Run the bare workflow's worker until SIGTERM or SIGINT, then drain as `oms worker` does."""
    client = await Client.connect(address, namespace=namespace)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWorkflow, WaitingBareWorkflow],
        activities=[no_op],
        max_concurrent_activities=max_concurrent_activities,
        graceful_shutdown_timeout=graceful_shutdown,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    async with worker:
        await stop.wait()


def main() -> None:
    """Entry point of `python -m bench.bare_worker`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("address", help="Temporal frontend host:port")
    parser.add_argument("namespace", help="Temporal namespace")
    parser.add_argument("task_queue", help="task queue to poll")
    parser.add_argument("--max-concurrent-activities", type=int, required=True, help="as the order worker's")
    parser.add_argument("--graceful-shutdown-seconds", type=float, required=True, help="as the order worker's")
    arguments = parser.parse_args()
    asyncio.run(
        serve(
            arguments.address,
            arguments.namespace,
            arguments.task_queue,
            arguments.max_concurrent_activities,
            timedelta(seconds=arguments.graceful_shutdown_seconds),
        )
    )
    # As worker.exit_now, without importing the orchestrator: the SDK's runtime threads can abort a finalizing
    # interpreter.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
