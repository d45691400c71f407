"""What an operator reads when an `oms` command fails: one line, the same for every command and for `oms worker`."""

from __future__ import annotations

from pydantic import ValidationError

from settings import Settings


class CommandFailed(Exception):
    """A command could not do what was asked; the message is the one line the operator sees."""


class SettingsInvalid(Exception):
    """An OMS_ variable holds what the settings refuse; the message names it."""


def load_settings() -> Settings:
    """The configuration, or SettingsInvalid naming the bad OMS_ variable."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        # A check across settings has no one field; its message names the variables itself.
        raise SettingsInvalid(
            f"configuration: OMS_{field.upper()}: {message}" if field else f"configuration: {message}"
        ) from None


def failure_line(error: Exception, settings: Settings) -> str | None:
    """The line that tells the operator what went wrong; None for a bug under OMS_LOG_LEVEL=debug, whose traceback
    the caller shows instead."""
    # Imported on failure only: `oms worker` must not load the whole command line before its first poll.
    from sqlalchemy.exc import SQLAlchemyError

    from starter.codec import PayloadKeysInvalid, PayloadUndecodable
    from starter.operations import OperationFailed
    from starter.placement import OrderAlreadyExists, OrderInputError
    from starter.stack import StackError
    from store.migrate import SchemaOutOfDate
    from worker import SearchAttributesMissing, TemporalUnreachable, WarehouseQueueMissing

    explained = (
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
        SettingsInvalid,
    )
    if isinstance(error, explained):
        return str(error)
    if isinstance(error, OSError) and _raised_by_the_database(error):
        # The driver's own connection failure (asyncpg's), which SQLAlchemy passes through unwrapped.
        reason = error.strerror or str(error) or type(error).__name__
        return (
            f"cannot reach the OMS database {settings.oms_database_display}: {reason}: "
            "is the database server running there, and OMS_DATABASE_URL right?"
        )
    if isinstance(error, SQLAlchemyError):
        cause = getattr(error, "orig", None) or error
        return f"OMS database {settings.oms_database_display}: {cause}: is `oms up` running, or OMS_DATABASE_URL set?"
    if settings.log_level == "debug":
        return None
    return f"unexpected {type(error).__name__}: {error} (OMS_LOG_LEVEL=debug shows the traceback)"


def _raised_by_the_database(error: BaseException) -> bool:
    """Whether `error` came out of the database layer (SQLAlchemy or a driver), by where it was raised."""
    traceback = error.__traceback__
    while traceback is not None:
        module = traceback.tb_frame.f_globals.get("__name__", "")
        if module.split(".")[0] in ("sqlalchemy", "asyncpg", "aiosqlite", "store"):
            return True
        traceback = traceback.tb_next
    return False
