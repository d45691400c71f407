"""Bring the OMS database to the newest schema through its Alembic migrations, whatever state it is in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported only to migrate: loading it (a sixth of a second) is most of what a worker that only checks
# the schema would spend before its first poll.

MIGRATIONS = Path(__file__).parent / "migrations"

# The newest revision, kept by hand beside the migrations so that checking a database needs no Alembic; a test
# holds it equal to the head of the migration scripts.
HEAD = "0004"

# Any constant works; it only has to be the same for every process migrating the same PostgreSQL database.
_MIGRATION_LOCK = 0x6F6D73


class SchemaOutOfDate(Exception):
    """The database is behind the code (or ahead of it); the message says which command fixes it."""


@dataclass(frozen=True)
class Migrated:
    """Where the database was and is now; `adopted` when it predates migrations and was stamped first."""

    before: str | None
    after: str
    adopted: str | None = None


def head() -> str:
    """The newest revision of the migration scripts (HEAD, when nobody forgot to move it)."""
    from alembic.script import ScriptDirectory

    found = ScriptDirectory.from_config(_config()).get_current_head()
    assert found is not None
    return found


async def upgrade(engine: AsyncEngine, revision: str = "head") -> Migrated:
    """Migrate to `revision` (default: the newest) in one transaction; concurrent callers wait for each other."""
    async with engine.begin() as connection:
        return await connection.run_sync(_upgrade, revision)


async def current(engine: AsyncEngine) -> str | None:
    """The database's revision, None when it has none (empty, or made before migrations)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_revision)


async def require_head(engine: AsyncEngine) -> None:
    """Refuse to work on a database whose schema is not the one this code was written for."""
    found = await current(engine)
    wanted = HEAD
    if found != wanted:
        state = f"at revision {found}" if found else "not migrated"
        raise SchemaOutOfDate(
            f"the OMS database is {state}, this code needs revision {wanted}: run `oms db upgrade` "
            "(or set OMS_MIGRATE_ON_START=true)"
        )


def _upgrade(connection: Connection, revision: str) -> Migrated:
    from alembic import command

    if connection.dialect.name == "postgresql":
        # Two workers starting together must not both create the tables; the second waits, then finds them.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    config = _config(connection)
    before = _revision(connection)
    adopted = None
    if before is None:
        adopted = _adopt(connection, config)
    command.upgrade(config, revision)
    after = _revision(connection)
    assert after is not None
    return Migrated(before=before or adopted, after=after, adopted=adopted)


def _adopt(connection: Connection, config: Config) -> str | None:
    """Stamp a database created before migrations existed with the revision its tables match."""
    tables = set(inspect(connection).get_table_names())
    if "orders" not in tables:
        return None
    matching = "0002" if "order_status_changes" in tables else "0001"
    from alembic import command

    command.stamp(config, matching)
    return matching


def _revision(connection: Connection) -> str | None:
    # What Alembic's MigrationContext reads, without loading Alembic: its one-row version table.
    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalar()


_VERSION_TABLE = "alembic_version"


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config
