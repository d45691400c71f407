"""Plumbing every `oms` command shares: run its async work on the shop, one-line errors, settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.order import FulfilmentMode
from settings import Settings
from starter import failures
from starter.failures import CommandFailed, SettingsInvalid, failure_line
from starter.operations import Shop
from store.db import create_engine, session_factory

__all__ = ["AsJson", "CommandFailed", "ModeOption", "database", "fail", "in_shop", "load_settings", "run"]

T = TypeVar("T")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ModeOption = Annotated[
    FulfilmentMode | None,
    typer.Option(
        help="auto: the warehouse picks and packs; manual: you confirm each step. (default: OMS_FULFILMENT_MODE)"
    ),
]


def run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Run one command's async work; every failure becomes one line on stderr and exit status 1."""
    settings = load_settings()
    try:
        return asyncio.run(work(settings))
    except KeyboardInterrupt:
        fail("interrupted")
    except typer.Exit:
        # The work already told the operator what went wrong with `fail`.
        raise
    except Exception as error:
        line = failure_line(error, settings)
        if line is None:
            raise
        fail(line)


def fail(message: str) -> NoReturn:
    """Tell the operator what went wrong in one line and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def load_settings() -> Settings:
    """The configuration, or one line naming the bad OMS_ variable."""
    try:
        return failures.load_settings()
    except SettingsInvalid as error:
        fail(str(error))


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the OMS database for the length of one command."""
    engine = create_engine(settings.oms_database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def in_shop(work: Callable[[Shop], Coroutine[Any, Any, T]]) -> T:
    """Run one command's work on the shop: its database at once, Temporal when the work first needs it."""

    async def opened(settings: Settings) -> T:
        async with Shop.open(settings) as shop:
            return await work(shop)

    return run(opened)


def moment_option(option: str, value: str | None, zone: ZoneInfo) -> datetime | None:
    """A `--since`-style option as a moment: a date means its start; a time without a zone is the shop's time."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"{option} {value!r}: not a date or time; use YYYY-MM-DD or YYYY-MM-DDTHH:MM")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
