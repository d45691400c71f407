"""Writers on an SQLite file run their statements on the event loop, and wait for another's lock off it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from store.db import WRITER_PRAGMAS, _sqlite, create_engine
from store.inline_sqlite import InlineConnection


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "oms.db"
    with sqlite3.connect(path) as setup:
        setup.execute("pragma journal_mode=wal")
        setup.execute("create table t (n integer)")
    return path


@pytest.fixture
def other_writer(database: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection, holding the write lock until the test commits it."""
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("begin immediate")
    holder.execute("insert into t values (1)")
    try:
        yield holder
    finally:
        if holder.in_transaction:
            holder.rollback()
        holder.close()


@pytest.fixture
async def writer(database: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    yield engine
    await engine.dispose()


async def insert(engine: AsyncEngine, number: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("insert into t values (:n)"), {"n": number})


async def test_a_writer_engine_on_a_file_runs_inline(writer: AsyncEngine) -> None:
    async with writer.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, InlineConnection)


async def test_a_writer_waiting_for_another_writers_lock_leaves_the_event_loop_running(
    writer: AsyncEngine, other_writer: sqlite3.Connection, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    wait = InlineConnection._waiting

    def noted(connection: InlineConnection, *args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return wait(connection, *args)

    monkeypatch.setattr(InlineConnection, "_waiting", noted)
    waiting = asyncio.create_task(insert(writer, 2))
    # Had the wait blocked the loop, this loop would not come round until the writer had given up.
    turns = 0
    while turns < 200:
        await asyncio.sleep(0)
        turns += 1
    assert not waiting.done()

    other_writer.commit()
    await waiting

    with sqlite3.connect(database) as reader:
        assert reader.execute("select n from t order by n").fetchall() == [(1,), (2,)]
    # In threads of its own, not the loop's default executor, which the lock's holder may need.
    assert threads
    assert all(name.startswith("sqlite-lock-wait") for name in threads)


async def test_a_lock_held_past_the_busy_timeout_is_a_database_is_locked_error(
    database: Path, other_writer: sqlite3.Connection
) -> None:
    impatient = tuple("busy_timeout=50" if pragma.startswith("busy_timeout") else pragma for pragma in WRITER_PRAGMAS)
    engine = _sqlite(f"sqlite+aiosqlite:///{database}", impatient, "BEGIN IMMEDIATE", inline=True)
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            await insert(engine, 2)
    finally:
        await engine.dispose()


async def test_a_failed_statement_rolls_back_its_transaction_and_the_connection_goes_on(
    writer: AsyncEngine, database: Path
) -> None:
    async def half_written() -> None:
        async with writer.begin() as connection:
            await connection.execute(text("insert into t values (3)"))
            await connection.execute(text("insert into missing values (1)"))

    with pytest.raises(OperationalError, match="no such table"):
        await half_written()
    await insert(writer, 4)

    with sqlite3.connect(database) as reader:
        assert reader.execute("select n from t").fetchall() == [(4,)]


async def test_a_writer_url_with_options_of_its_own_keeps_aiosqlite_which_passes_them_on(database: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{database}?timeout=5")
    try:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            assert not isinstance(raw.driver_connection, InlineConnection)
    finally:
        await engine.dispose()


async def test_a_writer_cancelled_while_it_waits_for_the_lock_leaves_its_connection_whole(
    writer: AsyncEngine, other_writer: sqlite3.Connection, database: Path
) -> None:
    waiting = asyncio.create_task(insert(writer, 2))
    turns = 0
    while turns < 200:
        await asyncio.sleep(0)
        turns += 1
    waiting.cancel()
    other_writer.commit()

    with pytest.raises(asyncio.CancelledError):
        await waiting
    await insert(writer, 3)

    with sqlite3.connect(database) as reader:
        assert reader.execute("select n from t order by n").fetchall() == [(1,), (3,)]
