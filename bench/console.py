"""How fast the operator console answers on 100,000 orders in SQLite: its pages over HTTP, and live pages' events.

Run with `make bench` (or `python -m bench.console [--orders N] [--requests N] [--live-pages N]`). It writes the
orders of bench/order_list.py, each with its real view as the projection stores it, placed every five minutes up to
now, into a fresh SQLite OMS database made by the migrations, with the demo catalogue and one operator. The console
is `oms web` in a subprocess, so the client's work does not take the server's event loop; Temporal is not started
(these pages never reach it). A logged-in client times each page; then live pages each hold an `/events` stream
open while one order's status changes and one new order arrives, and the time from the commit to each page's event
is measured, as is every page asking for its refresh at once, as the browsers do on such an event.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.machine import cpu_model, load_average
from bench.order_list import batches
from domain.figures import percentile
from domain.money import Money
from domain.order import Address, Channel, Customer, FulfilmentMode, Line, PaymentMethod
from domain.status import OrderStatus
from domain.view import OrderView, PaymentView, ShipmentView, Totals
from domain.view import TimelineEntry as Entry
from store import migrate, operators, orders
from store.catalogue import DEMO_CATALOGUE, seed_demo_catalogue
from store.db import create_engine, session_factory
from store.operators import Role
from store.schema import OrderRecord, OrderStatusChange

ORDERS = 100_000
REQUESTS = 50
WARM_UP = 3
LIVE_PAGES = 50
TARGET_MS = 100.0
ARRIVAL_TIMEOUT_SECONDS = 10.0
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
OPERATOR = "bench@shop.example"
# The one operator of a database that exists for the run only.
PASSWORD = "bench console password"  # noqa: S105
# Every generated order's shipping fee, in cents; the rest of its total is its one line.
SHIPPING_MINOR = 490

OMS = Path(sys.executable).parent / "oms"
# The header a live refresh sends (security.BACKGROUND_HEADER): it reads the session without touching it.
BACKGROUND = {"X-OMS-Background": "1"}
_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Timings:
    """Milliseconds measured for one page, event or refresh, of `wanted` measurements (the missing ones timed out);
    `counted` is what the report calls one that came."""

    name: str
    ms: list[float]
    wanted: int
    counted: str = "arrived"

    @property
    def p50(self) -> float:
        """The median, nearest rank."""
        return percentile(sorted(self.ms), 50)

    @property
    def p95(self) -> float:
        """The 95th percentile, nearest rank."""
        return percentile(sorted(self.ms), 95)

    @property
    def worst(self) -> float:
        """The slowest."""
        return max(self.ms)

    def line(self, target_ms: float | None = None) -> str:
        """One line of the report: p50, p95, max and, for a page, whether p95 meets the target."""
        if not self.ms:
            return f"  {self.name:52} {'-':>8} {'-':>8} {'-':>8}   0 of {self.wanted} {self.counted}"
        figures = f"  {self.name:52} {self.p50:8.1f} {self.p95:8.1f} {self.worst:8.1f}"
        if target_ms is None:
            return f"{figures}   {len(self.ms)} of {self.wanted} {self.counted}"
        verdict = "meets" if self.p95 < target_ms else "MISSES"
        return f"{figures}   {verdict} p95 < {target_ms:.0f} ms"


@dataclass(frozen=True)
class Results:
    """Everything the bench measured."""

    orders: int
    status_changes: int
    write_seconds: float
    pages: list[Timings]
    events: list[Timings]
    refreshes: list[Timings]


# --- the shop ------------------------------------------------------------------------------------------------


def view_of(row: dict[str, object], changes: list[dict[str, object]]) -> OrderView:
    """The view the projection would have stored for a generated row: its customer, one line, payment, timeline."""
    order_id, currency, status = str(row["order_id"]), str(row["currency"]), OrderStatus(str(row["status"]))
    total = _money(int(str(row["total_minor"])), currency)
    placed = row["placed_at"]
    assert isinstance(placed, datetime)
    product = DEMO_CATALOGUE[int(str(row["external_id"]).removeprefix("B")) % len(DEMO_CATALOGUE)]
    line = Line(sku=product.sku, quantity=1, unit_price=_money(total.minor - SHIPPING_MINOR, currency))
    name = str(row["customer_name"])
    timeline = [_entry(change) for change in changes]
    paid = len(timeline) > 1
    tracking = row["tracking"]
    return OrderView(
        order_id=order_id,
        workflow_id=str(row["workflow_id"]),
        channel=Channel(str(row["channel"])),
        external_id=str(row["external_id"]),
        status=status,
        operator_list=status.operator_list,
        mode=FulfilmentMode(str(row["mode"])),
        customer=Customer(name=name, email=str(row["customer_email"])),
        shipping_address=Address(
            name=name, line1="12 Analytical Row", postal_code="10115", city="Berlin", country="DE"
        ),
        lines=[line],
        totals=Totals(subtotal=line.unit_price, shipping=_money(SHIPPING_MINOR, currency), total=total),
        payment=PaymentView(
            method=PaymentMethod(str(row["payment_method"])),
            reference=f"pay-{order_id}",
            state="captured" if paid else "pending",
            captured=total if paid else None,
            gateway_reference=f"gw-{order_id}" if paid else None,
            captured_at=timeline[1].at if paid else None,
        ),
        shipment=ShipmentView(carrier="sandbox", tracking=str(tracking), shipped_at=timeline[-1].at)
        if tracking
        else None,
        placed_at=placed,
        updated_at=timeline[-1].at,
        version=len(timeline),
        timeline=timeline,
    )


@cache
def _money(minor: int, currency: str) -> Money:
    # Money is immutable and its checks cost more than the rest of a view: each amount is built once.
    return Money.from_minor(minor, currency)


def _entry(change: dict[str, object]) -> Entry:
    at = change["at"]
    assert isinstance(at, datetime)
    status = OrderStatus(str(change["status"]))
    return Entry(at=at, event=status.value, status=status)


async def write_shop(
    database_url: str, orders_wanted: int, now: datetime, progress: Callable[[int, int], None]
) -> tuple[int, float]:
    """A fresh OMS database: migrations, demo catalogue, one operator, and the orders placed every five minutes
    up to `now` with their status changes and views; how many status changes, and the seconds writing took."""
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        await seed_demo_catalogue(sessions)
        await operators.add_operator(sessions, OPERATOR, PASSWORD, Role.OPERATOR)
        started = time.perf_counter()
        written, changes_written = 0, 0
        for rows, changes in batches(orders_wanted, first=now - timedelta(minutes=5 * orders_wanted)):
            by_order: dict[object, list[dict[str, object]]] = {}
            for change in changes:
                by_order.setdefault(change["order_id"], []).append(change)
            for row in rows:
                view = view_of(row, by_order[row["order_id"]])
                row.update(updated_at=view.updated_at, version=view.version, view_json=view.model_dump_json())
            async with sessions.begin() as session:
                await session.execute(insert(OrderRecord), rows)
                await session.execute(insert(OrderStatusChange), changes)
            written += len(rows)
            changes_written += len(changes)
            progress(written, orders_wanted)
        return changes_written, time.perf_counter() - started
    finally:
        await engine.dispose()


def show_progress(written: int, wanted: int) -> None:
    """One line that counts the orders written, rewritten in place."""
    print(f"\r  writing orders: {written:,} of {wanted:,}", end="" if written < wanted else "\n", flush=True)


# --- the console -----------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def console_environment(var: Path, database_url: str, port: int) -> dict[str, str]:
    """The console's environment: this var dir and database, a free port, and a Temporal address nobody serves."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
    env.update(
        OMS_VAR_DIR=str(var),
        OMS_DATABASE_URL=database_url,
        OMS_WEB_HOST="127.0.0.1",
        OMS_WEB_PORT=str(port),
        # Pages that would reach Temporal fail fast instead of finding a developer's own server.
        OMS_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        OMS_DEMO_DATA="false",
        OMS_LOG_LEVEL="warning",
    )
    return env


