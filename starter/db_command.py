"""`oms db`: see and upgrade the OMS database's schema, which only ever changes through its migrations."""

from __future__ import annotations

import typer

from settings import Settings
from starter.commandline import run
from store import migrate
from store.db import create_engine

db_app = typer.Typer(help="The OMS database's schema: see its revision, upgrade it.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade() -> None:
    """Run every migration the database lacks (OMS_DATABASE_URL); safe to run again, and from several hosts."""

    async def migrate_now(settings: Settings) -> tuple[str, migrate.Migrated]:
        engine = create_engine(settings.oms_database_url)
        try:
            return settings.oms_database_display, await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    where, done = run(migrate_now)
    if done.adopted:
        typer.echo(f"{where}: made before migrations; recognised as revision {done.adopted}")
    if done.before == done.after:
        typer.echo(f"{where}: already at revision {done.after} (the newest)")
    else:
        typer.echo(f"{where}: upgraded from {done.before or 'an empty database'} to revision {done.after}")


@db_app.command("current")
def current() -> None:
    """Show the database's revision and the newest one this version of oms knows."""

    async def look(settings: Settings) -> tuple[str, str | None]:
        engine = create_engine(settings.oms_database_url)
        try:
            return settings.oms_database_display, await migrate.current(engine)
        finally:
            await engine.dispose()

    where, found = run(look)
    newest = migrate.head()
    state = "up to date" if found == newest else "run `oms db upgrade`"
    typer.echo(f"{where}: revision {found or 'none'}, newest {newest}: {state}")
