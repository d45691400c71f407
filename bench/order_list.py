"""How fast `oms order list` and `oms report` read the read model: 100,000 orders in SQLite, each query timed.

Run with `make bench` (or `python -m bench.order_list [ROWS]`). Prints the median and the worst of several runs.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.money import ExchangeRates
from domain.order import Channel, PaymentMethod
from domain.report import Period
from domain.status import OrderStatus
from store import migrate, orders
from store.db import create_engine, session_factory
from store.orders import OrderFilter
from store.reports import build_report
from store.schema import OrderRecord, OrderStatusChange

ROWS = 100_000
RUNS = 7
REPORT_RUNS = 3
BATCH = 5_000
FIRST_ORDER = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth")


def a_row(number: int, rng: random.Random, first: datetime = FIRST_ORDER) -> dict[str, object]:
    """One read-model row, placed a few minutes after the previous one (the first at `first`)."""
    status = rng.choice(list(OrderStatus))
    channel = rng.choice(list(Channel))
    name = rng.choice(NAMES)
    order_id = f"{channel.value}-B{number}"
    placed = first + timedelta(minutes=5 * number)
    return {
        "order_id": order_id,
        "workflow_id": f"order-{order_id}",
        "channel": channel.value,
        "external_id": f"B{number}",
        "status": status.value,
        "list": status.operator_list.value,
        "mode": "auto",
        "customer_name": name,
        "customer_email": f"{name.split()[0].lower()}{number}@example.com",
        "currency": "EUR",
        "total_minor": rng.randint(500, 50_000),
        "payment_method": rng.choice(list(PaymentMethod)).value,
        "tracking": f"SBX{number:09d}" if status is OrderStatus.COMPLETED else None,
        "placed_at": placed,
        "updated_at": placed,
        "version": 1,
        "view_json": "{}",
    }


# The way every order goes until its status, with seconds spent in each step: what `oms report` measures.
PATH = (
    (OrderStatus.RECEIVED, 1),
    (OrderStatus.PAID, 2),
    (OrderStatus.PICKING, 300),
    (OrderStatus.PACKING, 600),
    (OrderStatus.SHIPPED, 86_400),
    (OrderStatus.DELIVERED, 3_600),
    (OrderStatus.COMPLETED, 0),
)


def status_changes(row: dict[str, object]) -> list[dict[str, object]]:
    """The status changes of a row's order along PATH, up to its status (one change for the others)."""
    placed = row["placed_at"]
    assert isinstance(placed, datetime)
    steps = [status.value for status, _ in PATH]
    reached = steps.index(str(row["status"])) + 1 if row["status"] in steps else 1
    changes, at = [], placed
    for seq, (status, seconds) in enumerate(PATH[:reached]):
        changes.append({"order_id": row["order_id"], "seq": seq, "status": status.value, "at": at})
        at += timedelta(seconds=seconds)
    return changes


def batches(
    rows: int, first: datetime = FIRST_ORDER
) -> Iterator[tuple[list[dict[str, object]], list[dict[str, object]]]]:
    """`rows` rows and their status changes, BATCH rows at a time; the same rows on every run."""
    rng = random.Random(7)
    for start in range(0, rows, BATCH):
        batch = [a_row(number, rng, first) for number in range(start, min(start + BATCH, rows))]
        yield batch, [change for row in batch for change in status_changes(row)]


async def fill(sessions: async_sessionmaker[AsyncSession], rows: int) -> int:
    """Write the rows and their status changes; how many status changes."""
    written = 0
    for batch, changes in batches(rows):
        async with sessions.begin() as session:
            await session.execute(insert(OrderRecord), batch)
            await session.execute(insert(OrderStatusChange), changes)
        written += len(changes)
    return written


async def timed(work: Callable[[], Awaitable[object]], runs: int = RUNS) -> tuple[float, float]:
    """Median and worst wall time of `runs` runs, in milliseconds (one warm-up run first)."""
    await work()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


async def counts(sessions: async_sessionmaker[AsyncSession], where: OrderFilter) -> int:
    """The counts `oms order list` prints: per list, and how many match."""
    return await orders.count_orders(sessions, where, await orders.count_by_list(sessions, where))


async def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}")
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        started = time.perf_counter()
        changes = await fill(sessions, rows)
        print(
            f"{rows:,} read-model rows and {changes:,} status changes written in "
            f"{time.perf_counter() - started:.1f} s (SQLite, {sys.platform})"
        )
        last_week = FIRST_ORDER + timedelta(minutes=5 * rows) - timedelta(days=7)
        queries: dict[str, OrderFilter] = {
            "newest 20, all lists": OrderFilter(),
            "pending list": OrderFilter(operator_list="pending"),
            "status backordered": OrderFilter(status="backordered"),
            "marketplace, last 7 days": OrderFilter(channel="marketplace", since=last_week),
            "search 'grace'": OrderFilter(search="grace"),
            "search a tracking number": OrderFilter(search="SBX000012345"),
        }
        print(f"{'query':28} {'list 20 ms':>12} {'counts ms':>12}   (median / worst of {RUNS})")
        for name, where in queries.items():
            listing = await timed(partial(orders.list_orders, sessions, where=where, limit=20))
            counting = await timed(partial(counts, sessions, where))
            print(f"{name:28} {listing[0]:6.1f} /{listing[1]:5.1f} {counting[0]:6.1f} /{counting[1]:5.1f}")
        end = FIRST_ORDER + timedelta(minutes=5 * rows)
        periods = {
            "all time": Period(timezone="UTC"),
            "last 30 days": Period(since=end - timedelta(days=30), timezone="UTC"),
            "one day": Period(since=end - timedelta(days=2), until=end - timedelta(days=1), timezone="UTC"),
        }
        print(f"{'oms report':28} {'ms':>12}   (median / worst of {REPORT_RUNS})")
        for name, period in periods.items():
            report = await timed(partial(report_of, sessions, period), REPORT_RUNS)
            print(f"{name:28} {report[0]:6.0f} /{report[1]:5.0f}")
        await engine.dispose()


async def report_of(sessions: async_sessionmaker[AsyncSession], period: Period) -> object:
    """The whole `oms report` for a period, as the command builds it."""
    rates = ExchangeRates(base="EUR", rates={})
    return await build_report(
        sessions, period=period, rates=rates, low_units=5, overstock_units=200, now=datetime.now(UTC)
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS))
