"""How fast the orchestrator fulfils orders: `oms run` at 1,000 orders with zero simulated durations, end to end.

Run with `make bench` (or `python -m bench.fulfilment_run [--orders N] [--concurrency C]`). It starts a private
stack on free ports in a temporary directory, as `oms up` would but without the demo orders: the Temporal dev
server from this virtualenv (SQLite file, our search attributes), an SMTP sink, a fresh OMS database with the demo
catalogue, and one `oms worker` process with OMS_PICK_SECONDS, OMS_PACK_SECONDS and OMS_CARRIER_TRANSIT_SECONDS at
0. Then it runs `oms run --orders N --json` against it and prints orders per second and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.machine import temporal_version
from settings import Settings
from starter.mail_sink import MailSink
from starter.stack import DevServer, StackPaths, temporal_cli
from store import migrate
from store.catalogue import seed_demo_catalogue
from store.db import create_engine, session_factory
from worker import exit_now

ORDERS = 1_000
CONCURRENCY = 20
SEED = 1
OMS = Path(sys.executable).parent / "oms"

# Generous: the run itself reports anything unfinished by then as a failure, and the bench exits 1.
RUN_TIMEOUT_SECONDS = 1_800
WORKER_READY_SECONDS = 60.0

# Colour codes in the Temporal SDK's log lines.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bench_environment(settings: Settings) -> dict[str, str]:
    """The environment of the worker and of `oms run`: the private stack, zero simulated durations."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
    env.update(
        OMS_TEMPORAL_ADDRESS=settings.temporal_address,
        OMS_TEMPORAL_UI_PORT=str(settings.temporal_ui_port),
        OMS_VAR_DIR=str(settings.var_dir),
        OMS_SMTP_PORT=str(settings.smtp_port),
        OMS_TASK_QUEUE=settings.task_queue,
        OMS_PICK_SECONDS="0",
        OMS_PACK_SECONDS="0",
        OMS_CARRIER_TRANSIT_SECONDS="0",
        # With no transit the first poll already finds the parcel delivered; a short interval covers a late scan.
        OMS_TRACKING_POLL_SECONDS="0.5",
        OMS_LOG_LEVEL="warning",
        OMS_DEMO_DATA="false",
    )
    return env


@asynccontextmanager
async def private_stack(var: Path) -> AsyncIterator[Settings]:
    """Dev server, SMTP sink, seeded OMS database and one `oms worker` with state in `var` (which exists)."""
    async with private_services(var) as (settings, client), oms_worker(settings) as worker:
        await wait_for_worker(client, settings, worker)
        yield settings


@asynccontextmanager
async def private_services(var: Path) -> AsyncIterator[tuple[Settings, Client]]:
    """What a worker needs, with state in `var` (which exists): the dev server as `oms up` starts it, an SMTP sink
    and a seeded OMS database; the settings that point at them and a client of the dev server."""
    settings = Settings(
        var_dir=var,
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
        smtp_port=free_port(),
        task_queue="orders-bench",
        demo_data=False,
    )
    paths = StackPaths(var)
    engine = create_engine(settings.oms_database_url)
    await migrate.upgrade(engine)
    await seed_demo_catalogue(session_factory(engine), warehouse=settings.warehouse)
    await engine.dispose()
    server = DevServer(settings, paths)
    sink = MailSink(paths.mail, settings.smtp_host, settings.smtp_port)
    try:
        await server.start()
        client = await server.wait_ready(asyncio.Event())
        assert client is not None
        sink.start()
        yield settings, client
    finally:
        sink.stop()
        await server.stop()


