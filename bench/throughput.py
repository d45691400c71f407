"""How close the orchestrator comes to what Temporal allows: orders/s against a bare 8-activity workflow, same run.

Run with `make bench` (or `python -m bench.throughput [--orders N] [--bare N] [--rounds N] [--cached N]`). Every
phase gets a private stack made by bench/fulfilment_run.py: the dev server as `oms up` starts it (starter.stack's
DevServer: SQLite file, WAL pragmas, our search attributes), an SMTP sink and a seeded OMS database, on free ports
in a temporary directory. Rounds alternate, bare then orders:

- bare: a workflow of 8 no-op activities (bench/bare_worker.py), served by one worker process with the order
  worker's options; `--bare` workflows started at once (as many starts in flight as `oms run` has placements), and
  completed workflows/s from the first start to the last completion;
- orders: `oms run --orders N --json` (bench/fulfilment_run.py) with one `oms worker`, zero simulated durations,
  auto mode, the generated mix of channels and payment methods; completed orders/s.

Then how long a worker takes from its exec to its first poll (the dev server's pollers of the task queue), for
`oms worker` and the bare worker; and `oms worker`'s resident memory per cached order workflow: its VmRSS idle
after start and once `--cached` manual-mode card orders wait in picking, their workflows held in its cache. Last,
`bench.latency` at half the orders/s the rounds measured: `--latency-orders` card and PayPal orders arriving on a
fixed schedule, and the p50/p95/p99 from placement to `paid` and to `completed`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from bench import latency
from bench.bare_worker import STEPS, BareWorkflow, WaitingBareWorkflow
from bench.fulfilment_run import (
    CONCURRENCY,
    oms_worker,
    private_services,
    private_stack,
    run_orders,
    wait_for_worker,
    worker_warnings,
)
from bench.machine import cpu_model, load_average, memory, temporal_version
from domain.order import FulfilmentMode, Order, PaymentMethod
from domain.status import OrderStatus
from settings import Settings
from starter import generator
from starter.placement import place_order
from starter.stack import temporal_cli
from store import catalogue
from store.db import create_engine, session_factory
from store.schema import OrderRecord
from worker import GRACEFUL_SHUTDOWN, MAX_CONCURRENT_ACTIVITIES, exit_now

ORDERS = 200
BARE = 400
ROUNDS = 2
CACHED = 200
LATENCY_ORDERS = 200
START_SAMPLES = 3
SEED = 1

# The goals of issue 12: orders/s at least the bare workflow's, a worker polling within a second of its start, at
# most 60 KiB of worker memory per cached order workflow.
RATIO_GOAL = 1.0
FIRST_POLL_GOAL_SECONDS = 1.0
RSS_TARGET_KIB = 60.0

# Orders placed before the memory baseline is read again, so one-time costs (the first activity's imports, the
# database pool, caches) are not charged to the cached workflows in the marginal figure.
WARM_UP_ORDERS = 20

# How often the bench looks at the dev server or the read model while it waits.
LOOK_SECONDS = 0.25
# Finer while timing a worker's start: the figure is a second or a few.
FIRST_POLL_LOOK_SECONDS = 0.05
# Resident memory moves for a moment after work stops (allocator, the SDK's threads); it is read this much later.
SETTLE_SECONDS = 2.0
PHASE_TIMEOUT_SECONDS = 900.0

BARE_WORKER = (sys.executable, "-m", "bench.bare_worker")
# The bench is not an installed package: the bare worker finds it from the checkout, wherever the bench runs.
CHECKOUT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Rate:
    """How many of `requested` completed in `seconds`, from the first start to the last completion."""

    requested: int
    completed: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Completions per second."""
        return self.completed / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class CpuShare:
    """CPU seconds (user and system) spent while a round ran: by the worker, the dev server and the starter (the
    bench's own process for bare workflows, `oms run` for orders)."""

    worker: float
    server: float
    starter: float

    def per(self, completed: int) -> str:
        """Milliseconds of each per completed workflow, and their sum."""
        if not completed:
            return "nothing completed"
        each = [1000 * seconds / completed for seconds in (self.worker, self.server, self.starter)]
        return (
            f"worker {each[0]:.0f} ms, dev server {each[1]:.0f} ms, starter {each[2]:.0f} ms; {sum(each):.0f} ms of "
            f"CPU per workflow"
        )


