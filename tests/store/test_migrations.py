"""The OMS schema exists only through its Alembic migrations: exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from domain.status import OrderStatus
from domain.view import TimelineEntry
from starter.cli import app
from store import migrate, orders
from store.db import create_engine, session_factory
from store.schema import (
    Base,
    ConsoleSessionRecord,
    LoginFailureRecord,
    OperatorRecord,
    OrderRecord,
    OrderStatusChange,
)
from tests.activities.fixtures_views import placed_order, view_of
from tests.conftest import POSTGRES, postgres_admin


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database on either engine; the PostgreSQL one is dropped afterwards."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'oms.db'}")
        yield engine
        await engine.dispose()
        return
    name = f"oms_migrations_{uuid.uuid4().hex[:12]}"
    await postgres_admin(f'CREATE DATABASE "{name}"')
    engine = create_engine(f"{POSTGRES}/{name}")
    try:
        yield engine
    finally:
        await engine.dispose()
        await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata))


async def test_the_migrations_make_exactly_the_models_schema(empty: AsyncEngine) -> None:
    migrated = await migrate.upgrade(empty)

    async with empty.connect() as connection:
        found = await connection.run_sync(differences)
    assert (migrated.before, migrated.after) == (None, migrate.head())
    assert found == []


async def test_upgrading_from_the_first_revision_keeps_the_orders_and_fills_in_their_status_changes(
    empty: AsyncEngine,
) -> None:
    await migrate.upgrade(empty, "0001")
    view = view_of(placed_order(), status=OrderStatus.PAID)
    shipped = view_of(placed_order(external_id="1002"), status=OrderStatus.SHIPPED)
    async with empty.begin() as connection:
        for one, statuses in ((view, ["received", "paid"]), (shipped, ["received", "paid", "picking", "shipped"])):
            stored = json.loads(one.model_dump_json())
            stored["timeline"] = [
                {"at": f"2026-11-02T09:0{seq}:00Z", "event": status, "status": status, "rejected": False}
                for seq, status in enumerate(statuses)
            ]
            await connection.execute(
                OrderRecord.__table__.insert().values(
                    order_id=one.order_id,
                    workflow_id=one.workflow_id,
                    channel="web",
                    external_id=one.external_id,
                    status=one.status.value,
                    list="pending",
                    mode="auto",
                    customer_name="Ada",
                    customer_email="ada@example.com",
                    currency="EUR",
                    total_minor=2990,
                    payment_method="card",
                    placed_at=one.placed_at,
                    updated_at=one.updated_at,
                    version=1,
                    view_json=json.dumps(stored),
                )
            )

    migrated = await migrate.upgrade(empty)

    sessions = session_factory(empty)
    async with sessions() as session:
        changes = (
            await session.execute(
                select(OrderStatusChange.order_id, OrderStatusChange.seq, OrderStatusChange.status).order_by(
                    OrderStatusChange.order_id, OrderStatusChange.seq
                )
            )
        ).all()
        kept = await session.scalar(select(func.count()).select_from(OrderRecord))
    assert (migrated.before, migrated.after) == ("0001", migrate.head())
    assert kept == 2
    assert [tuple(change) for change in changes] == [
        ("web-1001", 0, "received"),
        ("web-1001", 1, "paid"),
        ("web-1002", 0, "received"),
        ("web-1002", 1, "paid"),
        ("web-1002", 2, "picking"),
        ("web-1002", 3, "shipped"),
    ]
    # The projection carries on after the backfilled changes instead of writing them again.
    picking = view_of(placed_order(), status=OrderStatus.PICKING, version=5)
    picking.timeline = [
        TimelineEntry(at=datetime(2026, 11, 2, 9, seq, tzinfo=UTC), event=status, status=OrderStatus(status))
        for seq, status in enumerate(["received", "paid", "picking"])
    ]
    await orders.project(sessions, picking)
    async with sessions() as session:
        now_stored = list(
            await session.scalars(
                select(OrderStatusChange.status)
                .where(OrderStatusChange.order_id == "web-1001")
                .order_by(OrderStatusChange.seq)
            )
        )
    assert now_stored == ["received", "paid", "picking"]


# Indexes later revisions add to tables of the first release.
# Revision 0004: emails kept whole, claimed by one sender, failed for good.
COLUMNS_ADDED_LATER = {"notifications": {"message", "claimed_by", "claimed_until", "failure"}}
INDEXES_ADDED_LATER = {"ix_orders_mode_status"}


async def test_a_database_made_before_migrations_is_recognised_and_brought_up_to_date(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'oms.db'}")
    first_release = MetaData()
    added_later = {OrderStatusChange, OperatorRecord, ConsoleSessionRecord, LoginFailureRecord}
    for table in Base.metadata.sorted_tables:
        if table.name in {model.__tablename__ for model in added_later}:
            continue
        copied = table.to_metadata(first_release)
        for name in COLUMNS_ADDED_LATER.get(table.name, set()):
            copied._columns.remove(copied.c[name])
    orders = first_release.tables["orders"]
    orders.indexes -= {index for index in orders.indexes if index.name in INDEXES_ADDED_LATER}
    async with engine.begin() as connection:
        await connection.run_sync(first_release.create_all)

    migrated = await migrate.upgrade(engine)

    async with engine.connect() as connection:
        found = await connection.run_sync(differences)
    await engine.dispose()
    assert (migrated.adopted, migrated.after) == ("0001", migrate.head())
    assert found == []


async def test_a_worker_refuses_a_database_that_is_not_migrated_and_says_what_to_run(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'oms.db'}")
    await migrate.upgrade(engine, "0001")

    with pytest.raises(migrate.SchemaOutOfDate) as refused:
        await migrate.require_head(engine)

    await engine.dispose()
    assert str(refused.value) == (
        f"the OMS database is at revision 0001, this code needs revision {migrate.head()}: run `oms db upgrade` "
        "(or set OMS_MIGRATE_ON_START=true)"
    )


async def test_a_worker_accepts_a_database_at_the_newest_migration(empty: AsyncEngine) -> None:
    await migrate.upgrade(empty)

    await migrate.require_head(empty)

    assert await migrate.current(empty) == migrate.HEAD


def test_the_revision_a_worker_checks_for_is_the_head_of_the_migration_scripts() -> None:
    # Workers check the schema against HEAD without loading Alembic; a new migration must move it.
    assert migrate.head() == migrate.HEAD


def test_checking_the_schema_does_not_load_alembic() -> None:
    checked = subprocess.run(
        [sys.executable, "-c", "import sys, worker, store.migrate; print('alembic' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert checked.stdout.strip() == "False"


def test_oms_db_upgrade_migrates_an_empty_database_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    env = {"OMS_VAR_DIR": str(tmp_path / "var")}

    first = CliRunner().invoke(app, ["db", "upgrade"], env=env)
    second = CliRunner().invoke(app, ["db", "upgrade"], env=env)
    current = CliRunner().invoke(app, ["db", "current"], env=env)

    assert first.exit_code == 0, first.output
    assert first.stdout.strip().endswith(f"upgraded from an empty database to revision {migrate.head()}")
    assert second.stdout.strip().endswith(f"already at revision {migrate.head()} (the newest)")
    assert current.stdout.strip().endswith(f"revision {migrate.head()}, newest {migrate.head()}: up to date")
