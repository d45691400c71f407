"""Plumbing every `oms` command shares: run its async work on the shop, one-line errors, settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.order import FulfilmentMode
from settings import Settings
from starter.codec import PayloadKeysInvalid, PayloadUndecodable
from starter.operations import OperationFailed, Shop
from starter.placement import OrderAlreadyExists, OrderInputError
from starter.stack import StackError
from store.db import create_engine, session_factory
from store.migrate import SchemaOutOfDate
from worker import SearchAttributesMissing, TemporalUnreachable, WarehouseQueueMissing

T = TypeVar("T")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ModeOption = Annotated[
    FulfilmentMode | None,
    typer.Option(
        help="auto: the warehouse picks and packs; manual: you confirm each step. (default: OMS_FULFILMENT_MODE)"
    ),
]


class CommandFailed(Exception):
    """A command could not do what was asked; the message is the one line the operator sees."""


def run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Run one command's async work; every failure becomes one line on stderr and exit status 1."""
    settings = load_settings()
    try:
        return asyncio.run(work(settings))
    except (
        CommandFailed,
        OperationFailed,
        OrderInputError,
        OrderAlreadyExists,
        TemporalUnreachable,
        SearchAttributesMissing,
        SchemaOutOfDate,
        WarehouseQueueMissing,
        StackError,
        PayloadKeysInvalid,
        PayloadUndecodable,
    ) as error:
        fail(str(error))
    except SQLAlchemyError as error:
        cause = getattr(error, "orig", None) or error
        fail(f"OMS database {settings.oms_database_display}: {cause}: is `oms up` running, or OMS_DATABASE_URL set?")
    except KeyboardInterrupt:
        fail("interrupted")
    except typer.Exit:
        # The work already told the operator what went wrong with `fail`.
        raise
    except Exception as error:
        if settings.log_level == "debug":
            raise
        fail(f"unexpected {type(error).__name__}: {error} (OMS_LOG_LEVEL=debug shows the traceback)")


def fail(message: str) -> NoReturn:
    """Tell the operator what went wrong in one line and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def load_settings() -> Settings:
    """The configuration, or one line naming the bad OMS_ variable."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        # A check across settings has no one field; its message names the variables itself.
        fail(f"configuration: OMS_{field.upper()}: {message}" if field else f"configuration: {message}")


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