def pooled(shares: list[CpuShare]) -> CpuShare:
    """The CPU seconds of several rounds added up."""
    return CpuShare(
        sum(share.worker for share in shares),
        sum(share.server for share in shares),
        sum(share.starter for share in shares),
    )


def children_cpu() -> dict[str, float]:
    """CPU seconds so far of this process's running children by role ("server": the dev server, "worker": a
    worker), from /proc; 0 for a role with no child."""
    ticks = os.sysconf("SC_CLK_TCK")
    roles = {"server": 0.0, "worker": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # it ended meanwhile
        # After the command's name in parentheses: state, ppid, ..., utime and stime (fields 14 and 15 of stat).
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) != os.getpid():
            continue
        if b"start-dev" in command:
            roles["server"] += (int(fields[11]) + int(fields[12])) / ticks
        elif b"worker" in command or b"bench.bare_worker" in command:
            roles["worker"] += (int(fields[11]) + int(fields[12])) / ticks
    return roles


def finished_children_cpu() -> float:
    """CPU seconds of this process's children that have ended and been waited for (`oms run`)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Round:
    """One bare run and the orders run after it."""

    bare: Rate
    orders: Rate
    orders_note: str
    bare_cpu: CpuShare
    orders_cpu: CpuShare

    @property
    def ratio(self) -> float:
        """Orders/s as a share of the bare workflows/s of the same round."""
        return self.orders.per_second / self.bare.per_second if self.bare.per_second else 0.0


@dataclass(frozen=True)
class Memory:
    """`oms worker`'s VmRSS in KiB: idle after its start, after the warm-up orders, and with every order cached."""

    idle_kib: int
    warm_kib: int
    cached_kib: int
    warm_up: int
    cached: int

    @property
    def per_order_kib(self) -> float:
        """(RSS with every order cached - RSS idle) / orders: what each cached order costs, one-time costs included."""
        return (self.cached_kib - self.idle_kib) / (self.warm_up + self.cached)

    @property
    def marginal_kib(self) -> float:
        """(RSS with every order cached - RSS after the warm-up) / orders placed after the warm-up."""
        return (self.cached_kib - self.warm_kib) / self.cached


@dataclass(frozen=True)
class Results:
    """Everything the bench measured."""

    rounds: list[Round]
    oms_first_poll: list[float]
    bare_first_poll: list[float]
    memory: Memory
    bare_memory: Memory


def progress(line: str, *, done: bool = False) -> None:
    """Overwrite the progress line on stderr; `done` keeps it and moves on."""
    print(f"\r\x1b[2K{line}", end="\n" if done else "", file=sys.stderr, flush=True)


# --- the bare workflow ---------------------------------------------------------------------------------------


