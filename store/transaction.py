"""One database transaction shared by several store functions, so a step's writes commit or roll back together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction, async_sessionmaker


class _Borrowed:
    """`async with sessions() as session` on the shared session: it stays open for the others."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def __aenter__(self) -> AsyncSession:
        return self.session

    async def __aexit__(self, *_: object) -> None:
        return None


class _Savepoint:
    """`async with sessions.begin() as session` on the shared session: a savepoint, so a store function that
    catches an IntegrityError (a racing insert) rolls back only its own statements, as it would on its own."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.savepoint: AsyncSessionTransaction | None = None

    async def __aenter__(self) -> AsyncSession:
        self.savepoint = await self.session.begin_nested()
        return self.session

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        assert self.savepoint is not None
        await self.savepoint.__aexit__(kind, error, trace)


class _Shared:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def __call__(self) -> _Borrowed:
        return _Borrowed(self.session)

    def begin(self) -> _Savepoint:
        return _Savepoint(self.session)


@asynccontextmanager
async def one_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions that are all one transaction: it commits when the block ends and rolls back if it raises.

    Every store function takes a sessionmaker; handed this one, its `sessions()` and `sessions.begin()` join the
    transaction instead of opening their own.
    """
    async with sessions.begin() as session:
        yield cast("async_sessionmaker[AsyncSession]", _Shared(session))


def joined(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """True for the sessions of a `one_transaction` block: a write through them commits with the block."""
    return isinstance(sessions, _Shared)


def writing(sessions: async_sessionmaker[AsyncSession]) -> AbstractAsyncContextManager[AsyncSession]:
    """`sessions.begin()` for store functions that catch no database error: a transaction of their own, or, in a
    `one_transaction` block, the block's transaction as it is (a savepoint would cost two statements and undo
    nothing that the block's rollback does not)."""
    return sessions() if joined(sessions) else sessions.begin()
