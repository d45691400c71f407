"""`bench.console` at a tiny size, so it cannot rot: the shop it writes, the pages it times, the events it hears."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.console import Results, pages_to_time, report, run, view_of
from bench.order_list import batches
from domain.view import OrderView

ORDERS = 200
REQUESTS = 3
LIVE_PAGES = 3


@pytest.fixture(scope="module")
async def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Results, list[int]]:
    """One tiny run of the bench, and the progress it reported while writing."""
    progress: list[int] = []
    results = await run(
        tmp_path_factory.mktemp("console-bench"),
        ORDERS,
        REQUESTS,
        LIVE_PAGES,
        progress=lambda written, _wanted: progress.append(written),
    )
    return results, progress


def test_each_generated_order_gets_the_view_the_projection_would_store() -> None:
    rows, changes = next(batches(ORDERS, datetime(2026, 11, 1, tzinfo=UTC)))
    for row in rows:
        own = [change for change in changes if change["order_id"] == row["order_id"]]
        view = OrderView.model_validate_json(view_of(row, own).model_dump_json())
        assert view.order_id == row["order_id"]
        assert view.totals.total.minor == row["total_minor"]
        assert view.status.value == row["status"]
        assert [entry.status.value for entry in view.timeline if entry.status] == [c["status"] for c in own]


async def test_every_order_is_written_with_its_status_changes(measured: tuple[Results, list[int]]) -> None:
    results, progress = measured
    assert results.orders == ORDERS
    assert results.status_changes >= ORDERS
    assert progress[-1] == ORDERS


async def test_every_page_is_timed_as_often_as_asked_unchanged_and_after_changes(
    measured: tuple[Results, list[int]],
) -> None:
    results, _ = measured
    names = [page.name for page in pages_to_time(datetime.now(UTC))]
    assert [timings.name for timings in results.pages] == names + [f"{name}, after a change" for name in names]
    assert [len(timings.ms) for timings in results.pages] == [REQUESTS] * len(names) + [max(1, REQUESTS // 2)] * len(
        names
    )


async def test_every_live_page_hears_the_status_change_and_the_new_order(measured: tuple[Results, list[int]]) -> None:
    results, _ = measured
    assert [(len(timings.ms), timings.wanted) for timings in results.events] == [(LIVE_PAGES, LIVE_PAGES)] * 2


async def test_every_live_page_gets_its_refresh(measured: tuple[Results, list[int]]) -> None:
    results, _ = measured
    assert [timings.name for timings in results.refreshes] == [
        f"{LIVE_PAGES} pages refresh /glance",
        f"{LIVE_PAGES} pages refresh /orders/table?list=pending",
    ]
    assert all(len(timings.ms) == LIVE_PAGES for timings in results.refreshes)


async def test_the_report_gives_p50_p95_and_max_and_the_verdict_for_each_page(
    measured: tuple[Results, list[int]],
) -> None:
    results, _ = measured
    printed = report(results, REQUESTS)
    for timings in results.pages:
        line = next(line for line in printed.splitlines() if timings.name in line)
        assert "p95 < 100 ms" in line
    assert printed.count(f"{LIVE_PAGES} of {LIVE_PAGES} arrived") == 2
    assert printed.count(f"{LIVE_PAGES} of {LIVE_PAGES} answered") == 2
