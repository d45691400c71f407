"""Timestamps go into the OMS database in UTC and come back zone-aware, even from SQLite."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.schema import FeedbackRecord


async def test_a_timestamp_in_another_zone_comes_back_as_the_same_instant_in_utc(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    berlin_evening = datetime(2026, 12, 24, 18, 30, tzinfo=timezone(timedelta(hours=1)))
    async with sessions.begin() as session:
        session.add(FeedbackRecord(order_id="web-1", rating=5, comment=None, at=berlin_evening))

    async with sessions() as session:
        stored = await session.get(FeedbackRecord, "web-1")

    assert stored is not None
    assert stored.at == berlin_evening
    assert stored.at.tzinfo is UTC
    assert stored.at.hour == 17


async def test_a_naive_timestamp_is_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(StatementError, match="naive timestamp"):
        async with sessions.begin() as session:
            session.add(FeedbackRecord(order_id="web-2", rating=5, comment=None, at=datetime(2026, 1, 1)))
