"""An operator imports a channel's order file with `oms order import` on the real dev server: good orders placed
once, every bad row reported with its row number, and importing again places nothing new."""

from __future__ import annotations

import asyncio
import csv
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.money import Money
from domain.order import Channel, PaymentMethod
from domain.status import OrderStatus
from starter import intake
from starter.import_command import Outcome, _place_all
from store.catalogue import add_product, list_products
from tests.integration.conftest import Shop
from tests.integration.test_refunds import oms
from tests.starter.test_intake import MARKETPLACE_HEADER, SPREADSHEET_HEADER


def unique() -> str:
    """An order number prefix of one test: the dev server outlives it, and order ids are for ever."""
    return uuid.uuid4().hex[:8].upper()


def marketplace_export(path: Path, prefix: str) -> Path:
    """Good orders A-1 (rows 2-3) and A-6 (row 10); row 4 repeats row 3; rows 5-9 are bad."""

    def row(order: str, sku: str, quantity: str = "1", price: str = "14.90", **changes: str) -> list[str]:
        values = {
            "order-id": f"{prefix}-{order}",
            "purchase-date": "2026-11-02T09:14:37+00:00",
            "buyer-email": "jan.schulz@example.com",
            "buyer-name": "Jan Schulz",
            "sku": sku,
            "product-name": "",
            "quantity-purchased": quantity,
            "currency": "EUR",
            "item-price": price,
            "shipping-price": "0.00",
            "recipient-name": "Jan Schulz",
            "ship-address-1": "Lindenstraße 9",
            "ship-address-2": "",
            "ship-city": "Münster",
            "ship-postal-code": "48143",
            "ship-country": "DE",
            "payment-method": "Other",
        }
        values.update(changes)
        return [values[column] for column in MARKETPLACE_HEADER]

    rows = [
        row("A-1", "TSHIRT-M", "2", "24.00", **{"shipping-price": "2.95"}),  # 2
        row("A-1", "TOTE-CANVAS", "1", "12.00", **{"shipping-price": "1.05"}),  # 3
        row("A-1", "TOTE-CANVAS", "1", "12.00", **{"shipping-price": "1.05"}),  # 4: the same row again
        row("A-2", "MUG-ENAMEL"),  # 5: its order has a bad row
        row("A-2", "MUG-PINK"),  # 6: unknown SKU
        row("A-3", "MUG-ENAMEL", "two"),  # 7: bad quantity
        row("A-4", "MUG-ENAMEL", **{"buyer-email": ""}),  # 8: missing email
        row("A-5", "MUG-ENAMEL", currency="EURO"),  # 9: wrong currency
        row("A-6", "COFFEE-250G", "3", "8.90", **{"payment-method": "COD"}),  # 10
    ]
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(MARKETPLACE_HEADER)
        writer.writerows(rows)
    return path


def spreadsheet_workbook(path: Path, prefix: str) -> Path:
    """Good orders S-1 (rows 2-3) and S-6 (row 10); row 9 repeats row 2; rows 4-8 are bad."""

    def row(order: str, sku: str, qty: Any = 1, price: Any = 14.9, **changes: Any) -> list[Any]:
        values: dict[str, Any] = {
            "Order number": f"{prefix}-{order}",
            "Date": "2024-11-28",
            "Customer": "Sophie Wagner",
            "Email": "sophie.wagner@example.com",
            "Address": "Neustadt 8",
            "Postcode": "04109",
            "City": "Leipzig",
            "Country": "DE",
            "SKU": sku,
            "Product": None,
            "Qty": qty,
            "Unit price": price,
            "Currency": "EUR",
            "Shipping": None,
            "Payment": "Bank transfer",
        }
        values.update(changes)
        return [values[column] for column in SPREADSHEET_HEADER]

    first = row("S-1", "MUG-ENAMEL", 2, 14.9, Shipping=4.9)
    later_line: dict[str, Any] = dict.fromkeys(("Customer", "Email", "Address", "Postcode", "City", "Country"))
    rows = [
        first,  # 2
        row("S-1", "NOTEBOOK-A5", 1, None, Payment=None, **later_line),  # 3: catalogue price, order fields above
        row("S-2", "TOTE-CANVAS", "two", 12),  # 4: bad quantity
        row("S-3", "MUG-ENAMEL", Email=None),  # 5: missing email
        row("S-4", "MUG-ENAMEL", Currency="EURO"),  # 6: wrong currency
        row("S-5", "MUG-PINK"),  # 7: unknown SKU
        row("S-5", "MUG-ENAMEL"),  # 8: its order has a bad row
        list(first),  # 9: the same row again
        row("S-6", "COFFEE-250G", 1, 8.9, Payment="Invoice"),  # 10
    ]
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(SPREADSHEET_HEADER)
    for values in rows:
        sheet.append(values)
    workbook.save(path)
    return path


