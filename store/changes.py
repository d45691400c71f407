"""A live feed of the statuses orders enter, read from the read model, for operator pages that update themselves.

One watcher per process follows the `order_status_changes` table and fans each change out to every subscriber:
on PostgreSQL it LISTENs for the NOTIFY the projection sends in the transaction that stores the change; on SQLite
it polls a cursor over the table's rowids on a read-only connection that never takes the write lock. Temporal is
never asked: the read model already says everything a list needs to know.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Integer, func, literal_column, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain.status import OperatorList, OrderStatus
from store.db import create_engine
from store.schema import OrderStatusChange

log = logging.getLogger("oms.changes")

# The PostgreSQL notification channel the projection announces status changes on.
CHANNEL = "oms_order_changes"
# Shown in pg_stat_activity, so an administrator can tell the feed's connection from the others.
LISTENER_NAME = "oms-order-changes"


@dataclass(frozen=True)
class OrderChange:
    """An order entered a status; `new` when it is the order's first status, i.e. the order has just arrived."""

    order_id: str
    seq: int
    status: OrderStatus
    at: datetime
    new: bool

    @classmethod
    def entered(cls, order_id: str, seq: int, status: str, at: datetime) -> OrderChange:
        """The change stored as row `seq` of the order's status changes."""
        return cls(order_id=order_id, seq=seq, status=OrderStatus(status), at=at, new=seq == 0)

    @property
    def operator_list(self) -> OperatorList:
        """The list the order is in now."""
        return self.status.operator_list

    def to_json(self) -> str:
        """The change as the NOTIFY payload (and as an SSE event's data)."""
        return json.dumps(
            {"order_id": self.order_id, "seq": self.seq, "status": self.status.value, "at": self.at.isoformat()},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, payload: str) -> OrderChange:
        """The change a NOTIFY payload announced; ValueError when the payload is not one."""
        try:
            fields = json.loads(payload)
            return cls.entered(
                str(fields["order_id"]), int(fields["seq"]), fields["status"], datetime.fromisoformat(fields["at"])
            )
        except (KeyError, TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"not an order change: {payload!r} ({error})") from error


class MissReason(StrEnum):
    """Why a subscriber may not have seen every change."""

    # It did not keep up: its queue was full and its oldest changes were dropped.
    SLOW_SUBSCRIBER = "slow_subscriber"
    # The watcher lost its database connection; changes committed before it was back were not heard.
    FEED_INTERRUPTED = "feed_interrupted"


@dataclass(frozen=True)
class ChangesMissed:
    """Some changes did not reach this subscriber: whatever the page lists must be read again."""

    reason: MissReason
    # How many changes were dropped; 0 when nobody can know (an interrupted feed).
    dropped: int = 0


FeedEvent = OrderChange | ChangesMissed


async def announce(session: AsyncSession, changes: Sequence[OrderChange]) -> None:
    """On PostgreSQL, tell every watcher about `changes` when the session's transaction commits; elsewhere nothing.

    One statement for all of them, and one notification each, so no payload comes near PostgreSQL's 8,000 bytes.
    """
    if not changes or session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(
        text("SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload"),
        {"channel": CHANNEL, "payloads": [change.to_json() for change in changes]},
    )