@asynccontextmanager
async def oms_worker(settings: Settings) -> AsyncIterator[asyncio.subprocess.Process]:
    """One `oms worker` process for the private stack, from its exec (not yet polling) until SIGTERM ends it."""
    with worker_log(settings.var_dir).open("ab") as log:
        # Its warnings go to a log the report sums up, so they do not scroll the live progress away.
        worker = await asyncio.create_subprocess_exec(
            str(OMS),
            "worker",
            env=bench_environment(settings),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        yield worker
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
            await worker.wait()


async def wait_for_worker(
    client: Client, settings: Settings, worker: asyncio.subprocess.Process | None = None, every: float = 0.2
) -> None:
    """Return once the worker polls the task queue, so its start-up is not measured as the orchestrator's time;
    `every`: seconds between looks. Gives up at once if the `worker` process exits first."""
    deadline = time.monotonic() + WORKER_READY_SECONDS
    while time.monotonic() < deadline:
        if worker is not None and worker.returncode is not None:
            raise SystemExit(
                f"the worker for task queue {settings.task_queue} exited with status {worker.returncode} before "
                f"it polled; its log is in {settings.var_dir}"
            )
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=settings.temporal_namespace,
                task_queue=TaskQueue(name=settings.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        if described.pollers:
            return
        await asyncio.sleep(every)
    raise SystemExit(f"the worker did not poll task queue {settings.task_queue} within {WORKER_READY_SECONDS:.0f} s")


async def run_orders(settings: Settings, orders: int, concurrency: int) -> tuple[int, dict[str, Any]]:
    """`oms run --json` against the private stack; its exit status and summary. Its live progress goes to stderr."""
    process = await asyncio.create_subprocess_exec(
        str(OMS),
        "run",
        "--orders",
        str(orders),
        "--concurrency",
        str(concurrency),
        "--seed",
        str(SEED),
        "--timeout",
        str(RUN_TIMEOUT_SECONDS),
        "--json",
        env=bench_environment(settings),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    if not out.strip():
        raise SystemExit(f"oms run printed no summary (exit status {process.returncode})")
    return process.returncode, json.loads(out)


def worker_log(var: Path) -> Path:
    """Where the worker's output goes."""
    return var / "worker.log"


def worker_warnings(var: Path) -> str:
    """How many warnings the worker logged, and the first of them without colours."""
    try:
        lines = worker_log(var).read_text(errors="replace").splitlines()
    except OSError:
        return "worker log missing"
    warnings = [ANSI.sub("", line) for line in lines if "WARN" in line]
    if not warnings:
        return "worker logged no warnings"
    first = warnings[0]
    return f"worker logged {len(warnings)} warnings, the first: {first[:200]}{'...' if len(first) > 200 else ''}"


def machine() -> str:
    """The facts a reader needs to compare figures between machines."""
    return (
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, Python {platform.python_version()}, "
        f"{temporal_version(temporal_cli())}"
    )


def report(summary: dict[str, Any], status: int) -> str:
    """Orders per second and latency percentiles, as plain lines."""
    counts = summary["orders"]
    speed = summary["throughput"]
    latency = summary["latency_seconds"]
    lines = [
        f"oms run: {counts['requested']:,} orders, concurrency {summary['concurrency']}, "
        f"zero simulated durations, one worker (SQLite OMS database, dev server on SQLite)",
        f"  completed {counts['completed']:,}, failed {counts['failed']:,} (exit status {status})",
        f"  placed     {speed['placed_per_second']:8.1f} orders/s  ({counts['placed']:,} in "
        f"{speed['placement_seconds']:.1f} s)",
        f"  completed  {speed['completed_per_second']:8.1f} orders/s  ({counts['completed']:,} in "
        f"{speed['wall_seconds']:.1f} s)",
        f"  {'seconds':26} {'mean':>8} {'p50':>8} {'p95':>8} {'p99':>8}",
        figures_line("placed to completed", latency["to_completed"]),
    ]
    lines += [figures_line(f"  in {status}", figures) for status, figures in latency["in_status"].items()]
    lines += [f"  {failure['count']} x {failure['reason']}" for failure in summary["failures"]]
    return "\n".join(lines)


def figures_line(name: str, figures: dict[str, float | None]) -> str:
    values = (figures["mean"], figures["p50"], figures["p95"], figures["p99"])
    return f"  {name:26} " + " ".join("       -" if value is None else f"{value:8.3f}" for value in values)


async def main(orders: int, concurrency: int) -> int:
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as directory:
        print(f"fulfilment run benchmark on {machine()}", flush=True)
        async with private_stack(Path(directory)) as settings:
            status, summary = await run_orders(settings, orders, concurrency)
        print(report(summary, status), flush=True)
        print(f"  {worker_warnings(Path(directory))}", flush=True)
    return status


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=ORDERS, help=f"orders to run (default {ORDERS})")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help=f"placements at once ({CONCURRENCY})")
    arguments = parser.parse_args()
    # exit_now: the Temporal client's runtime threads can abort a finalizing interpreter (see worker.exit_now).
    exit_now(asyncio.run(main(arguments.orders, arguments.concurrency)))
