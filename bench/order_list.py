"""How fast `oms order list` reads the read model: 100,000 orders in SQLite, each list query timed.

Run with `make bench` (or `python -m bench.order_list [ROWS]`). Prints the median and the worst of several runs.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.order import Channel, PaymentMethod
from domain.status import OrderStatus
from store import migrate, orders
from store.db import create_engine, session_factory
from store.orders import OrderFilter
from store.schema import OrderRecord

ROWS = 100_000
RUNS = 7
BATCH = 5_000
FIRST_ORDER = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth")


def a_row(number: int, rng: random.Random) -> dict[str, object]:
    """One read-model row, placed a few minutes after the previous one."""
    status = rng.choice(list(OrderStatus))
    channel = rng.choice(list(Channel))
    name = rng.choice(NAMES)
    order_id = f"{channel.value}-B{number}"
    placed = FIRST_ORDER + timedelta(minutes=5 * number)
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


async def fill(sessions: async_sessionmaker[AsyncSession], rows: int) -> None:
    rng = random.Random(7)
    for start in range(0, rows, BATCH):
        async with sessions.begin() as session:
            await session.execute(
                insert(OrderRecord), [a_row(number, rng) for number in range(start, min(start + BATCH, rows))]
            )


async def timed(work: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Median and worst wall time of RUNS runs, in milliseconds (one warm-up run first)."""
    await work()
    times = []
    for _ in range(RUNS):
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
        await fill(sessions, rows)
        print(f"{rows:,} read-model rows written in {time.perf_counter() - started:.1f} s (SQLite, {sys.platform})")
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
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS))