@asynccontextmanager
async def served_console(var: Path, database_url: str) -> AsyncIterator[str]:
    """`oms web` on a free port, until the block ends; its base URL."""
    port = free_port()
    log_path = var / "console.log"
    with log_path.open("ab") as log:
        # Its output goes to a log, shown only if it fails to start.
        process = await asyncio.create_subprocess_exec(
            str(OMS),
            "web",
            env=console_environment(var, database_url, port),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_serving(process, url, log_path)
        yield url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_until_serving(process: asyncio.subprocess.Process, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    async with httpx.AsyncClient(base_url=url) as probe:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise SystemExit(f"the console exited with status {process.returncode}:\n{_read(log_path)}")
            try:
                if (await probe.get("/login")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"the console did not answer within {START_TIMEOUT_SECONDS:.0f} s:\n{_read(log_path)}")


def _read(log_path: Path) -> str:
    return log_path.read_text(errors="replace")


@asynccontextmanager
async def logged_in(url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the console with the operator's session cookie, as a browser after logging in."""
    async with httpx.AsyncClient(base_url=url, timeout=ARRIVAL_TIMEOUT_SECONDS * 3) as client:
        form = await client.get("/login")
        token = _FORM_TOKEN.search(form.text)
        if token is None:
            raise SystemExit(f"the login page has no form token: {form.status_code} {form.text[:300]}")
        answer = await client.post(
            "/login", data={"csrf_token": token.group(1), "email": OPERATOR, "password": PASSWORD, "next": "/"}
        )
        if answer.status_code != 303:
            raise SystemExit(f"could not log in as {OPERATOR}: {answer.status_code} {answer.text[:300]}")
        yield client


# --- pages -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """A page to time: what the report calls it, its path, and whether a live refresh (not a person) asks."""

    name: str
    path: str
    background: bool = False


def pages_to_time(now: datetime) -> list[Page]:
    """The home page, its live fragment, the pending list, a filtered list, a search and a deep page."""
    week_ago = (now - timedelta(days=7)).date().isoformat()
    return [
        Page("home /", "/"),
        Page("glance /glance (live refresh)", "/glance", background=True),
        Page("pending list", "/orders?list=pending"),
        Page("pending, marketplace, last 7 days", f"/orders?list=pending&channel=marketplace&since={week_ago}"),
        Page("search 'grace'", "/orders?search=grace"),
        Page("pending list, page 50", "/orders?list=pending&page=50"),
    ]


async def time_page(client: httpx.AsyncClient, page: Page, requests: int, warm_up: int = WARM_UP) -> Timings:
    """`requests` requests of the page one after another, after `warm_up` untimed ones; each must answer 200."""
    headers = BACKGROUND if page.background else {}
    times = []
    for attempt in range(warm_up + requests):
        started = time.perf_counter()
        response = await client.get(page.path, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{page.path}: status {response.status_code}, not 200: {response.text[:300]}")
        if attempt >= warm_up:
            times.append(elapsed)
    return Timings(page.name, times, requests)


# --- live pages ------------------------------------------------------------------------------------------------


@dataclass
class LivePage:
    """One logged-in page with its `/events` stream open: every event it received, by name, with when it arrived."""

    client: httpx.AsyncClient
    events: asyncio.Queue[tuple[str, float]] = field(default_factory=asyncio.Queue)
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    async def follow(self) -> None:
        """Read the stream until it ends, as a browser's EventSource: an event is complete at its blank line."""
        headers = {**BACKGROUND, "Accept": "text/event-stream"}
        async with self.client.stream("GET", "/events", headers=headers) as stream:
            if stream.status_code != 200:
                raise SystemExit(f"/events: status {stream.status_code}, not 200")
            name = ""
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    name = line.removeprefix("event:").strip()
                elif not line and name:
                    self.events.put_nowait((name, time.perf_counter()))
                    self.opened.set()
                    name = ""

    async def arrival(self, wanted: set[str], timeout: float) -> float | None:
        """When the next event named one of `wanted` arrived (perf_counter seconds); None if none came in time."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    name, at = await self.events.get()
                    if name in wanted:
                        return at
        except TimeoutError:
            return None


@asynccontextmanager
async def live_pages(url: str, count: int) -> AsyncIterator[list[LivePage]]:
    """`count` logged-in pages, each with its stream open (its first event received), until the block ends.

    Each page opens its stream right after logging in: a login connection left idle while the others log in
    would reach the server's keep-alive timeout and could be closed just as the stream's request goes out on it.
    """
    async with AsyncExitStack() as stack:
        pages: list[LivePage] = []
        following: list[asyncio.Task[None]] = []
        try:
            for _ in range(count):
                page = LivePage(await stack.enter_async_context(logged_in(url)))
                pages.append(page)
                following.append(asyncio.create_task(page.follow()))
                await _all_open([page], following[-1:])
            for page in pages:
                # The opening `orders-changed` says the stream is open; it is not a change being measured.
                while not page.events.empty():
                    page.events.get_nowait()
            yield pages
        finally:
            for task in following:
                task.cancel()
            await asyncio.gather(*following, return_exceptions=True)


async def _all_open(pages: list[LivePage], following: list[asyncio.Task[None]]) -> None:
    opened: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*(page.opened.wait() for page in pages)))
    watched: list[asyncio.Future[Any]] = [opened, *following]
    # A stream that ends before every page is open has failed: its error says why.
    done, _ = await asyncio.wait(watched, timeout=START_TIMEOUT_SECONDS, return_when=asyncio.FIRST_COMPLETED)
    if opened in done:
        return
    opened.cancel()
    for task in done:
        task.result()
    raise SystemExit(f"{len(pages)} live pages did not all open within {START_TIMEOUT_SECONDS:.0f} s")


async def arrivals(
    name: str, pages: list[LivePage], wanted: set[str], committed: float, timeout: float = ARRIVAL_TIMEOUT_SECONDS
) -> Timings:
    """Milliseconds from `committed` to each page's first event named one of `wanted`."""
    arrived = await asyncio.gather(*(page.arrival(wanted, timeout) for page in pages))
    return Timings(name, [(at - committed) * 1000 for at in arrived if at is not None], len(pages))


async def move_an_order(sessions: async_sessionmaker[AsyncSession]) -> str:
    """Move the newest paid order to picking through the projection; its id."""
    newest_paid = await orders.list_orders(sessions, status=OrderStatus.PAID.value, limit=1)
    if not newest_paid:
        raise SystemExit("no paid order to move on: write more orders")
    view = OrderView.model_validate_json(newest_paid[0].view_json)
    at = datetime.now(UTC)
    picking = view.model_copy(
        update={
            "status": OrderStatus.PICKING,
            "operator_list": OrderStatus.PICKING.operator_list,
            "updated_at": at,
            "version": view.version + 1,
            "timeline": [*view.timeline, Entry(at=at, event="picking", status=OrderStatus.PICKING)],
        }
    )
    await orders.project(sessions, picking)
    return view.order_id


async def a_status_change(sessions: async_sessionmaker[AsyncSession], pages: list[LivePage]) -> Timings:
    """Move an order on; when each page hears of that order."""
    order_id = await move_an_order(sessions)
    committed = time.perf_counter()
    wanted = {f"order-{order_id.encode().hex()}", "orders-changed"}
    return await arrivals("status change -> order-<id> event", pages, wanted, committed)


async def time_page_after_changes(
    client: httpx.AsyncClient,
    page: Page,
    requests: int,
    sessions: async_sessionmaker[AsyncSession],
    listener: LivePage,
) -> Timings:
    """The page read afresh: before each request an order moves on, and the request goes out once the console has
    heard of it (the listener's `orders-changed`), so nothing the console shares between pages is still valid."""
    headers = BACKGROUND if page.background else {}
    times = []
    for _ in range(requests):
        await move_an_order(sessions)
        if await listener.arrival({"orders-changed"}, ARRIVAL_TIMEOUT_SECONDS) is None:
            raise SystemExit("the console did not hear of an order change within its timeout")
        started = time.perf_counter()
        response = await client.get(page.path, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{page.path}: status {response.status_code}, not 200: {response.text[:300]}")
    return Timings(f"{page.name}, after a change", times, requests)


async def refreshes(pages: list[LivePage], path: str) -> Timings:
    """Every page asks for `path` at once, as each open page does when `orders-changed` arrives; when each answer
    is complete, in milliseconds from the start."""

    async def refresh(page: LivePage) -> float:
        response = await page.client.get(path, headers=BACKGROUND)
        if response.status_code != 200:
            raise SystemExit(f"{path}: status {response.status_code}, not 200: {response.text[:300]}")
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    answered = await asyncio.gather(*(refresh(page) for page in pages))
    return Timings(f"{len(pages)} pages refresh {path}", list(answered), len(pages), counted="answered")


async def a_new_order(sessions: async_sessionmaker[AsyncSession], pages: list[LivePage]) -> Timings:
    """A new order's first status through the projection; when each page receives its `new-order` toast."""
    newest = await orders.list_orders(sessions, limit=1)
    template = OrderView.model_validate_json(newest[0].view_json)
    at = datetime.now(UTC)
    external_id = f"N{int(at.timestamp())}"
    order_id = f"{template.channel.value}-{external_id}"
    placed = template.model_copy(
        update={
            "order_id": order_id,
            "workflow_id": f"order-{order_id}",
            "external_id": external_id,
            "status": OrderStatus.RECEIVED,
            "operator_list": OrderStatus.RECEIVED.operator_list,
            "payment": PaymentView(method=template.payment.method, reference=f"pay-{order_id}"),
            "shipment": None,
            "placed_at": at,
            "updated_at": at,
            "version": 1,
            "timeline": [Entry(at=at, event="received", status=OrderStatus.RECEIVED)],
        }
    )
    await orders.project(sessions, placed)
    committed = time.perf_counter()
    return await arrivals("new order -> new-order toast", pages, {"new-order"}, committed)


# --- the bench -----------------------------------------------------------------------------------------------


async def run(
    var: Path,
    orders_wanted: int,
    requests: int,
    live: int,
    progress: Callable[[int, int], None] = show_progress,
) -> Results:
    """Write the shop into `var`, serve the console from it, and measure its pages and live events."""
    database_url = f"sqlite+aiosqlite:///{(var / 'oms.db').resolve()}"
    now = datetime.now(UTC)
    changes, write_seconds = await write_shop(database_url, orders_wanted, now, progress)
    async with served_console(var, database_url) as url:
        engine = create_engine(database_url)
        try:
            sessions = session_factory(engine)
            async with logged_in(url) as client:
                # Read again and again with nothing changing: what many pages asking for the same thing cost.
                pages = [await time_page(client, page, requests) for page in pages_to_time(now)]
                # Read afresh after each change: what the first page to ask after a change waits for.
                async with live_pages(url, 1) as (listener,):
                    pages += [
                        await time_page_after_changes(client, page, max(1, requests // 2), sessions, listener)
                        for page in pages_to_time(now)
                    ]
            async with live_pages(url, live) as open_pages:
                status_change = await a_status_change(sessions, open_pages)
                home = await refreshes(open_pages, "/glance")
                listed = await refreshes(open_pages, "/orders/table?list=pending")
                new_order = await a_new_order(sessions, open_pages)
        finally:
            await engine.dispose()
    return Results(orders_wanted, changes, write_seconds, pages, [status_change, new_order], [home, listed])


def machine() -> str:
    """The facts a reader needs to compare figures between machines."""
    # Other work on the machine slows every figure; the load says how busy it was when the bench started.
    return (
        f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, load average {load_average()}"
    )


def report(results: Results, requests: int) -> str:
    """The figures as plain lines."""
    lines = [
        f"  {results.orders:,} orders and {results.status_changes:,} status changes written in "
        f"{results.write_seconds:.1f} s",
        f"  {'page (ms, ' + str(requests) + ' requests each)':52} {'p50':>8} {'p95':>8} {'max':>8}",
        *(timings.line(TARGET_MS) for timings in results.pages),
        f"  {'live pages (ms from the commit)':52} {'p50':>8} {'p95':>8} {'max':>8}",
        *(timings.line() for timings in results.events),
        f"  {'their refreshes, all at once (ms)':52} {'p50':>8} {'p95':>8} {'max':>8}",
        *(timings.line() for timings in results.refreshes),
    ]
    return "\n".join(lines)


async def main(orders_wanted: int, requests: int, live: int) -> None:
    print(f"console benchmark on {machine()}", flush=True)
    print(
        f"  SQLite OMS database, `oms web` (uvicorn) in a subprocess, {live} live pages, "
        f"target p95 < {TARGET_MS:.0f} ms",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="oms-bench-console-") as directory:
        results = await run(Path(directory), orders_wanted, requests, live)
    print(report(results, requests), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=ORDERS, help=f"orders in the database (default {ORDERS:,})")
    parser.add_argument("--requests", type=int, default=REQUESTS, help=f"timed requests per page ({REQUESTS})")
    parser.add_argument("--live-pages", type=int, default=LIVE_PAGES, help=f"open live pages ({LIVE_PAGES})")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.orders, arguments.requests, arguments.live_pages))