async def import_file(shop: Shop, path: Path, channel: str, *options: str) -> tuple[int, dict[str, Any]]:
    """`oms order import FILE --channel C --json`: its exit code and its account of the rows."""
    code, out, err = await oms(shop.settings, "order", "import", str(path), "--channel", channel, "--json", *options)
    assert "Traceback" not in err, err
    return code, json.loads(out)


async def workflows_of(shop: Shop, expected: int) -> set[str]:
    """Ids of the workflows on this shop's task queue, once visibility shows `expected` of them (or 10 s passed).

    Every import has returned by then, so a workflow it started is in the list once visibility catches up.
    """
    query = f"TaskQueue = '{shop.settings.task_queue}'"
    found: set[str] = set()
    for _ in range(100):  # the visibility store is eventually consistent
        found = {execution.id async for execution in shop.client.list_workflows(query)}
        if len(found) >= expected:
            break
        await asyncio.sleep(0.1)
    return found


async def exists(shop: Shop, order_id: str) -> bool:
    try:
        await shop.handle(order_id).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def rejected_rows(path: Path) -> dict[str, str]:
    """The rejected rows file: row -> reason."""
    with intake.rejected_path(path).open(encoding="utf-8-sig", newline="") as file:
        return {row["row"]: row["reason"] for row in csv.DictReader(file)}


# --- a marketplace export -------------------------------------------------------------------------------------


async def test_a_marketplace_export_places_its_good_orders_and_reports_each_bad_row(shop: Shop, tmp_path: Path) -> None:
    prefix = unique()
    path = marketplace_export(tmp_path / "export.csv", prefix)

    code, out, err = await oms(shop.settings, "order", "import", str(path), "--channel", "marketplace")

    assert code == 1, err
    assert out.splitlines() == [
        "row 4: duplicate of row 3, skipped",
        f"row 5: order {prefix}-A-2 rejected because of row 6 (sku: unknown SKU 'MUG-PINK')",
        "row 6: sku: unknown SKU 'MUG-PINK'",
        "row 7: quantity-purchased: must be a whole number, got 'two'",
        "row 8: buyer-email: is required",
        "row 9: currency: 'EURO' is not a supported ISO 4217 currency",
        "placed 2 orders (3 rows), 1 duplicate (1 repeated row), 5 rejected rows; "
        f"rejected rows written to {tmp_path / 'export.rejected.csv'}",
    ]
    placed = {f"order-marketplace-{prefix}-A-1", f"order-marketplace-{prefix}-A-6"}
    assert await workflows_of(shop, 2) == placed
    for number in ("A-2", "A-3", "A-4", "A-5"):
        assert not await exists(shop, f"marketplace-{prefix}-{number}")
    view = await shop.status(f"marketplace-{prefix}-A-1")
    assert [(line.sku, line.quantity, str(line.unit_price)) for line in view.lines] == [
        ("TSHIRT-M", 2, "24.00 EUR"),
        ("TOTE-CANVAS", 1, "12.00 EUR"),
    ]
    assert str(view.totals.total) == "64.00 EUR"  # per-unit item prices, shipping summed over the item rows
    cod = await shop.status(f"marketplace-{prefix}-A-6")
    assert cod.payment.reference == PaymentMethod.CASH_ON_DELIVERY.value


async def test_the_rejected_rows_file_holds_each_bad_row_as_exported_with_its_row_and_reason(
    shop: Shop, tmp_path: Path
) -> None:
    prefix = unique()
    path = marketplace_export(tmp_path / "export.csv", prefix)

    code, result = await import_file(shop, path, "marketplace")

    assert code == 1
    assert result["rejected_file"] == str(tmp_path / "export.rejected.csv")
    assert rejected_rows(path) == {item["row"]: item["reason"] for item in map(_as_text_row, result["rejected"])}
    with intake.rejected_path(path).open(encoding="utf-8-sig", newline="") as file:
        written = list(csv.DictReader(file))
    assert [row["row"] for row in written] == ["5", "6", "7", "8", "9"]
    assert list(written[0]) == [*MARKETPLACE_HEADER, "row", "reason"]
    assert written[2]["quantity-purchased"] == "two"
    assert written[2]["order-id"] == f"{prefix}-A-3"


def _as_text_row(item: dict[str, Any]) -> dict[str, str]:
    return {"row": str(item["row"]), "reason": item["reason"]}


