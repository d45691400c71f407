"""Engine and session setup: SQLite in WAL mode with a busy timeout by default, any SQLAlchemy async URL otherwise."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, Executable, Insert, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from store import inline_sqlite


def create_engine(url: str, *, read_only: bool = False) -> AsyncEngine:
    """An async engine for `url`; for SQLite, WAL journaling and a generous busy timeout for racing writers.

    `read_only` engines refuse to write and, on SQLite, begin deferred transactions that never take the write lock.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if read_only and backend == "sqlite":
        return _sqlite_reader(url)
    if read_only and backend == "postgresql":
        return create_async_engine(url, pool_pre_ping=True, execution_options={"postgresql_readonly": True})
    if read_only:
        raise ValueError(f"read_only: an engine can be made read-only on SQLite or PostgreSQL, not on {backend}")
    if backend != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        _private_file(Path(parsed.database))
    # Writers take the lock up front: no deadlock-prone upgrade from a read lock, and busy_timeout applies.
    # A URL with options of its own (`?...`) keeps aiosqlite, which passes them on to sqlite3.
    return _sqlite(url, WRITER_PRAGMAS, "BEGIN IMMEDIATE", inline=_a_file(parsed.database) and not parsed.query)


def _private_file(database: Path) -> None:
    """Create the SQLite file, if new, for its owner only: SQLite gives its -wal and -shm files the same mode.

    The database holds customers' names and addresses; a new folder for it is its owner's alone too.
    """
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Never open an existing database here: closing any descriptor of the file drops every POSIX lock this process
    # holds on it (SQLite's own connections' too), and another process could then delete the WAL under them.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


# A writer's connection: WAL so readers never wait, a generous busy timeout for racing writers.
BUSY_TIMEOUT_MS = 30000
WRITER_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", f"busy_timeout={BUSY_TIMEOUT_MS}", "foreign_keys=ON")
# A reader leaves the journal mode to the writers (it is a property of the file, and changing it takes a lock).
READER_PRAGMAS = ("busy_timeout=30000", "query_only=ON")


def _sqlite_reader(url: str) -> AsyncEngine:
    # A deferred transaction reads from a snapshot in WAL mode: writers carry on while it is open.
    return _sqlite(url, READER_PRAGMAS, "BEGIN")


def _a_file(database: str | None) -> bool:
    return bool(database) and database != ":memory:" and not str(database).startswith("file:")


def _sqlite(url: str, pragmas: tuple[str, ...], begin: str, *, inline: bool = False) -> AsyncEngine:
    """An SQLite engine whose connections run `pragmas` and whose transactions start with `begin`.

    `inline` (a database file): calls run on the event loop (`store.inline_sqlite`), which waits in a thread only
    for a lock another connection holds, as long as the pragmas' busy timeout.
    """
    if inline:
        patience = next(int(pragma.partition("=")[2]) for pragma in pragmas if pragma.startswith("busy_timeout="))
        pragmas = tuple("busy_timeout=0" if pragma.startswith("busy_timeout=") else pragma for pragma in pragmas)
        database = make_url(url).database
        assert database is not None
        engine = create_async_engine(url, async_creator=inline_sqlite.connector(database, patience_ms=patience))
    else:
        engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself, so the "begin" event below decides how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


def displayed_url(url: str) -> str:
    """`url` as messages, logs and banners show it: the password masked, whatever the URL looks like."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        scheme, separator, _ = url.partition("://")
        return f"{scheme}://*** (not a valid URL)" if separator else "*** (not a valid URL)"
    if parsed.host and "@" in parsed.host:
        # An unescaped @ in the password: SQLAlchemy took the password's tail for part of the host.
        parsed = parsed.set(host=parsed.host.rpartition("@")[2])
    return parsed.render_as_string(hide_password=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def execute_core(session: AsyncSession, statement: Executable) -> CursorResult[Any]:
    """Run `statement` on the session's connection, in its transaction, as Core: no ORM bookkeeping, which costs
    more than SQLite does for the small statements of a step. For statements whose result is not ORM objects, and
    whose rows the session's objects need not reflect."""
    connection = await session.connection()
    return await connection.execute(statement)


def insert_new(session: AsyncSession, entity: type[DeclarativeBase]) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING into `entity`'s table, as the session's database spells it: a row whose
    key is stored already is left as it is, without an error that would end the transaction on PostgreSQL."""
    backend = session.get_bind().dialect.name
    if backend == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(entity).on_conflict_do_nothing()
    if backend == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(entity).on_conflict_do_nothing()
    raise ValueError(f"insert_new: SQLite or PostgreSQL only, not {backend}")
