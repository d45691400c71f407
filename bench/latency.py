"""How long an order waits at a steady arrival rate: placement to `paid` and to `completed`, open loop.

Run with `python -m bench.latency --rate R [--orders N]` (`bench.throughput` runs it at half the orders/s it
measured). A private stack as `bench.fulfilment_run` makes it (dev server as `oms up` starts it, one `oms worker`,
zero simulated durations); card and PayPal orders are placed at `R` per second on a fixed schedule, whatever the
orders before them are doing (open loop: a slow orchestrator is not given time to catch up). A watcher reads the read
model every 10 ms through a read-only engine, as the console does, and notes when each order is first seen `paid` and
`completed`; the latency is from the moment its placement began to that sighting.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.fulfilment_run import private_stack
from domain.order import FulfilmentMode, Order, PaymentMethod
from settings import Settings
from starter import generator
from starter.placement import place_order
from store import catalogue
from store.db import create_engine, session_factory
from store.schema import OrderRecord
from worker import connect, exit_now

ORDERS = 200
SEED = 3
WATCH_SECONDS = 0.01
TIMEOUT_SECONDS = 600.0
# The goal of issue 12 at half the measured maximum rate.
PAID_P99_GOAL_MS = 250.0
WATCHED = ("paid", "completed")


@dataclass
class Sightings:
    """When each order's placement began, and when the read model first showed it in each watched status."""

    placed: dict[str, float] = field(default_factory=dict)
    seen: dict[str, dict[str, float]] = field(default_factory=lambda: {status: {} for status in WATCHED})

    def latencies_ms(self, status: str) -> list[float]:
        """Milliseconds from placement to the first sighting in `status`, per order seen there."""
        return [(at - self.placed[order_id]) * 1000 for order_id, at in self.seen[status].items()]


@dataclass(frozen=True)
class Latency:
    """The run's figures."""

    rate: float
    orders: int
    paid_ms: list[float]
    completed_ms: list[float]
    placement_lag_ms: float


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))]


async def card_orders(sessions: async_sessionmaker[AsyncSession], settings: Settings, count: int) -> list[Order]:
    """`count` generated card and PayPal orders, with the stock they take received."""
    products = await catalogue.list_products(sessions)
    run_id = generator.new_run_id()
    mix = generator.generate_orders(products, settings.exchange_rates, count=6 * count, seed=SEED, run_id=run_id)
    orders = [
        order
        for order in mix
        if order.payment.method in (PaymentMethod.CARD, PaymentMethod.PAYPAL) and not generator.declines(order)
    ][:count]
    if len(orders) < count:
        raise SystemExit(f"the generator made only {len(orders)} card and PayPal orders, {count} wanted")
    for sku, quantity in generator.units_needed(orders).items():
        await catalogue.receive_stock(sessions, sku, quantity, settings.warehouse, f"bench-{run_id}")
    return orders


async def watch(
    readers: async_sessionmaker[AsyncSession], sightings: Sightings, wanted: int, stop: asyncio.Event
) -> None:
    """Note each order's first sighting in each watched status until every order is completed (or `stop`)."""
    completed = sightings.seen["completed"]
    while len(completed) < wanted and not stop.is_set():
        async with readers() as session:
            rows = await session.execute(
                select(OrderRecord.order_id, OrderRecord.status).where(OrderRecord.status.in_(WATCHED))
            )
            now = time.perf_counter()
            for order_id, status in rows:
                if status == "completed" and order_id not in sightings.seen["paid"]:
                    # Paid and completed between two looks: paid no later than now.
                    sightings.seen["paid"][order_id] = now
                sightings.seen[status].setdefault(order_id, now)
        await asyncio.sleep(WATCH_SECONDS)


async def measure(settings: Settings, rate: float, count: int) -> Latency:
    """Place `count` orders at `rate` per second on the stack of `settings` and watch them through."""
    # Placed with the worker's zero durations: the policy an order runs by is fixed when it is placed.
    settings = settings.model_copy(update={"pick_seconds": 0, "pack_seconds": 0, "warehouse_hours": "24/7"})
    engine = create_engine(settings.oms_database_url)
    reader = create_engine(settings.oms_database_url, read_only=True)
    try:
        sessions = session_factory(engine)
        orders = await card_orders(sessions, settings, count)
        client = await connect(settings)
        sightings = Sightings()
        stop = asyncio.Event()
        watching = asyncio.create_task(watch(session_factory(reader), sightings, count, stop))
        start = time.perf_counter()
        lags: list[float] = []

        async def place(number: int, order: Order) -> None:
            due = start + number / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            began = time.perf_counter()
            lags.append(began - due)
            sightings.placed[order.order_id] = began
            await place_order(client, settings, sessions, order, FulfilmentMode.AUTO)

        await asyncio.gather(*(place(number, order) for number, order in enumerate(orders)))
        try:
            await asyncio.wait_for(asyncio.shield(watching), TIMEOUT_SECONDS)
        except TimeoutError:
            stop.set()
            await watching
        return Latency(
            rate=rate,
            orders=count,
            paid_ms=sightings.latencies_ms("paid"),
            completed_ms=sightings.latencies_ms("completed"),
            placement_lag_ms=max(lags) * 1000,
        )
    finally:
        await reader.dispose()
        await engine.dispose()


async def latency_run(rate: float, count: int) -> Latency:
    """`measure` on a private stack of its own."""
    with tempfile.TemporaryDirectory(prefix="oms-bench-latency-") as directory:
        async with private_stack(Path(directory)) as settings:
            return await measure(settings, rate, count)


def report(latency: Latency) -> str:
    """The figures as lines."""

    def line(name: str, values: list[float]) -> str:
        if not values:
            return f"  {name:26} none seen"
        return (
            f"  {name:26} p50 {percentile(values, 0.5):7.0f}  p95 {percentile(values, 0.95):7.0f}  "
            f"p99 {percentile(values, 0.99):7.0f}  max {max(values):7.0f} ms  ({len(values)} of {latency.orders})"
        )

    lines = [
        f"open-loop arrivals: {latency.orders} card and PayPal orders at {latency.rate:.2f}/s, one worker, zero "
        f"durations (placements ran at most {latency.placement_lag_ms:.0f} ms behind schedule)",
        line("placement to paid", latency.paid_ms),
        line("placement to completed", latency.completed_ms),
    ]
    if latency.paid_ms:
        verdict = "met" if percentile(latency.paid_ms, 0.99) < PAID_P99_GOAL_MS else "NOT met"
        lines.append(f"  goal: p99 to paid under {PAID_P99_GOAL_MS:.0f} ms: {verdict}")
    return "\n".join(lines)


def positive_rate(text: str) -> float:
    """An argparse type: a rate above zero."""
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < rate <= 1000:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1000 orders/s, got {text}")
    return rate


async def main(rate: float, count: int) -> int:
    latency = await latency_run(rate, count)
    print(report(latency), flush=True)
    return 0 if len(latency.completed_ms) == count else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=positive_rate, required=True, help="orders placed per second")
    parser.add_argument("--orders", type=int, default=ORDERS, help=f"orders to place ({ORDERS})")
    arguments = parser.parse_args()
    if arguments.orders < 1:
        sys.exit("--orders: must be at least 1")
    exit_now(asyncio.run(main(arguments.rate, arguments.orders)))