@asynccontextmanager
async def bare_worker(settings: Settings) -> AsyncIterator[asyncio.subprocess.Process]:
    """The bare worker process on `settings`' dev server and task queue, with the order worker's options, from its
    exec (not yet polling) until SIGTERM ends it."""
    with (settings.var_dir / "bare-worker.log").open("ab") as log:
        worker = await asyncio.create_subprocess_exec(
            *BARE_WORKER,
            settings.temporal_address,
            settings.temporal_namespace,
            settings.task_queue,
            "--max-concurrent-activities",
            str(MAX_CONCURRENT_ACTIVITIES),
            "--graceful-shutdown-seconds",
            str(GRACEFUL_SHUTDOWN.total_seconds()),
            cwd=CHECKOUT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        yield worker
    finally:
        if worker.returncode is None:
            worker.terminate()
            await worker.wait()


async def run_bare(
    settings: Settings,
    workflows: int,
    concurrency: int = CONCURRENCY,
    report: Callable[[int, int, float], None] = lambda started, closed, seconds: None,
) -> Rate:
    """Start `workflows` bare workflows on `settings`' task queue, which a bare worker polls, and wait for all to
    close; `report(started, closed, seconds)` is called as they go."""
    # A client of its own: the bench's client may carry the payload codec, and the bare worker has none.
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    queue = settings.task_queue
    run = uuid.uuid4().hex[:8]
    gate = asyncio.Semaphore(concurrency)
    started = 0

    async def start(number: int) -> None:
        nonlocal started
        async with gate:
            await client.start_workflow(BareWorkflow.run, id=f"bare-{run}-{number}", task_queue=queue)
        started += 1

    # Wall-clock time: the end is the server's close time of the last workflow, on the same machine's clock.
    first_start = time.time()
    starting = asyncio.gather(*(start(number) for number in range(workflows)))
    closed = 0
    while closed < workflows and time.time() - first_start < PHASE_TIMEOUT_SECONDS:
        await asyncio.sleep(LOOK_SECONDS)
        closed = (await client.count_workflows(f'TaskQueue="{queue}" AND ExecutionStatus!="Running"')).count
        report(started, closed, time.time() - first_start)
    await starting
    completed = 0
    last_close = first_start
    async for execution in client.list_workflows(f'TaskQueue="{queue}" AND ExecutionStatus="Completed"'):
        completed += 1
        if execution.close_time is not None:
            last_close = max(last_close, execution.close_time.timestamp())
    return Rate(workflows, completed, last_close - first_start)


async def bare_round(number: int, workflows: int) -> tuple[Rate, CpuShare]:
    """A private stack with the bare worker polling, and `workflows` bare workflows run on it."""

    def report(started: int, closed: int, seconds: float) -> None:
        progress(f"bare round {number}: started {started}/{workflows}, closed {closed}/{workflows}, {seconds:.1f} s")

    with tempfile.TemporaryDirectory(prefix="oms-bench-bare-") as directory:
        async with private_services(Path(directory)) as (settings, client):
            bare = settings.model_copy(update={"task_queue": "bare-bench"})
            async with bare_worker(bare) as worker:
                await wait_for_worker(client, bare, worker)
                before, starter = children_cpu(), time.process_time()
                rate = await run_bare(bare, workflows, report=report)
                after = children_cpu()
                cpu = CpuShare(
                    after["worker"] - before["worker"],
                    after["server"] - before["server"],
                    time.process_time() - starter,
                )
    progress(f"bare round {number}: {rate.completed}/{workflows} completed in {rate.seconds:.1f} s", done=True)
    return rate, cpu


# --- the orchestrator ----------------------------------------------------------------------------------------


async def orders_round(number: int, orders: int) -> tuple[Rate, str, CpuShare]:
    """`oms run` of `orders` orders on a private stack with one `oms worker`; the rate, the worker's warnings and
    the CPU each process spent."""
    progress(f"orders round {number}: `oms run --orders {orders}`", done=True)
    with tempfile.TemporaryDirectory(prefix="oms-bench-orders-") as directory:
        async with private_stack(Path(directory)) as settings:
            before, starter = children_cpu(), finished_children_cpu()
            status, summary = await run_orders(settings, orders, CONCURRENCY)
            after = children_cpu()
            cpu = CpuShare(
                after["worker"] - before["worker"],
                after["server"] - before["server"],
                finished_children_cpu() - starter,
            )
        note = worker_warnings(Path(directory))
    counts = summary["orders"]
    rate = Rate(counts["requested"], counts["completed"], summary["throughput"]["wall_seconds"])
    if status != 0:
        failures = "; ".join(f"{failure['count']} x {failure['reason']}" for failure in summary["failures"])
        note = f"oms run exit status {status}: {failures}; {note}"
    return rate, note, cpu


# --- start-up and memory -------------------------------------------------------------------------------------


async def first_polls(samples: int) -> tuple[list[float], list[float]]:
    """Seconds from a worker's exec to its first poll seen by the dev server: `oms worker`'s and the bare worker's,
    alternately, each sample on a task queue nobody polled before."""
    oms: list[float] = []
    bare: list[float] = []
    with tempfile.TemporaryDirectory(prefix="oms-bench-start-") as directory:
        async with private_services(Path(directory)) as (settings, client):
            for sample in range(1, samples + 1):
                for name, start, figures in (("oms", oms_worker, oms), ("bare", bare_worker, bare)):
                    progress(f"worker start, sample {sample}/{samples}: {name} worker")
                    queue = settings.model_copy(update={"task_queue": f"{name}-start-{sample}"})
                    execed = time.perf_counter()
                    async with start(queue) as worker:
                        await wait_for_worker(client, queue, worker, every=FIRST_POLL_LOOK_SECONDS)
                        figures.append(time.perf_counter() - execed)
    progress(f"worker start: {samples} samples each", done=True)
    return oms, bare


def resident_kib(pid: int) -> int:
    """A process's resident memory (VmRSS) in KiB."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


async def memory_per_order(cached: int) -> Memory:
    """`oms worker`'s VmRSS idle, after a warm-up and with `cached` more manual-mode orders waiting in picking."""
    with tempfile.TemporaryDirectory(prefix="oms-bench-memory-") as directory:
        async with private_services(Path(directory)) as (settings, client), oms_worker(settings) as worker:
            await wait_for_worker(client, settings, worker)
            await asyncio.sleep(SETTLE_SECONDS)
            idle = resident_kib(worker.pid)
            engine = create_engine(settings.oms_database_url)
            try:
                sessions = session_factory(engine)
                orders = await card_orders(sessions, settings, WARM_UP_ORDERS + cached)
                await place_waiting(client, settings, sessions, orders[:WARM_UP_ORDERS])
                await asyncio.sleep(SETTLE_SECONDS)
                warm = resident_kib(worker.pid)
                await place_waiting(client, settings, sessions, orders[WARM_UP_ORDERS:], already=WARM_UP_ORDERS)
                await asyncio.sleep(SETTLE_SECONDS)
                full = resident_kib(worker.pid)
            finally:
                await engine.dispose()
    progress(f"worker memory: {WARM_UP_ORDERS + cached} orders waiting in picking", done=True)
    return Memory(idle, warm, full, WARM_UP_ORDERS, cached)


# A waiting bare workflow's history once its steps are done: started and its first workflow task (4 events), then
# per step the activity's 3 events and the next workflow task's 3.
WAITING_EVENTS = 4 + 6 * (STEPS // 2)


async def bare_memory_per_workflow(cached: int) -> Memory:
    """The bare worker's VmRSS idle, after a warm-up and with `cached` more waiting bare workflows: the SDK's own
    cost of a cached workflow, which no order workflow can go below."""
    with tempfile.TemporaryDirectory(prefix="oms-bench-bare-memory-") as directory:
        async with private_services(Path(directory)) as (settings, client):
            bare = settings.model_copy(update={"task_queue": "bare-bench-memory"})
            async with bare_worker(bare) as worker:
                await wait_for_worker(client, bare, worker)
                await asyncio.sleep(SETTLE_SECONDS)
                idle = resident_kib(worker.pid)
                await start_waiting(bare, WARM_UP_ORDERS, "warm")
                await asyncio.sleep(SETTLE_SECONDS)
                warm = resident_kib(worker.pid)
                await start_waiting(bare, cached, "cached")
                await asyncio.sleep(SETTLE_SECONDS)
                full = resident_kib(worker.pid)
    progress(f"bare worker memory: {WARM_UP_ORDERS + cached} bare workflows waiting", done=True)
    return Memory(idle, warm, full, WARM_UP_ORDERS, cached)


async def start_waiting(settings: Settings, count: int, batch: str) -> None:
    """Start `count` waiting bare workflows and return once each has done its steps and waits for its Signal."""
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def start(number: int) -> str:
        workflow_id = f"waiting-{batch}-{number}"
        async with gate:
            await client.start_workflow(WaitingBareWorkflow.run, id=workflow_id, task_queue=settings.task_queue)
        return workflow_id

    waiting = set(await asyncio.gather(*(start(number) for number in range(count))))
    deadline = time.monotonic() + PHASE_TIMEOUT_SECONDS
    while waiting:
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(waiting)} of {count} bare workflows did not reach their wait in time")
        for workflow_id in list(waiting):
            described = await client.get_workflow_handle(workflow_id).describe()
            if described.raw_description.workflow_execution_info.history_length >= WAITING_EVENTS:
                waiting.discard(workflow_id)
        progress(f"bare worker memory: {count - len(waiting)}/{count} {batch} bare workflows waiting")
        await asyncio.sleep(LOOK_SECONDS)


async def card_orders(sessions: async_sessionmaker[AsyncSession], settings: Settings, count: int) -> list[Order]:
    """`count` generated card orders, their stock received: once placed in manual mode they all wait in picking."""
    products = await catalogue.list_products(sessions)
    run_id = generator.new_run_id()
    # About half the generated orders pay by card; four times as many leaves room to spare.
    mix = generator.generate_orders(products, settings.exchange_rates, count=4 * count, seed=SEED, run_id=run_id)
    orders = [order for order in mix if order.payment.method is PaymentMethod.CARD][:count]
    if len(orders) < count:
        raise SystemExit(f"--cached: the generator made only {len(orders)} card orders, {count} wanted")
    for sku, quantity in generator.units_needed(orders).items():
        await catalogue.receive_stock(sessions, sku, quantity, settings.warehouse, f"bench-{run_id}")
    return orders


async def place_waiting(
    client: Client,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    orders: list[Order],
    already: int = 0,
) -> None:
    """Place `orders` in manual mode and return once they and the `already` placed wait in picking."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def place(order: Order) -> None:
        async with gate:
            await place_order(client, settings, sessions, order, FulfilmentMode.MANUAL)

    wanted = already + len(orders)
    placing = asyncio.gather(*(place(order) for order in orders))
    deadline = time.monotonic() + PHASE_TIMEOUT_SECONDS
    picking = 0
    while picking < wanted:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {picking} of {wanted} manual orders reached picking in {PHASE_TIMEOUT_SECONDS} s")
        await asyncio.sleep(LOOK_SECONDS)
        async with sessions() as session:
            found = await session.scalar(
                select(func.count()).select_from(OrderRecord).where(OrderRecord.status == OrderStatus.PICKING.value)
            )
        picking = int(found or 0)
        progress(f"worker memory: {picking}/{wanted} manual orders waiting in picking")
    await placing


# --- the report ----------------------------------------------------------------------------------------------


def machine() -> str:
    """The facts a reader needs to compare figures between machines."""
    return (
        f"{os.cpu_count()} CPUs ({cpu_model()}), {memory()}, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, {temporal_version(temporal_cli())}; load average {load_average()}"
    )


def seconds_list(figures: list[float]) -> str:
    """Seconds, in the order measured, and their median."""
    return ", ".join(f"{figure:.2f}" for figure in figures) + f" s (median {statistics.median(figures):.2f} s)"


def median_ratio(rounds: list[Round]) -> float:
    """Median orders/s over median bare workflows/s."""
    bare = statistics.median(pair.bare.per_second for pair in rounds)
    return statistics.median(pair.orders.per_second for pair in rounds) / bare if bare else 0.0


def report(results: Results, machine_line: str) -> str:
    """Every round, the start-up samples and the memory figures, then the summary block."""
    memory = results.memory
    lines = ["rounds (bare: workflows of 8 no-op activities; orders: `oms run`, auto mode, zero durations)"]
    for number, pair in enumerate(results.rounds, 1):
        lines += [
            f"  round {number}  bare   {pair.bare.per_second:7.1f} workflows/s  ({pair.bare.completed:,} of "
            f"{pair.bare.requested:,} completed in {pair.bare.seconds:.1f} s)",
            f"           orders {pair.orders.per_second:7.1f} orders/s     ({pair.orders.completed:,} of "
            f"{pair.orders.requested:,} completed in {pair.orders.seconds:.1f} s)   ratio {pair.ratio:.2f}x",
            f"           {pair.orders_note}",
            f"           CPU, bare:   {pair.bare_cpu.per(pair.bare.completed)}",
            f"           CPU, orders: {pair.orders_cpu.per(pair.orders.completed)}",
        ]
    lines += [
        "worker start to first poll (exec to the dev server listing it as a poller of its task queue)",
        f"  oms worker   {seconds_list(results.oms_first_poll)}",
        f"  bare worker  {seconds_list(results.bare_first_poll)}",
        "oms worker resident memory (VmRSS)",
        f"  {'idle after start':34} {memory.idle_kib / 1024:8.1f} MiB",
        f"  {f'{memory.warm_up} manual orders in picking':34} {memory.warm_kib / 1024:8.1f} MiB",
        f"  {f'{memory.warm_up + memory.cached} manual orders in picking':34} {memory.cached_kib / 1024:8.1f} MiB",
        "bare worker resident memory (VmRSS), workflows of 4 no-op activities waiting for a Signal",
        f"  {'idle after start':34} {results.bare_memory.idle_kib / 1024:8.1f} MiB",
        f"  {f'{results.bare_memory.warm_up} waiting':34} {results.bare_memory.warm_kib / 1024:8.1f} MiB",
        f"  {f'{results.bare_memory.warm_up + results.bare_memory.cached} waiting':34} "
        f"{results.bare_memory.cached_kib / 1024:8.1f} MiB",
        "",
        summary(results, machine_line),
    ]
    return "\n".join(lines)


def summary(results: Results, machine_line: str) -> str:
    """The figures to quote, in one block."""
    rounds = results.rounds
    memory = results.memory
    bare = ", ".join(f"{pair.bare.per_second:.1f}" for pair in rounds)
    orders = ", ".join(f"{pair.orders.per_second:.1f}" for pair in rounds)
    ratios = ", ".join(f"{pair.ratio:.2f}x" for pair in rounds)
    bare_done = sum(pair.bare.completed for pair in rounds)
    orders_done = sum(pair.orders.completed for pair in rounds)
    return "\n".join(
        [
            "summary",
            f"  machine                      {machine_line}",
            f"  bare 8-activity workflow     {bare} workflows/s "
            f"(median {statistics.median(pair.bare.per_second for pair in rounds):.1f})",
            f"  orchestrator, auto mode      {orders} orders/s "
            f"(median {statistics.median(pair.orders.per_second for pair in rounds):.1f})",
            f"  orders/s : workflows/s       {ratios} per round; {median_ratio(rounds):.2f}x of the medians "
            f"(goal >= {RATIO_GOAL:.1f}x)",
            f"  CPU per bare workflow        {pooled([pair.bare_cpu for pair in rounds]).per(bare_done)}",
            f"  CPU per order                {pooled([pair.orders_cpu for pair in rounds]).per(orders_done)}",
            f"  worker start to first poll   oms worker {statistics.median(results.oms_first_poll):.2f} s, bare "
            f"worker {statistics.median(results.bare_first_poll):.2f} s (medians; goal <= "
            f"{FIRST_POLL_GOAL_SECONDS:.0f} s)",
            f"  worker RSS per cached order  {memory.per_order_kib:.0f} KiB from idle over "
            f"{memory.warm_up + memory.cached} orders; {memory.marginal_kib:.0f} KiB for the {memory.cached} "
            f"after a warm-up of {memory.warm_up} (target <= {RSS_TARGET_KIB:.0f} KiB)",
            f"  bare RSS per cached workflow {results.bare_memory.per_order_kib:.0f} KiB from idle; "
            f"{results.bare_memory.marginal_kib:.0f} KiB marginal (the SDK's floor for a waiting workflow)",
        ]
    )


async def main(orders: int, bare: int, rounds: int, cached: int, latency_orders: int) -> int:
    machine_line = machine()
    print(f"throughput benchmark on {machine_line}", flush=True)
    print(
        f"  {rounds} rounds of {bare:,} bare workflows then {orders:,} orders, one worker each, a fresh dev server "
        f"each (SQLite, WAL, as `oms up` starts it); {CONCURRENCY} starts or placements in flight",
        flush=True,
    )
    measured: list[Round] = []
    for number in range(1, rounds + 1):
        bare_rate, bare_cpu = await bare_round(number, bare)
        orders_rate, note, orders_cpu = await orders_round(number, orders)
        measured.append(Round(bare_rate, orders_rate, note, bare_cpu, orders_cpu))
    oms_first_poll, bare_first_poll = await first_polls(START_SAMPLES)
    memory_figures = await memory_per_order(cached)
    bare_memory = await bare_memory_per_workflow(cached)
    results = Results(measured, oms_first_poll, bare_first_poll, memory_figures, bare_memory)
    print(report(results, machine_line), flush=True)
    # Latency at half the maximum the rounds measured: what an order waits when the shop is busy but not saturated.
    rate = statistics.median(pair.orders.per_second for pair in measured) / 2
    progress(f"latency: {latency_orders} orders at {rate:.2f}/s", done=True)
    print(latency.report(await latency.latency_run(rate, latency_orders)), flush=True)
    finished = all(pair.bare.completed == bare and pair.orders.completed == orders for pair in measured)
    return 0 if finished else 1


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--orders", type=positive, default=ORDERS, help=f"orders per orders round, `oms run --orders` ({ORDERS})"
    )
    parser.add_argument("--bare", type=positive, default=BARE, help=f"bare workflows per bare round ({BARE})")
    parser.add_argument(
        "--rounds", type=positive, default=ROUNDS, help=f"rounds, each a bare run then an orders run ({ROUNDS})"
    )
    parser.add_argument(
        "--cached",
        type=positive,
        default=CACHED,
        help=f"manual orders held in the worker's cache for its memory per order, after {WARM_UP_ORDERS} "
        f"warm-up orders ({CACHED})",
    )
    parser.add_argument(
        "--latency-orders",
        type=positive,
        default=LATENCY_ORDERS,
        help=f"card orders placed at half the measured orders/s for the latency figures ({LATENCY_ORDERS})",
    )
    arguments = parser.parse_args()
    # exit_now: the Temporal client's runtime threads can abort a finalizing interpreter (see worker.exit_now).
    exit_now(
        asyncio.run(
            main(arguments.orders, arguments.bare, arguments.rounds, arguments.cached, arguments.latency_orders)
        )
    )