class Subscription:
    """One subscriber's changes, oldest first: iterate with `async for`; it ends when the subscriber leaves.

    The queue holds at most `limit` events; past that the oldest are dropped and the next event read is a
    `ChangesMissed(SLOW_SUBSCRIBER, dropped)`, followed by the newest changes it kept.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._queue: deque[FeedEvent] = deque()
        self._dropped = 0
        self._overflowed = False
        self._ready = asyncio.Event()
        self._closed = False

    def __aiter__(self) -> AsyncIterator[FeedEvent]:
        return self

    async def __anext__(self) -> FeedEvent:
        while True:
            if self._overflowed:
                missed = ChangesMissed(MissReason.SLOW_SUBSCRIBER, self._dropped)
                self._overflowed, self._dropped = False, 0
                return missed
            if self._queue:
                return self._queue.popleft()
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()

    def _offer(self, event: FeedEvent) -> None:
        if self._closed:
            return
        if len(self._queue) >= self._limit:
            dropped = self._queue.popleft()
            self._overflowed = True
            self._dropped += isinstance(dropped, OrderChange)
        self._queue.append(event)
        self._ready.set()

    def _close(self) -> None:
        # Whatever was queued goes with it: a subscriber that left reads nothing more.
        self._closed = True
        self._queue.clear()
        self._overflowed = False
        self._ready.set()

    def _finish(self) -> None:
        # The feed ends: the subscriber still reads what was queued, then its iteration stops.
        self._closed = True
        self._ready.set()


class _Source(Protocol):
    async def start(self) -> None: ...

    async def run(self) -> None: ...

    async def close(self) -> None: ...


class OrderChanges:
    """The process's one watcher of order status changes, fanned out to any number of subscribers.

    `async with OrderChanges.watch(url) as changes:` starts it; only changes committed after `watch` has entered
    are delivered. `async with changes.subscribe() as subscription: async for event in subscription:` follows it.
    """

    def __init__(self, queue_limit: int) -> None:
        if queue_limit < 1:
            raise ValueError(f"queue_limit: a subscriber must be able to hold at least one change, not {queue_limit}")
        self._queue_limit = queue_limit
        self._subscriptions: set[Subscription] = set()

    @classmethod
    @asynccontextmanager
    async def watch(
        cls,
        database: str | URL | AsyncEngine,
        *,
        poll_seconds: float = 0.25,
        queue_limit: int = 256,
        keepalive_seconds: float = 10.0,
    ) -> AsyncIterator[OrderChanges]:
        """Watch the OMS database at `database` (a URL or an engine, whose URL is used) until the block ends.

        `poll_seconds` paces the SQLite cursor; `keepalive_seconds` how often PostgreSQL's listening connection
        is checked; `queue_limit` is each subscriber's queue.
        """
        url = database.url if isinstance(database, AsyncEngine) else make_url(database)
        changes = cls(queue_limit)
        source = _source(url, changes._publish, poll_seconds=poll_seconds, keepalive_seconds=keepalive_seconds)
        try:
            await source.start()
            following = asyncio.create_task(source.run(), name="order changes")
            try:
                yield changes
            finally:
                following.cancel()
                await asyncio.wait([following])
                changes._finish()
        finally:
            await source.close()

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A subscription for the block's duration: every change from now on, until the block ends."""
        subscription = Subscription(self._queue_limit)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
            subscription._close()

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open."""
        return len(self._subscriptions)

    def _publish(self, event: FeedEvent) -> None:
        # Never awaits: a subscriber that does not read only overflows its own queue.
        for subscription in self._subscriptions:
            subscription._offer(event)

    def _finish(self) -> None:
        for subscription in self._subscriptions:
            subscription._finish()


def _source(
    url: URL, publish: Callable[[FeedEvent], None], *, poll_seconds: float, keepalive_seconds: float
) -> _Source:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _ChangeCursor(url, publish, poll_seconds)
    if backend == "postgresql":
        return _Listener(url, publish, keepalive_seconds)
    raise ValueError(f"database: order changes can be watched on SQLite or PostgreSQL, not on {backend}")


class _ChangeCursor:
    """SQLite: reads the status changes past the last rowid it saw, in short read-only transactions."""

    # Rows read per query; a full batch is followed by the next one at once, so a burst is caught up quickly.
    BATCH = 500

    def __init__(self, url: URL, publish: Callable[[FeedEvent], None], poll_seconds: float) -> None:
        self._engine = create_engine(url.render_as_string(hide_password=False), read_only=True)
        self._publish = publish
        self._poll_seconds = poll_seconds
        self._cursor = 0

    async def start(self) -> None:
        async with self._engine.connect() as connection:
            latest = select(func.coalesce(func.max(_rowid), 0)).select_from(OrderStatusChange)
            self._cursor = int(await connection.scalar(latest) or 0)

    async def run(self) -> None:
        while True:
            try:
                read = await self._read()
            except SQLAlchemyError as error:
                # The cursor stays where it was, so the next poll delivers whatever this one could not.
                log.warning("could not read order changes, trying again: %s", error)
                read = 0
            if read < self.BATCH:
                await asyncio.sleep(self._poll_seconds)

    async def _read(self) -> int:
        query = (
            select(
                _rowid,
                OrderStatusChange.order_id,
                OrderStatusChange.seq,
                OrderStatusChange.status,
                OrderStatusChange.at,
            )
            .where(_rowid > self._cursor)
            .order_by(_rowid)
            .limit(self.BATCH)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        for rowid, order_id, seq, status, at in rows:
            self._cursor = rowid
            try:
                change = OrderChange.entered(order_id, seq, status, at)
            except ValueError as error:
                log.warning("ignoring status change %s of order %s: %s", seq, order_id, error)
                continue
            self._publish(change)
        return len(rows)

    async def close(self) -> None:
        await self._engine.dispose()


# SQLite's rowids only grow while rows are only added, and writers take turns, so rowid order is commit order.
_rowid = literal_column("order_status_changes.rowid", Integer)


class _Listener:
    """PostgreSQL: one dedicated connection LISTENing for the projection's notifications, reconnected when lost."""

    FIRST_RETRY_SECONDS = 0.5
    LAST_RETRY_SECONDS = 5.0

    def __init__(self, url: URL, publish: Callable[[FeedEvent], None], keepalive_seconds: float) -> None:
        asyncpg_url = url.set(drivername="postgresql+asyncpg")
        _, self._connect_kwargs = asyncpg_url.get_dialect()().create_connect_args(asyncpg_url)
        server_settings = dict(self._connect_kwargs.get("server_settings") or {})
        server_settings.setdefault("application_name", LISTENER_NAME)
        self._connect_kwargs["server_settings"] = server_settings
        self._publish = publish
        self._keepalive_seconds = keepalive_seconds
        self._connection: Any = None
        self._lost = asyncio.Event()

    async def start(self) -> None:
        self._connection = await self._listen()

    async def run(self) -> None:
        while True:
            await self._until_lost()
            log.warning("lost the connection that listens for order changes; reconnecting")
            self._connection.terminate()
            self._connection = await self._reconnect()
            # Whatever was committed while nobody listened is gone for good: pages must read their lists again.
            self._publish(ChangesMissed(MissReason.FEED_INTERRUPTED))

    async def close(self) -> None:
        if self._connection is None:
            return
        try:
            await self._connection.close(timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._connection.terminate()

    async def _listen(self) -> Any:
        self._lost = asyncio.Event()
        lost = self._lost
        connection = await asyncpg.connect(**self._connect_kwargs)
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(CHANNEL, self._heard)
        except BaseException:
            connection.terminate()
            raise
        return connection

    def _heard(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            change = OrderChange.from_json(payload)
        except ValueError as error:
            log.warning("ignoring a notification on %s: %s", CHANNEL, error)
            return
        self._publish(change)

    async def _until_lost(self) -> None:
        # A connection can die without a word (a dropped network); a periodic query finds out.
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self._keepalive_seconds)
                return
            try:
                await asyncio.wait_for(self._connection.fetchval("SELECT 1"), self._keepalive_seconds)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return

    async def _reconnect(self) -> Any:
        delay = self.FIRST_RETRY_SECONDS
        while True:
            try:
                return await self._listen()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("could not listen for order changes, trying again in %.1f s: %s", delay, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.LAST_RETRY_SECONDS)
