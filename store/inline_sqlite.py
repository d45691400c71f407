"""SQLite connections for SQLAlchemy's asyncio engine that run each call on the event loop, not in a thread.

aiosqlite hands every call (cursor, execute, fetch, close: four per statement) to a thread of its own and wakes the
event loop when it is done; a statement of a step's transaction, which SQLite answers in microseconds, costs about
three times more in that hand-over than in SQLite. Here a call runs where it is made. The one thing SQLite may take
long for is a lock another connection holds (a writer's `BEGIN IMMEDIATE` while another process writes): so a
connection's busy timeout is zero, a call that finds the database locked is made again in a thread with the patience
of the configured timeout, and the event loop carries on meanwhile; a caller cancelled during that wait hears of it
once the call in the thread has returned, since a connection must never be used by two threads at once (sqlite3
crashes). In WAL mode nothing else waits: readers never do, and a writer holds its lock from its BEGIN to its
COMMIT.

A call that reads many rows keeps the loop for as long as SQLite takes; engines that serve long reports keep
aiosqlite (`store.db.create_engine` uses this for writers only).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

ResultT = TypeVar("ResultT")

SQLITE_BUSY = 5
# Threads for calls waiting on another connection's lock: their own, so that waiting writers never take the threads
# the lock's holder may need to get on (the loop's default executor resolves host names, hashes passwords), and
# never wait for them. More waiters than this queue for a thread, which is free again once the lock is.
LOCK_WAIT_THREADS = 32
_executor: ThreadPoolExecutor | None = None


def _lock_waits() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=LOCK_WAIT_THREADS, thread_name_prefix="sqlite-lock-wait")
    return _executor


class InlineCursor:
    """An aiosqlite-shaped cursor over a sqlite3 cursor: every call runs at once, on the caller's thread."""

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._cursor = connection.raw.cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def description(self) -> Any:
        """The result's columns, as sqlite3 gives them."""
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed."""
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        """The rowid of the last row inserted."""
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        """Rows `fetchmany` returns by default."""
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        """Run one statement; a locked database is waited for in a thread."""
        await self._connection.patiently(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> InlineCursor:
        """Run one statement for each set of parameters."""
        await self._connection.patiently(self._cursor.executemany, sql, list(parameters))
        return self

    async def fetchone(self) -> Any:
        """The next row, or None."""
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to `size` more rows."""
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        """Every row left."""
        return self._cursor.fetchall()

    async def setinputsizes(self, *sizes: Any) -> None:
        """Nothing to do: SQLite has no input sizes (DB-API asks for the method)."""

    async def close(self) -> None:
        """Let the statement go."""
        self._cursor.close()


class _Immediately:
    """Runs what SQLAlchemy's aiosqlite adapter queues for aiosqlite's thread (it sets the isolation level so)."""

    def put_nowait(self, item: tuple[asyncio.Future[None], Callable[[], None]]) -> None:
        future, function = item
        try:
            function()
        except Exception as error:
            future.set_exception(error)
        else:
            future.set_result(None)


class InlineConnection:
    """An aiosqlite-shaped connection over a sqlite3 connection whose busy timeout is zero (see the module)."""

    def __init__(self, raw: sqlite3.Connection, patience_ms: int) -> None:
        self.raw = raw
        self.patience_ms = patience_ms
        # The names SQLAlchemy's aiosqlite adapter reaches for: the sqlite3 connection, while open, and the queue.
        self._conn: sqlite3.Connection | None = raw
        self._connection: sqlite3.Connection | None = raw
        self._tx = _Immediately()

    @property
    def isolation_level(self) -> str | None:
        """sqlite3's isolation level (None: SQLAlchemy issues BEGIN itself)."""
        return self.raw.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self.raw.isolation_level = value  # type: ignore[assignment]  # sqlite3 checks the value itself

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        return self.raw.in_transaction

    def cursor(self) -> InlineCursor:
        """A new cursor (aiosqlite's is awaited; SQLAlchemy enters it as an async context)."""
        return InlineCursor(self)

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        """Run one statement on a new cursor."""
        cursor = self.cursor()
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        """Commit the open transaction."""
        await self.patiently(self.raw.commit)

    async def rollback(self) -> None:
        """Roll back the open transaction."""
        await self.patiently(self.raw.rollback)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        """Register a SQL function, as sqlite3 does."""
        self.raw.create_function(*args, **kwargs)

    async def close(self) -> None:
        """Close the connection; closing it again is a no-op."""
        if self._connection is not None:
            self._connection = self._conn = None
            self.raw.close()

    def stop(self) -> None:
        """Close at once (SQLAlchemy's terminate): there is no thread to stop."""
        if self._connection is not None:
            self._connection = self._conn = None
            self.raw.close()

    async def patiently(self, call: Callable[..., ResultT], *args: Any) -> ResultT:
        """`call(*args)` now; if another connection holds the lock it needs, again in a thread, waiting as long as
        the busy timeout says."""
        try:
            return call(*args)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != SQLITE_BUSY or self.patience_ms <= 0:
                raise
        waiting = asyncio.get_running_loop().run_in_executor(
            _lock_waits(), functools.partial(self._waiting, call, *args)
        )
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The call goes on in its thread, and nothing may use the connection meanwhile (a rollback, a close):
            # the cancellation waits for it, at most the busy timeout.
            self.raw.interrupt()
            while not waiting.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait([waiting])
            waiting.exception()  # seen: the cancellation is what the caller hears of
            raise

    def _waiting(self, call: Callable[..., ResultT], *args: Any) -> ResultT:
        self.raw.execute(f"PRAGMA busy_timeout={self.patience_ms:d}")
        try:
            return call(*args)
        finally:
            self.raw.execute("PRAGMA busy_timeout=0")


def connector(database: Path | str, *, patience_ms: int) -> Callable[[], Any]:
    """The `async_creator` for `create_async_engine`: inline connections to `database`, locks waited for up to
    `patience_ms`."""

    async def connect() -> InlineConnection:
        # Opened on the loop's thread but waited on from others: check_same_thread off, as aiosqlite has it.
        raw = sqlite3.connect(database, timeout=0, isolation_level=None, check_same_thread=False)
        return InlineConnection(raw, patience_ms)

    return connect
