"""`oms run`: place many generated orders, pay the bank-transfer ones, watch them move and summarise the run."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from domain.commands import Command, CommandAccepted, PaymentReceived
from domain.figures import Durations
from domain.order import FulfilmentMode, Order
from domain.status import OrderStatus
from settings import Settings
from starter import generator
from starter.commandline import AsJson, CommandFailed, database, fail
from starter.commandline import run as run_command
from starter.placement import OrderAlreadyExists, OrderInputError, place_order
from store import catalogue
from store.schema import OrderRecord
from store.steps import step_times
from worker import connect
from workflows.order import workflow_id

# A run is over for an order once it is completed or can move no further (payment_failed, cancelled, refunded).
DONE = frozenset({OrderStatus.COMPLETED, *(status for status in OrderStatus if status.is_final)})

# Where an order of the run can be besides its statuses, as the progress display and the summary count them.
WAITING_TO_BE_PLACED = "waiting to be placed"
PLACEMENT_FAILED = "placement failed"
WAITING_FOR_A_WORKER = "waiting for a worker"
PROGRESS_ROWS = (
    WAITING_TO_BE_PLACED,
    PLACEMENT_FAILED,
    WAITING_FOR_A_WORKER,
    *(status.value for status in OrderStatus),
)

# How often the run reads its orders' statuses; also the progress display's refresh rate and the resolution of
# the run's wall time.
POLL_SECONDS = 0.5

# How long one payment_received Update may wait for the order's worker to answer.
UPDATE_TIMEOUT = timedelta(seconds=30)
# A payment the order refuses is sent again this long after, for this long, before the run counts it a failure:
# longer than a workflow task's timeout, after which a killed worker's task runs again elsewhere.
BANK_RETRY_SECONDS = 2.0
BANK_PATIENCE_SECONDS = 60.0

# SQLite allows 32,766 bound parameters; well below that, and below PostgreSQL's 65,535.
IDS_PER_QUERY = 500

# The gateway's code in the payment activity's message: "... was declined (card_declined); ...".
DECLINED = re.compile(r"declined \(([^)]+)\)")

# Orders named per failure reason in the summary; the rest are counted.
EXAMPLES_PER_FAILURE = 5


def fulfilment_run(
    orders: Annotated[int, typer.Option("--orders", min=1, max=100_000, help="How many orders to generate and place.")],
    concurrency: Annotated[
        int, typer.Option(min=1, max=1_000, help="At most this many placements (and bank payments) at once.")
    ] = 20,
    mode: Annotated[
        FulfilmentMode,
        typer.Option(help="Only auto: the warehouse picks and packs by itself, so the run needs nobody."),
    ] = FulfilmentMode.AUTO,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the generated orders; the same seed gives the same orders. (default: random, shown)"
        ),
    ] = None,
    currency: Annotated[
        list[str] | None,
        typer.Option(
            help="Sell only in this currency (repeatable). Each needs a rate in OMS_FX_RATES. "
            "(default: every market currency with a rate)"
        ),
    ] = None,
    decline_rate: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of card and PayPal orders that pay with a declining test card."),
    ] = 0.0,
    pick_seconds: Annotated[
        float | None,
        typer.Option(min=0.0, help="Simulated picking time of this run's orders. (default: OMS_PICK_SECONDS)"),
    ] = None,
    pack_seconds: Annotated[
        float | None,
        typer.Option(min=0.0, help="Simulated packing time of this run's orders. (default: OMS_PACK_SECONDS)"),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1.0, help="Seconds from the first placement until unfinished orders count as failed.")
    ] = 600.0,
    as_json: AsJson = False,
) -> None:
    """Generate realistic orders, place them, follow them to the end and report throughput and latency.

    Orders: customers made up with Faker in DE, AT, FR, NL (paying EUR), GB, US,
    JP, CH and KW (paying GBP, USD, JPY, CHF, KWD), over every channel and
    payment method, 1-4 catalogue products priced at the shop's OMS_FX_RATES.
    The same --seed gives the same orders. Order ids are
    <channel>-run-<run id>-<n>; the run id (start time and four random
    characters) is new every run, so two runs never collide, and
    `oms order list --search run-<run id>-` finds a run's orders afterwards.

    Stock: before placing, the run books one receipt, run-<run id>, with exactly
    the units its orders take, so none waits as backordered. This changes the
    shop's stock; the receipt is printed.

    Bank: for bank-transfer and invoice orders the run plays the customer's
    bank and confirms the payment as soon as the order awaits it.

    Progress: a live count of the run's orders per status, on stderr.
    Summary (text, or --json on stdout): orders placed and completed per
    second; mean, p50, p95 and p99 seconds from placement to completed and in
    each status; failures by reason. Orders not done after --timeout fail.

    Simulated durations: picking and packing take --pick-seconds and
    --pack-seconds (OMS_PICK_SECONDS, OMS_PACK_SECONDS); delivery takes the
    worker's OMS_CARRIER_TRANSIT_SECONDS. With all three at 0 a run measures
    the orchestrator, not the simulation.

    Exit status: 0 when every order completed, 1 otherwise.
    """
    if mode is not FulfilmentMode.AUTO:
        fail(
            "--mode manual: an automated run has nobody to confirm picking and packing; "
            "place manual orders one by one with `oms order place --mode manual`"
        )
    options = RunOptions(
        orders=orders,
        concurrency=concurrency,
        seed=seed if seed is not None else secrets.randbelow(1_000_000),
        currencies=currency or None,
        decline_rate=decline_rate,
        pick_seconds=pick_seconds,
        pack_seconds=pack_seconds,
        timeout=timeout,
    )
    summary = run_command(lambda settings: _run(settings, options))
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
    else:
        Console().print(_summary_text(summary))
    if summary.orders.completed < summary.orders.requested:
        raise typer.Exit(1)


@dataclass(frozen=True)
class RunOptions:
    """What the operator asked of one run."""

    orders: int
    concurrency: int
    seed: int
    currencies: list[str] | None
    decline_rate: float
    pick_seconds: float | None
    pack_seconds: float | None
    timeout: float


# --- the summary --------------------------------------------------------------------------------------------


class StockReceipt(BaseModel):
    """The receipt a run books so that none of its orders waits for stock."""

    receipt: str
    warehouse: str
    units: dict[str, int]


class Generated(BaseModel):
    """What the run generated: orders per channel, currency, payment method and country."""

    channels: dict[str, int]
    currencies: dict[str, int]
    payment_methods: dict[str, int]
    countries: dict[str, int]
    declining: int


class OrderCounts(BaseModel):
    """How many orders were asked for, placed, completed and failed, and where they all ended."""

    requested: int
    placed: int
    completed: int
    failed: int
    by_status: dict[str, int]


class Throughput(BaseModel):
    """Orders per second: placed during the placement phase, completed over the whole run."""

    wall_seconds: float
    placement_seconds: float
    placed_per_second: float
    completed_per_second: float


class Latency(BaseModel):
    """Seconds from placement to `completed`, and spent in each status, over the run's completed orders."""

    to_completed: Durations
    in_status: dict[str, Durations]


