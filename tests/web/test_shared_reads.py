"""Fifty pages reloading after one change cost one read, and no page gets figures from before that change."""

from __future__ import annotations

import asyncio

import pytest

from starter.web.shared_reads import SharedReads


class Counting:
    """A read that counts how often it ran and can be held until released."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = asyncio.Event()

    async def __call__(self) -> int:
        self.runs += 1
        this_run = self.runs
        await self.release.wait()
        return this_run


async def test_pages_asking_at_once_share_one_read() -> None:
    reads, figures = SharedReads(), Counting()
    waiting = [asyncio.ensure_future(reads.read("glance", figures)) for _ in range(50)]
    await asyncio.sleep(0)
    figures.release.set()
    assert await asyncio.gather(*waiting) == [1] * 50
    assert figures.runs == 1


async def test_a_change_makes_the_next_page_read_afresh() -> None:
    reads, figures = SharedReads(), Counting()
    figures.release.set()
    assert await reads.read("glance", figures) == 1
    assert await reads.read("glance", figures) == 1
    reads.changed()
    assert await reads.read("glance", figures) == 2


async def test_a_read_started_before_a_change_is_not_handed_to_pages_after_it() -> None:
    reads, figures = SharedReads(), Counting()
    before = asyncio.ensure_future(reads.read("glance", figures))
    await asyncio.sleep(0)
    reads.changed()
    after = asyncio.ensure_future(reads.read("glance", figures))
    await asyncio.sleep(0)
    figures.release.set()
    assert (await before, await after) == (1, 2)


async def test_a_result_is_read_again_after_its_maximum_age() -> None:
    reads, figures = SharedReads(max_age=0.0), Counting()
    figures.release.set()
    await reads.read("glance", figures)
    await asyncio.sleep(0.001)
    await reads.read("glance", figures)
    assert figures.runs == 2


async def test_different_reads_are_kept_apart() -> None:
    reads = SharedReads()

    async def pending() -> str:
        return "pending"

    async def completed() -> str:
        return "completed"

    assert await reads.read(("orders", "pending"), pending) == "pending"
    assert await reads.read(("orders", "completed"), completed) == "completed"


async def test_a_failed_read_is_not_kept() -> None:
    reads = SharedReads()
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("database went away")
        return "figures"

    with pytest.raises(ConnectionError):
        await reads.read("glance", flaky)
    assert await reads.read("glance", flaky) == "figures"


async def test_a_page_that_goes_away_does_not_cancel_the_read_for_the_others() -> None:
    reads, figures = SharedReads(), Counting()
    leaving = asyncio.ensure_future(reads.read("glance", figures))
    staying = asyncio.ensure_future(reads.read("glance", figures))
    await asyncio.sleep(0)
    leaving.cancel()
    figures.release.set()
    assert await staying == 1
