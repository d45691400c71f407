"""Engine and session setup: SQLite in WAL mode with a busy timeout by default, any SQLAlchemy async URL otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


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
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself so a transaction starts with IMMEDIATE when writing.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # Writers take the lock up front: no deadlock-prone upgrade from a read lock, and busy_timeout applies.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _sqlite_reader(url: str) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The journal mode is left to the writers (it is a property of the file, and changing it takes a lock).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_deferred(connection: Any) -> None:
        # A deferred transaction reads from a snapshot in WAL mode: writers carry on while it is open.
        connection.exec_driver_sql("BEGIN")

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