async def test_importing_the_same_export_again_places_nothing_new(shop: Shop, tmp_path: Path) -> None:
    prefix = unique()
    path = marketplace_export(tmp_path / "export.csv", prefix)
    _, first = await import_file(shop, path, "marketplace")

    code, again = await import_file(shop, path, "marketplace")

    assert code == 1  # the bad rows are still bad
    assert again["placed"] == []
    assert (
        again["already_placed"]
        == first["placed"]
        == [
            {"order_id": f"marketplace-{prefix}-A-1", "rows": [2, 3]},
            {"order_id": f"marketplace-{prefix}-A-6", "rows": [10]},
        ]
    )
    assert again["repeated_rows"] == [{"row": 4, "duplicate_of": 3}]
    assert [item["row"] for item in again["rejected"]] == [5, 6, 7, 8, 9]
    assert again["summary"].startswith(
        "placed 0 orders (0 rows), 3 duplicates (2 orders already placed, 1 repeated row), 5 rejected rows"
    )
    assert await workflows_of(shop, 2) == {f"order-marketplace-{prefix}-A-1", f"order-marketplace-{prefix}-A-6"}


async def test_fixing_the_bad_rows_and_importing_again_places_the_rest_and_removes_the_rejected_file(
    shop: Shop, tmp_path: Path
) -> None:
    prefix = unique()
    path = marketplace_export(tmp_path / "export.csv", prefix)
    await import_file(shop, path, "marketplace")
    fixed = (
        path.read_text(encoding="utf-8")
        .replace("MUG-PINK", "NOTEBOOK-A5")
        .replace(",two,", ",2,")
        .replace(",,Jan Schulz,MUG-ENAMEL", ",jan@example.com,Jan Schulz,MUG-ENAMEL")
        .replace("EURO", "EUR")
    )
    path.write_text(fixed, encoding="utf-8")

    code, result = await import_file(shop, path, "marketplace")

    assert code == 0, result
    assert [item["order_id"] for item in result["placed"]] == [
        f"marketplace-{prefix}-A-{number}" for number in (2, 3, 4, 5)
    ]
    assert result["rejected"] == []
    assert result["rejected_file"] is None
    assert not intake.rejected_path(path).exists()
    assert len(await workflows_of(shop, 6)) == 6


# --- the old spreadsheet, as XLSX -----------------------------------------------------------------------------


async def test_a_spreadsheet_workbook_places_its_good_orders_and_reports_each_bad_row(
    shop: Shop, tmp_path: Path
) -> None:
    prefix = unique()
    path = spreadsheet_workbook(tmp_path / "orders.xlsx", prefix)

    code, result = await import_file(shop, path, "spreadsheet")

    assert code == 1
    assert result["placed"] == [
        {"order_id": f"spreadsheet-{prefix}-S-1", "rows": [2, 3]},
        {"order_id": f"spreadsheet-{prefix}-S-6", "rows": [10]},
    ]
    assert result["repeated_rows"] == [{"row": 9, "duplicate_of": 2}]
    assert {item["row"]: item["reason"] for item in result["rejected"]} == {
        4: "Qty: must be a whole number, got 'two'",
        5: "Email: is required",
        6: "Currency: 'EURO' is not a supported ISO 4217 currency",
        7: "SKU: unknown SKU 'MUG-PINK'",
        8: f"order {prefix}-S-5 rejected because of row 7 (SKU: unknown SKU 'MUG-PINK')",
    }
    assert rejected_rows(path) == {str(row): reason for row, reason in _reasons(result).items()}
    assert await workflows_of(shop, 2) == {
        f"order-spreadsheet-{prefix}-S-1",
        f"order-spreadsheet-{prefix}-S-6",
    }
    view = await shop.wait_for(f"spreadsheet-{prefix}-S-1", OrderStatus.AWAITING_PAYMENT)
    assert [(line.sku, line.quantity, str(line.unit_price)) for line in view.lines] == [
        ("MUG-ENAMEL", 2, "14.90 EUR"),
        ("NOTEBOOK-A5", 1, "9.50 EUR"),  # no price in the sheet: the catalogue's
    ]
    assert str(view.totals.total) == "44.20 EUR"


def _reasons(result: dict[str, Any]) -> dict[int, str]:
    return {item["row"]: item["reason"] for item in result["rejected"]}