class Failure(BaseModel):
    """Orders that did not complete, for one reason, with the first few of them."""

    reason: str
    count: int
    orders: list[str]


class RunSummary(BaseModel):
    """Everything `oms run` reports, in `--json` and as text."""

    run_id: str
    seed: int
    mode: str
    concurrency: int
    started_at: datetime
    find_orders: str
    simulated_seconds: dict[str, float]
    stock_receipt: StockReceipt
    generated: Generated
    orders: OrderCounts
    throughput: Throughput
    latency_seconds: Latency
    failures: list[Failure]


# --- the run ------------------------------------------------------------------------------------------------


async def _run(settings: Settings, options: RunOptions) -> RunSummary:
    """Generate, top up stock, place, watch and summarise one run."""
    rates = settings.exchange_rates
    try:
        generator.run_currencies(rates, options.currencies)
    except generator.RunCurrencyError as error:
        raise CommandFailed(f"--currency: {error}") from None
    overrides = {
        name: value
        for name, value in (("pick_seconds", options.pick_seconds), ("pack_seconds", options.pack_seconds))
        if value is not None
    }
    # The policy each order is started with comes from these settings: the run's pick and pack times go with it.
    placing = settings.model_copy(update=overrides)
    client = await connect(settings)
    err = Console(stderr=True)
    async with database(settings) as sessions:
        products = await catalogue.list_products(sessions)
        if not products:
            raise CommandFailed("the catalogue is empty: add products with `oms product add` first")
        run_id = generator.new_run_id()
        try:
            orders = generator.generate_orders(
                products,
                rates,
                count=options.orders,
                seed=options.seed,
                run_id=run_id,
                currencies=options.currencies,
                decline_rate=options.decline_rate,
            )
        except generator.RunCurrencyError as error:
            raise CommandFailed(f"cannot price the run's orders: {error}") from None
        receipt = await _top_up(sessions, settings.warehouse, run_id, orders)
        err.print(
            f"stock receipt {receipt.receipt}: {sum(receipt.units.values())} units of {len(receipt.units)} SKUs "
            f"into {receipt.warehouse}, exactly what the run's orders will take "
            f"({', '.join(f'{sku} {units}' for sku, units in receipt.units.items())})",
            highlight=False,
            markup=False,
        )
        for warning in await _warnings(client, settings):
            err.print(f"warning: {warning}", style="yellow", highlight=False, markup=False)
        run = FulfilmentRun(client, placing, sessions, run_id, orders, options)
        started_at = datetime.now(UTC)
        await run.watch(err)
        return await run.summary(options, started_at, receipt)


