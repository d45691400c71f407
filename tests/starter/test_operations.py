"""The operations layer on a real OMS database, without Temporal: lists, filters, the catalogue, reports, imports."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.money import Money
from domain.order import Channel
from domain.status import OrderStatus
from settings import Settings
from starter.operations import (
    ImportRefused,
    InvalidInput,
    OperationFailed,
    Shop,
    channel_filter,
    order_id_of,
    report_csv,
    report_xlsx,
    status_filter,
)
from store import catalogue, orders
from store.orders import OrderFilter
from tests.activities.fixtures_views import placed_order, view_of
from tests.conftest import free_port
from tests.starter.test_intake import SPREADSHEET_HEADER, spreadsheet_row, write_csv


@pytest.fixture
async def shop(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Shop]:
    """The layer on the test's database, with a Temporal address where nothing listens."""
    await catalogue.add_product(sessions, "MUG", "Mug", Money.of("14.90", "EUR"), stock=40)
    nowhere = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    async with Shop.open(nowhere) as opened:
        yield opened


async def place_in_read_model(sessions: async_sessionmaker[AsyncSession], external_id: str, status: OrderStatus) -> str:
    """An order as the projection writes it, placed on 2 November 2026 at `external_id` o'clock."""
    order = placed_order(external_id=external_id)
    placed_at = datetime(2026, 11, 2, int(external_id), tzinfo=UTC)
    await orders.project(sessions, view_of(order, status=status, placed_at=placed_at))
    return order.order_id


async def test_a_page_of_orders_skips_the_newer_ones_and_counts_every_list(
    shop: Shop, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for hour, status in ((9, OrderStatus.PAID), (10, OrderStatus.COMPLETED), (11, OrderStatus.PICKING)):
        await place_in_read_model(sessions, str(hour), status)

    page = await shop.orders(OrderFilter(), limit=1, offset=1)

    assert [record.order_id for record in page.orders] == ["web-10"]
    assert page.counts == {"pending": 2, "completed": 1, "cancelled": 0}
    assert page.matching == 3


async def test_the_last_page_holds_what_is_left_and_the_counts_stay_the_same(
    shop: Shop, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for hour in (9, 10, 11):
        await place_in_read_model(sessions, str(hour), OrderStatus.PAID)

    page = await shop.orders(OrderFilter(**status_filter("pending")), limit=2, offset=2)

    assert [record.order_id for record in page.orders] == ["web-9"]
    assert page.matching == 3
    assert page.counts["pending"] == 3


async def test_a_page_before_the_first_order_is_refused_naming_the_offset(shop: Shop) -> None:
    with pytest.raises(InvalidInput) as refused:
        await shop.orders(OrderFilter(), limit=20, offset=-20)

    assert str(refused.value) == "offset -20: must be 0 or more"


def test_a_status_filter_is_a_list_or_one_status() -> None:
    assert status_filter(" Pending ") == {"operator_list": "pending"}
    assert status_filter("backordered") == {"status": "backordered"}
    assert status_filter(None) == {}


def test_an_unknown_status_is_refused_naming_the_field_the_value_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"^status 'lost': not a list \(pending, completed, cancelled\) or a status"):
        status_filter("lost")


def test_an_unknown_channel_is_refused_naming_the_channels() -> None:
    with pytest.raises(InvalidInput) as refused:
        channel_filter("fax")

    assert refused.value.field == "channel"
    assert str(refused.value).startswith("channel 'fax': not a channel (web, marketplace")


def test_an_order_is_named_by_its_id_or_its_workflow_id() -> None:
    assert order_id_of(" order-web-1001 ") == "web-1001"
    assert order_id_of("web-1001") == "web-1001"


async def test_a_new_product_is_in_the_catalogue_with_its_opening_stock(shop: Shop) -> None:
    added = await shop.add_product(" kettle-1 ", " Kettle ", "49.00", stock=7)

    assert (added.sku, added.name, added.price) == ("KETTLE-1", "Kettle", Money.of("49.00", "EUR"))
    assert added in await shop.products()
    assert [(level.sku, level.available) for level in await shop.stock() if level.sku == "KETTLE-1"] == [
        ("KETTLE-1", 7)
    ]


@pytest.mark.parametrize(
    ("sku", "name", "price", "currency", "message"),
    [
        ("TEA", "Tea", "12.345", None, "price '12.345': must be more than 0 with at most 2 decimals for EUR"),
        ("TEA", "Tea", "12,5", None, "price '12,5': not a number"),
        ("TEA", "Tea", "0", None, "price '0': must be more than 0 with at most 2 decimals for EUR"),
        ("TEA", "Tea", "9.5", "jpy", "price '9.5': must be more than 0 with at most 0 decimals for JPY"),
        ("TEA", "Tea", "5", "XYZ", "currency 'XYZ': not a supported ISO 4217 currency"),
        ("TEA", " ", "5", None, "name: must not be empty"),
        ("no sku", "Tea", "5", None, "sku: 'NO SKU' is not a SKU"),
    ],
)
async def test_a_bad_product_is_refused_naming_the_field_and_nothing_is_added(
    shop: Shop, sku: str, name: str, price: str, currency: str | None, message: str
) -> None:
    before = await shop.products()

    with pytest.raises(InvalidInput) as refused:
        await shop.add_product(sku, name, price, currency=currency)

    assert str(refused.value).startswith(message)
    assert await shop.products() == before


async def test_a_sku_already_in_the_catalogue_is_refused(shop: Shop) -> None:
    with pytest.raises(OperationFailed) as refused:
        await shop.add_product("mug", "Mug again", "1")

    assert str(refused.value) == "sku: MUG is already in the catalogue"


async def test_a_report_period_that_ends_before_it_starts_is_refused(shop: Shop) -> None:
    with pytest.raises(InvalidInput) as refused:
        await shop.report(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))

    assert refused.value.field == "until"