async def test_importing_the_same_workbook_again_places_nothing_new(shop: Shop, tmp_path: Path) -> None:
    prefix = unique()
    path = spreadsheet_workbook(tmp_path / "orders.xlsx", prefix)
    await import_file(shop, path, "spreadsheet")

    code, again = await import_file(shop, path, "spreadsheet")

    assert code == 1
    assert again["placed"] == []
    assert [item["order_id"] for item in again["already_placed"]] == [
        f"spreadsheet-{prefix}-S-1",
        f"spreadsheet-{prefix}-S-6",
    ]
    assert sorted(_reasons(again)) == [4, 5, 6, 7, 8]
    assert await workflows_of(shop, 2) == {f"order-spreadsheet-{prefix}-S-1", f"order-spreadsheet-{prefix}-S-6"}


# --- Temporal going away mid-import ---------------------------------------------------------------------------


class TemporalGoesAway:
    """The real client for the first `starts` workflow starts; after that the frontend is unreachable."""

    def __init__(self, client: Client, starts: int) -> None:
        self.client = client
        self.starts = starts
        self.attempts = 0

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        self.attempts += 1
        if self.attempts > self.starts:
            raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")
        return await self.client.start_workflow(*args, **kwargs)


@pytest.mark.slow
async def test_orders_not_placed_when_temporal_goes_away_are_reported_and_placed_by_the_next_run(
    shop: Shop, tmp_path: Path
) -> None:
    prefix = unique()
    path = tmp_path / "sheet.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(SPREADSHEET_HEADER)
        order = ["", "Ada", "ada@example.com", "Street 1", "10115", "Berlin", "DE", "NOTEBOOK-A5", "", "1", "9.50"]
        for number in range(30):
            writer.writerow([f"{prefix}-{number}", *order, "EUR", "", "Invoice"])
    table = intake.read_table(path, intake.FileFormat.CSV, intake.Layout.SPREADSHEET)
    products = {item.sku: item for item in await list_products(shop.sessions)}
    taken = intake.take_in(table, intake.Layout.SPREADSHEET, Channel.SPREADSHEET, products, "EUR")
    flaky = TemporalGoesAway(shop.client, starts=5)
    outcome = Outcome()

    await _place_all(flaky, shop.settings, shop.sessions, taken.candidates, None, outcome)  # type: ignore[arg-type]

    assert len(outcome.placed) == 5
    assert len(outcome.not_placed) == 25
    assert {reason for _, reason in outcome.not_placed} == {"Temporal did not take the order: connection refused"}
    assert flaky.attempts < 5 + 8 + 1  # after the failure no new start is tried, only those already under way
    code, again = await import_file(shop, path, "spreadsheet")
    assert code == 0, again
    assert len(again["placed"]) == 25
    assert len(again["already_placed"]) == 5
    assert len(await workflows_of(shop, 30)) == 30


async def test_an_order_too_large_to_run_and_a_name_with_a_line_break_are_rejected_rows_and_the_rest_is_placed(
    shop: Shop, tmp_path: Path
) -> None:
    prefix = unique()
    good = marketplace_export(tmp_path / "good.csv", prefix)
    with good.open(newline="", encoding="utf-8") as file:
        header, first, *_ = list(csv.reader(file))
    column = {name: index for index, name in enumerate(header)}

    def changed(order: str, **changes: str) -> list[str]:
        row = list(first)
        row[column["order-id"]] = f"{prefix}-{order}"
        for name, value in changes.items():
            row[column[name]] = value
        return row

    # 200 lines with the longest names of four-byte characters: every field within its length, the order over the
    # encoded limit.
    wide = "\U0001f600" * 200
    for index in range(200):
        await add_product(shop.sessions, f"SKU-{index:03}", f"Product {index}", Money.of("14.90", "EUR"))
    too_large = [changed("BIG", sku=f"SKU-{index:03}", **{"product-name": wide}) for index in range(200)]
    path = tmp_path / "export.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerow(changed("OK"))
        writer.writerow(changed("CRLF", **{"buyer-name": "Eve\r\nBcc: spy@evil.example"}))
        writer.writerows(too_large)

    code, out, err = await oms(shop.settings, "order", "import", str(path), "--channel", "marketplace")

    assert code == 1, err
    lines = out.splitlines()
    assert "row 3: buyer-name: must not contain control characters (U+000D at position 4)" in lines[0]
    assert lines[1].startswith("row 4: order: encoded as ")
    assert "over the limit of 131,072" in lines[1]
    assert lines[-1].startswith("placed 1 order (1 row), 0 duplicates, 201 rejected rows")
    assert "not placed" not in out
    assert await exists(shop, f"marketplace-{prefix}-OK")
    assert not await exists(shop, f"marketplace-{prefix}-CRLF")
    assert not await exists(shop, f"marketplace-{prefix}-BIG")