async def _top_up(
    sessions: async_sessionmaker[AsyncSession], warehouse: str, run_id: str, orders: Sequence[Order]
) -> StockReceipt:
    """Receive exactly the units the run's orders take, under one receipt id of the run's own."""
    receipt = f"run-{run_id}"
    units = generator.units_needed(orders)
    for sku, quantity in units.items():
        await catalogue.receive_stock(sessions, sku, quantity, warehouse, receipt)
    return StockReceipt(receipt=receipt, warehouse=warehouse, units=units)


async def _warnings(client: Client, settings: Settings) -> list[str]:
    """What would keep the run's orders from moving, said before they are placed."""
    warnings: list[str] = []
    hours = settings.hours
    now = datetime.now(UTC)
    if not hours.always_open and not hours.is_open(now):
        opens = hours.next_opening(now).astimezone().strftime("%Y-%m-%d %H:%M")
        warnings.append(f"the warehouse is closed (OMS_WAREHOUSE_HOURS): picking starts when it opens, {opens}")
    try:
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=settings.temporal_namespace,
                task_queue=TaskQueue(name=settings.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
    except RPCError:
        return warnings  # not every server lets us ask; the run itself will show whether orders move
    if not described.pollers:
        warnings.append(
            f"no worker polls task queue {settings.task_queue!r}: orders wait until one starts (`oms worker`)"
        )
    return warnings


@dataclass
class Tracked:
    """One order of the run and what the run knows of it."""

    order: Order
    placed: bool = False
    placement_error: str | None = None
    status: OrderStatus | None = None
    paying: bool = False
    paid: bool = False
    bank_refusal: str | None = None
    # When the order first refused the payment, and when last: refusals are retried for a while (see `_refused`).
    refused_since: float | None = None
    refused_at: float = 0.0

    @property
    def order_id(self) -> str:
        """The order's id."""
        return self.order.order_id

    @property
    def finished(self) -> bool:
        """Nothing more will happen to it within the run: refused at placement, or in a status the run ends at."""
        return self.placement_error is not None or self.status in DONE


class FulfilmentRun:
    """Places the run's orders with bounded concurrency, plays the bank, and follows the orders in the read model."""

    def __init__(
        self,
        client: Client,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        run_id: str,
        orders: Sequence[Order],
        options: RunOptions,
    ) -> None:
        self.client = client
        self.settings = settings
        self.sessions = sessions
        self.run_id = run_id
        self.tracked = [Tracked(order) for order in orders]
        self.concurrency = options.concurrency
        self.timeout = options.timeout
        self._bank = asyncio.Semaphore(options.concurrency)
        self._payments: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._placing_done: float | None = None
        self._finished_at: float | None = None

    # --- placing ---

    async def _place_all(self) -> None:
        queue: Iterator[Tracked] = iter(self.tracked)

        async def placer() -> None:
            # The placers share one iterator: each takes the next order as soon as its last one is placed.
            for tracked in queue:
                await self._place(tracked)

        await asyncio.gather(*(placer() for _ in range(min(self.concurrency, len(self.tracked)))))
        self._placing_done = self._loop.time()

    async def _place(self, tracked: Tracked) -> None:
        try:
            await place_order(self.client, self.settings, self.sessions, tracked.order, FulfilmentMode.AUTO)
        except OrderInputError as error:
            tracked.placement_error = f"placement refused: {error}"
        except OrderAlreadyExists:
            # Said without the order's id, so that every such order counts under one reason.
            tracked.placement_error = "placement refused: an order with this id exists already"
        except RPCError as error:
            tracked.placement_error = f"placement failed: {error.message}"
        except Exception as error:
            # One order that cannot be placed is a finding of the run, not a reason to abandon the others.
            tracked.placement_error = f"placement failed: {type(error).__name__}: {error}"
        else:
            tracked.placed = True

    # --- the customer's bank ---

    def _pay(self, tracked: Tracked) -> None:
        tracked.paying = True
        task = asyncio.create_task(self._send_payment(tracked))
        self._payments.add(task)
        task.add_done_callback(self._payments.discard)

    async def _send_payment(self, tracked: Tracked) -> None:
        handle = self.client.get_workflow_handle(workflow_id(tracked.order_id))
        try:
            async with self._bank:
                await handle.execute_update(
                    Command.PAYMENT_RECEIVED.value,
                    PaymentReceived(reference=f"run {self.run_id} transfer for {tracked.order_id}"),
                    result_type=CommandAccepted,
                    rpc_timeout=UPDATE_TIMEOUT,
                )
            tracked.paid = True
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            self._refused(tracked, cause.message if isinstance(cause, ApplicationError) else str(cause))
        except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError):
            pass  # the order still awaits payment, so the next look at it sends the payment again
        finally:
            tracked.paying = False

    def _refused(self, tracked: Tracked, reason: str) -> None:
        """The order refused the payment: try again on later looks, and count it a failure only if it goes on.

        The read model can run ahead of the workflow: a worker killed after writing `awaiting_payment` and before
        its workflow task completed leaves an order whose replayed state is still `received` for a few seconds.
        """
        now = self._loop.time()
        tracked.refused_since = tracked.refused_since or now
        tracked.refused_at = now
        if now - tracked.refused_since >= BANK_PATIENCE_SECONDS:
            tracked.bank_refusal = reason

    # --- watching ---

    async def watch(self, console: Console) -> None:
        """Place every order and follow them until each is done or the timeout passes, showing the counts live."""
        self._started = self._loop.time()
        placing = asyncio.create_task(self._place_all())
        try:
            with Live(self._progress(), console=console, auto_refresh=False, transient=False) as live:
                while True:
                    await self._look()
                    live.update(self._progress(), refresh=True)
                    if placing.done() and all(tracked.finished for tracked in self.tracked):
                        break
                    if self._elapsed() >= self.timeout:
                        break
                    await asyncio.sleep(POLL_SECONDS)
            self._finished_at = self._loop.time()
            if not console.is_terminal:
                console.line()  # Live ends its last frame with a newline only on a terminal
        finally:
            placing.cancel()
            for task in list(self._payments):
                task.cancel()
            await asyncio.gather(placing, *self._payments, return_exceptions=True)
        if placing.cancelled() or placing.exception() is not None:
            for tracked in self.tracked:
                if not tracked.placed and tracked.placement_error is None:
                    tracked.placement_error = f"not placed within {self.timeout:g} s"

    def _elapsed(self) -> float:
        return self._loop.time() - self._started

    async def _look(self) -> None:
        """Read the statuses of the placed orders still under way; pay those that await a bank transfer."""
        watching = {tracked.order_id: tracked for tracked in self.tracked if tracked.placed and not tracked.finished}
        for status, tracked in await self._statuses(watching):
            tracked.status = status
            waiting = status is OrderStatus.AWAITING_PAYMENT and not (tracked.paying or tracked.paid)
            if waiting and not tracked.bank_refusal and self._loop.time() - tracked.refused_at >= BANK_RETRY_SECONDS:
                self._pay(tracked)

    async def _statuses(self, watching: dict[str, Tracked]) -> list[tuple[OrderStatus, Tracked]]:
        ids = sorted(watching)
        found: list[tuple[OrderStatus, Tracked]] = []
        async with self.sessions() as session:
            for start in range(0, len(ids), IDS_PER_QUERY):
                rows = await session.execute(
                    select(OrderRecord.order_id, OrderRecord.status).where(
                        OrderRecord.order_id.in_(ids[start : start + IDS_PER_QUERY])
                    )
                )
                found.extend((OrderStatus(status), watching[order_id]) for order_id, status in rows)
        return found

    def _progress(self) -> RenderableType:
        """How many of the run's orders sit in each status, with placed and completed counts and elapsed time."""
        total = len(self.tracked)
        counts = Counter(self._where(tracked) for tracked in self.tracked)
        placed = sum(1 for tracked in self.tracked if tracked.placed)
        completed = counts.get(OrderStatus.COMPLETED.value, 0)
        headline = (
            f"run {self.run_id}: placed {placed}/{total}, completed {completed}/{total}, "
            f"{self._elapsed():.1f} s of at most {self.timeout:g} s"
        )
        table = Table("status", "orders", box=box.SIMPLE_HEAD)
        table.columns[1].justify = "right"
        for where in PROGRESS_ROWS:
            if counts.get(where):
                table.add_row(where, str(counts[where]))
        return Group(headline, table)

    @staticmethod
    def _where(tracked: Tracked) -> str:
        if tracked.placement_error is not None:
            return PLACEMENT_FAILED
        if not tracked.placed:
            return WAITING_TO_BE_PLACED
        return tracked.status.value if tracked.status is not None else WAITING_FOR_A_WORKER

    # --- the summary ---

    async def summary(self, options: RunOptions, started_at: datetime, receipt: StockReceipt) -> RunSummary:
        """The run's figures from the read model: counts, throughput, latency percentiles and failures by reason."""
        placed = [tracked for tracked in self.tracked if tracked.placed]
        times = await step_times(self.sessions, order_ids=[tracked.order_id for tracked in placed])
        reasons = await self._failure_reasons()
        completed = sum(1 for tracked in self.tracked if tracked.status is OrderStatus.COMPLETED)
        wall = (self._finished_at or self._loop.time()) - self._started
        placement = (self._placing_done or self._finished_at or self._loop.time()) - self._started
        mix = generator.OrderMix.of([tracked.order for tracked in self.tracked])
        by_failure: dict[str, list[str]] = {}
        for order_id, reason in reasons.items():
            by_failure.setdefault(reason, []).append(order_id)
        return RunSummary(
            run_id=self.run_id,
            seed=options.seed,
            mode=FulfilmentMode.AUTO.value,
            concurrency=options.concurrency,
            started_at=started_at,
            find_orders=f"oms order list --search {generator.external_id_prefix(self.run_id)}",
            simulated_seconds={
                "pick": self.settings.pick_seconds,
                "pack": self.settings.pack_seconds,
                "tracking_poll": self.settings.tracking_poll_seconds,
            },
            stock_receipt=receipt,
            generated=Generated(
                channels=mix.channels,
                currencies=mix.currencies,
                payment_methods=mix.payment_methods,
                countries=mix.countries,
                declining=mix.declining,
            ),
            orders=OrderCounts(
                requested=len(self.tracked),
                placed=len(placed),
                completed=completed,
                failed=len(reasons),
                by_status=dict(Counter(self._where(tracked) for tracked in self.tracked).most_common()),
            ),
            throughput=Throughput(
                wall_seconds=round(wall, 3),
                placement_seconds=round(placement, 3),
                placed_per_second=round(len(placed) / placement, 2) if placement > 0 else 0.0,
                completed_per_second=round(completed / wall, 2) if wall > 0 else 0.0,
            ),
            latency_seconds=Latency(
                to_completed=Durations.of(times.to_completed),
                in_status={
                    status.value: Durations.of(times.in_status[status.value])
                    for status in OrderStatus
                    if status.value in times.in_status
                },
            ),
            failures=[
                Failure(reason=reason, count=len(order_ids), orders=order_ids[:EXAMPLES_PER_FAILURE])
                for reason, order_ids in sorted(by_failure.items(), key=lambda item: (-len(item[1]), item[0]))
            ],
        )

    async def _failure_reasons(self) -> dict[str, str]:
        """Why each order that did not complete did not, by order id."""
        ended = {
            tracked.order_id: tracked
            for tracked in self.tracked
            if tracked.placed and tracked.status in DONE and tracked.status is not OrderStatus.COMPLETED
        }
        views = await self._views(sorted(ended))
        reasons: dict[str, str] = {}
        for tracked in self.tracked:
            if tracked.status is OrderStatus.COMPLETED:
                continue
            if tracked.placement_error is not None:
                reasons[tracked.order_id] = tracked.placement_error
            elif tracked.order_id in ended:
                reasons[tracked.order_id] = _why_ended(tracked, views.get(tracked.order_id, {}))
            elif tracked.bank_refusal is not None:
                reasons[tracked.order_id] = f"payment_received refused: {tracked.bank_refusal}"
            elif tracked.status is None:
                reasons[tracked.order_id] = (
                    f"not started by a worker within {self.timeout:g} s "
                    f"(is a worker polling task queue {self.settings.task_queue!r}?)"
                )
            else:
                reasons[tracked.order_id] = f"still in {tracked.status.value} after {self.timeout:g} s"
        return reasons

    async def _views(self, order_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The read model's views of some orders, as JSON objects."""
        views: dict[str, dict[str, Any]] = {}
        async with self.sessions() as session:
            for start in range(0, len(order_ids), IDS_PER_QUERY):
                rows = await session.execute(
                    select(OrderRecord.order_id, OrderRecord.view_json).where(
                        OrderRecord.order_id.in_(order_ids[start : start + IDS_PER_QUERY])
                    )
                )
                views.update((order_id, json.loads(view)) for order_id, view in rows)
        return views


def _why_ended(tracked: Tracked, view: dict[str, Any]) -> str:
    """An order that ended without completing, with the reason its view gives."""
    status = tracked.status
    assert status is not None
    if status is OrderStatus.PAYMENT_FAILED:
        failure = (view.get("payment") or {}).get("failure")
        return f"payment_failed: {_payment_failure(failure, tracked.order_id)}"
    refunds = view.get("refunds") or []
    reason = refunds[-1].get("reason") if refunds else None
    return f"{status.value}: {reason}" if reason else status.value


def _payment_failure(text: str | None, order_id: str) -> str:
    """A payment failure as a reason many orders share: the gateway's code, not this order's id and amount."""
    if not text:
        return "no reason recorded"
    declined = DECLINED.search(text)
    if declined:
        return f"declined ({declined.group(1)})"
    if text.startswith("no payment"):
        return "no payment arrived in time"
    return text.replace(f"order {order_id}: ", "")


# --- the summary as text ------------------------------------------------------------------------------------


def _summary_text(summary: RunSummary) -> RenderableType:
    """The run's summary as an operator reads it."""
    counts = summary.orders
    speed = summary.throughput
    simulated = summary.simulated_seconds
    headline = (
        f"[bold]Run {summary.run_id}[/bold]: {counts.requested} orders, seed {summary.seed}, {summary.mode} mode, "
        f"concurrency {summary.concurrency}\n"
        f"placed {counts.placed} in {speed.placement_seconds:.1f} s ([bold]{speed.placed_per_second:.1f}/s[/bold]); "
        f"completed {counts.completed} in {speed.wall_seconds:.1f} s "
        f"([bold]{speed.completed_per_second:.1f}/s[/bold]); failed {counts.failed}\n"
        f"simulated: pick {simulated['pick']:g} s, pack {simulated['pack']:g} s, tracking poll "
        f"{simulated['tracking_poll']:g} s; carrier transit is the worker's OMS_CARRIER_TRANSIT_SECONDS\n"
        f"stock receipt {summary.stock_receipt.receipt}: {sum(summary.stock_receipt.units.values())} units into "
        f"{summary.stock_receipt.warehouse}\n"
        f"find the orders: {summary.find_orders}"
    )
    latency = Table("seconds", "orders", "mean", "p50", "p95", "p99", box=box.SIMPLE_HEAD, title_justify="left")
    latency.title = "Latency"
    for column in range(1, 6):
        latency.columns[column].justify = "right"
    rows = [("placed to completed", summary.latency_seconds.to_completed)]
    rows += [(f"  in {status}", figures) for status, figures in summary.latency_seconds.in_status.items()]
    for name, figures in rows:
        latency.add_row(name, str(figures.count), *(_seconds(value) for value in _figures(figures)))
    generated = summary.generated
    mix = "\n".join(
        f"{label}: " + ", ".join(f"{name} {count}" for name, count in values.items())
        for label, values in (
            ("channels", generated.channels),
            ("currencies", generated.currencies),
            ("payment methods", generated.payment_methods),
            ("countries", generated.countries),
        )
    )
    parts: list[RenderableType] = [headline, latency, f"[bold]Generated[/bold]\n{escape(mix)}"]
    if summary.failures:
        failures = Table("reason", "orders", "e.g.", box=box.SIMPLE_HEAD, title="Failures", title_justify="left")
        failures.columns[1].justify = "right"
        for failure in summary.failures:
            failures.add_row(escape(failure.reason), str(failure.count), ", ".join(failure.orders[:2]))
        parts.append(failures)
    else:
        parts.append("[green]no failures: every order completed[/green]")
    return Group(*parts)


def _figures(durations: Durations) -> tuple[float | None, ...]:
    return durations.mean, durations.p50, durations.p95, durations.p99


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