async def test_the_report_files_hold_the_same_figures_as_the_report(
    shop: Shop, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await place_in_read_model(sessions, "9", OrderStatus.COMPLETED)
    report = await shop.report(None, None)

    rows = list(csv.reader(io.StringIO(report_csv(report).decode("utf-8"))))
    workbook = load_workbook(io.BytesIO(report_xlsx(report)))

    assert ["orders", "all", "", "orders", "1"] in rows
    summary = {row[0]: row[1] for row in workbook["Summary"].iter_rows(values_only=True)}
    assert summary["orders"] == report.orders.total == 1


async def test_a_file_whose_every_row_is_rejected_is_accounted_for_without_temporal(shop: Shop, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row(1, sku="MUG", qty="two"), spreadsheet_row(2, sku="NO-SUCH-SKU")],
    )
    seen: list[tuple[int, int]] = []

    outcome = await shop.import_orders(
        path, Channel.SPREADSHEET, progress=lambda done, total: seen.append((done, total))
    )

    assert outcome.failed
    assert [item.row for item in outcome.rows.rejected] == [2, 3]
    assert outcome.rows.rejected[0].reason == "Qty: must be a whole number, got 'two'"
    assert outcome.summary == "placed 0 orders (0 rows), 0 duplicates, 2 rejected rows"
    assert seen == []
    rejected = outcome.rejected_csv()
    assert rejected is not None
    written = list(csv.DictReader(io.StringIO(rejected.decode("utf-8-sig"))))
    assert [(row["Order number"], row["row"]) for row in written] == [("1", "2"), ("2", "3")]


async def test_a_file_that_cannot_be_imported_is_refused_and_places_nothing(shop: Shop, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("")

    with pytest.raises(ImportRefused, match="has no orders: it is empty"):
        await shop.import_orders(path, Channel.SPREADSHEET)


async def test_lists_stock_and_the_report_answer_while_a_writer_holds_the_write_lock(
    shop: Shop, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await place_in_read_model(sessions, "9", OrderStatus.PAID)
    # A worker's step mid-transaction: on SQLite it holds the one write lock until it commits.
    async with sessions.begin() as busy:
        await busy.execute(text("UPDATE products SET name = name"))

        page = await shop.orders(OrderFilter(), limit=10)
        stock = await shop.stock()
        report = await shop.report()

    assert [record.order_id for record in page.orders] == ["web-9"]
    assert [level.sku for level in stock] == ["MUG"]
    assert report.orders.total == 1
