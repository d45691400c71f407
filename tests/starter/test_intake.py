"""Reading order files of every channel into orders and rejected rows, without Temporal or a database."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from domain.order import Channel, PaymentMethod
from starter import intake
from starter.cli import app
from starter.intake import FileFormat, Intake, IntakeError, Layout, Rejected
from store.catalogue import DEMO_CATALOGUE, CatalogueItem

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CATALOGUE = {product.sku: CatalogueItem(product.sku, product.name, product.price) for product in DEMO_CATALOGUE}

MARKETPLACE_HEADER = [
    "order-id",
    "purchase-date",
    "buyer-email",
    "buyer-name",
    "sku",
    "product-name",
    "quantity-purchased",
    "currency",
    "item-price",
    "shipping-price",
    "recipient-name",
    "ship-address-1",
    "ship-address-2",
    "ship-city",
    "ship-postal-code",
    "ship-country",
    "payment-method",
]
SPREADSHEET_HEADER = [
    "Order number",
    "Date",
    "Customer",
    "Email",
    "Address",
    "Postcode",
    "City",
    "Country",
    "SKU",
    "Product",
    "Qty",
    "Unit price",
    "Currency",
    "Shipping",
    "Payment",
]


def marketplace_row(order: str, sku: str = "MUG-ENAMEL", **changes: Any) -> list[Any]:
    """One item row of a marketplace export; `changes` by column name with '-' as '_'."""
    values: dict[str, Any] = {
        "order-id": order,
        "purchase-date": "2026-11-02T09:14:37+00:00",
        "buyer-email": "jan.schulz@example.com",
        "buyer-name": "Jan Schulz",
        "sku": sku,
        "product-name": "",
        "quantity-purchased": "1",
        "currency": "EUR",
        "item-price": "14.90",
        "shipping-price": "",
        "recipient-name": "Jan Schulz",
        "ship-address-1": "Lindenstraße 9",
        "ship-address-2": "",
        "ship-city": "Münster",
        "ship-postal-code": "48143",
        "ship-country": "DE",
        "payment-method": "Other",
    }
    values.update({key.replace("_", "-"): value for key, value in changes.items()})
    return [values[column] for column in MARKETPLACE_HEADER]


def spreadsheet_row(order: str | int, sku: str = "MUG-ENAMEL", **changes: Any) -> list[Any]:
    """One line of the old spreadsheet; `changes` by column name with ' ' as '_'."""
    values: dict[str, Any] = {
        "Order number": order,
        "Date": "2024-11-28",
        "Customer": "Sophie Wagner",
        "Email": "sophie.wagner@example.com",
        "Address": "Neustadt 8",
        "Postcode": "04109",
        "City": "Leipzig",
        "Country": "DE",
        "SKU": sku,
        "Product": "",
        "Qty": "1",
        "Unit price": "14.90",
        "Currency": "EUR",
        "Shipping": "",
        "Payment": "Bank transfer",
    }
    values.update({key.replace("_", " ").capitalize(): value for key, value in changes.items()})
    return [values[column] for column in SPREADSHEET_HEADER]


def write_csv(path: Path, header: list[str], rows: list[list[Any]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def take(path: Path, layout: Layout, channel: Channel | None = None, base_currency: str = "EUR") -> Intake:
    """Read and check a file as `oms order import` does, against the demo catalogue."""
    table = intake.read_table(path, intake.file_format(path), layout)
    return intake.take_in(table, layout, channel or Channel(layout.value), CATALOGUE, base_currency)


def reasons(taken: Intake) -> dict[int, str]:
    return {item.row: item.reason for item in taken.rejected}


# --- marketplace ----------------------------------------------------------------------------------------------


def test_a_marketplace_export_becomes_one_order_per_order_id_with_its_item_rows_as_lines(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "export.csv",
        MARKETPLACE_HEADER,
        [
            marketplace_row("302-1", "TSHIRT-M", quantity_purchased="2", item_price="24.00"),
            marketplace_row("302-2", "NOTEBOOK-A5", item_price="9.50"),
            marketplace_row("302-1", "TOTE-CANVAS", item_price="12.00"),
        ],
    )

    taken = take(path, Layout.MARKETPLACE)

    assert taken.rejected == []
    assert [(candidate.order_id, candidate.rows) for candidate in taken.candidates] == [
        ("marketplace-302-1", (2, 4)),
        ("marketplace-302-2", (3,)),
    ]
    first = taken.candidates[0].order
    assert [(line.sku, line.quantity, line.unit_price.amount) for line in first.lines] == [
        ("TSHIRT-M", 2, Decimal("24.00")),
        ("TOTE-CANVAS", 1, Decimal("12.00")),
    ]
    assert first.customer.email == "jan.schulz@example.com"
    assert first.shipping_address.city == "Münster"
    assert first.lines[0].name == "Organic cotton T-shirt, size M"  # the catalogue's name when the export has none


def test_marketplace_item_price_is_per_unit_and_shipping_is_the_sum_of_the_item_rows(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "export.csv",
        MARKETPLACE_HEADER,
        [
            marketplace_row("302-1", "TSHIRT-M", quantity_purchased="2", item_price="24.00", shipping_price="2.95"),
            marketplace_row("302-1", "TOTE-CANVAS", item_price="12.00", shipping_price="1.05"),
        ],
    )

    order = take(path, Layout.MARKETPLACE).candidates[0].order

    assert order.shipping.amount == Decimal("4.00")
    assert order.total.amount == Decimal("64.00")


def test_a_prepaid_marketplace_order_is_captured_at_once_and_a_cod_one_is_collected_at_the_door(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path / "export.csv",
        MARKETPLACE_HEADER,
        [
            marketplace_row("302-1", payment_method="Other"),
            marketplace_row("302-2", payment_method="COD"),
            marketplace_row("302-3", payment_method=""),
        ],
    )

    payments = [candidate.order.payment for candidate in take(path, Layout.MARKETPLACE).candidates]

    assert [payment.method for payment in payments] == [
        PaymentMethod.PAYPAL,
        PaymentMethod.CASH_ON_DELIVERY,
        PaymentMethod.PAYPAL,
    ]
    assert payments[0].paypal_email == "jan.schulz@example.com"


def test_a_marketplace_row_without_an_item_price_is_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.csv", MARKETPLACE_HEADER, [marketplace_row("302-1", item_price="")])

    assert reasons(take(path, Layout.MARKETPLACE)) == {2: "item-price: is required"}


# --- spreadsheet ----------------------------------------------------------------------------------------------


def test_spreadsheet_rows_are_grouped_by_order_number_even_when_apart(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "sheet.csv",
        SPREADSHEET_HEADER,
        [
            spreadsheet_row("1001", "MUG-ENAMEL", qty="2"),
            spreadsheet_row("1002", "NOTEBOOK-A5", unit_price="9.50", email="other@example.com"),
            spreadsheet_row("1001", "TOTE-CANVAS", unit_price="12.00"),
        ],
    )

    taken = take(path, Layout.SPREADSHEET)

    assert [(candidate.order_id, candidate.rows) for candidate in taken.candidates] == [
        ("spreadsheet-1001", (2, 4)),
        ("spreadsheet-1002", (3,)),
    ]
    assert [line.sku for line in taken.candidates[0].order.lines] == ["MUG-ENAMEL", "TOTE-CANVAS"]


def test_later_rows_of_a_spreadsheet_order_may_leave_the_customer_and_address_blank(tmp_path: Path) -> None:
    blank = {"customer": "", "email": "", "address": "", "postcode": "", "city": "", "country": "", "payment": ""}
    path = write_csv(
        tmp_path / "sheet.csv",
        SPREADSHEET_HEADER,
        [
            spreadsheet_row("1001", "MUG-ENAMEL", shipping="4.90"),
            spreadsheet_row("1001", "TOTE-CANVAS", unit_price="12.00", currency="", **blank),
        ],
    )

    order = take(path, Layout.SPREADSHEET).candidates[0].order

    assert order.customer.name == "Sophie Wagner"
    assert order.shipping_address.postal_code == "04109"
    assert order.payment.method is PaymentMethod.BANK_TRANSFER
    assert order.total.amount == Decimal("31.80")


def test_spreadsheet_headers_match_whatever_their_case_spacing_and_dashes(tmp_path: Path) -> None:
    header = [column.upper().replace(" ", "_") for column in SPREADSHEET_HEADER]
    header[0] = "  order-Number "
    path = write_csv(tmp_path / "sheet.csv", header, [spreadsheet_row("1001")])

    taken = take(path, Layout.SPREADSHEET)

    assert [candidate.order_id for candidate in taken.candidates] == ["spreadsheet-1001"]


def test_a_spreadsheet_row_without_a_price_takes_the_catalogue_price(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "sheet.csv", SPREADSHEET_HEADER, [spreadsheet_row("1001", "COFFEE-250G", unit_price="")]
    )

    order = take(path, Layout.SPREADSHEET).candidates[0].order

    assert order.lines[0].unit_price.amount == Decimal("8.90")


def test_a_spreadsheet_row_without_a_price_in_another_currency_than_the_catalogue_is_rejected(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path / "sheet.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row("1001", "COFFEE-250G", unit_price="", currency="USD")],
    )

    assert reasons(take(path, Layout.SPREADSHEET)) == {
        2: "Unit price: is required: the catalogue price of COFFEE-250G is in EUR, the order in USD"
    }


def test_a_spreadsheet_without_a_currency_sells_in_the_shops_base_currency(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sheet.csv", SPREADSHEET_HEADER, [spreadsheet_row("1001", currency="")])

    order = take(path, Layout.SPREADSHEET, base_currency="CHF").candidates[0].order

    assert order.currency == "CHF"


def test_a_card_payment_in_the_spreadsheet_is_rejected_for_want_of_a_providers_token(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sheet.csv", SPREADSHEET_HEADER, [spreadsheet_row("1001", payment="Credit card")])

    assert reasons(take(path, Layout.SPREADSHEET)) == {
        2: "Payment: card payments need the payment provider's token, which spreadsheet files do not carry; "
        "use bank transfer, invoice, cash on delivery or paypal"
    }


def test_a_phone_channel_imports_the_spreadsheet_layout_under_its_own_ids(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "phone.csv", SPREADSHEET_HEADER, [spreadsheet_row("P-1")])

    taken = take(path, intake.DEFAULT_LAYOUT[Channel.PHONE], Channel.PHONE)

    assert [candidate.order_id for candidate in taken.candidates] == ["phone-P-1"]


# --- bad rows -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"sku": "MUG-PINK"}, "SKU: unknown SKU 'MUG-PINK'"),
        ({"qty": "two"}, "Qty: must be a whole number, got 'two'"),
        ({"qty": "2.5"}, "Qty: must be a whole number, got '2.5'"),
        ({"qty": "0"}, "Qty: must be at least 1, got 0"),
        ({"email": ""}, "Email: is required"),
        (
            {"email": "sophie at example"},
            "Email: 'sophie at example' is not a valid email address: An email address must have an @-sign.",
        ),
        ({"currency": "EURO"}, "Currency: 'EURO' is not a supported ISO 4217 currency"),
        ({"unit_price": "14.905"}, "Unit price: 14.905 has more decimals than EUR allows (2)"),
        ({"unit_price": "14,90"}, "Unit price: '14,90' is not a decimal number (use a decimal point: 14.90)"),
        ({"unit_price": "-1"}, "Unit price: must not be negative, got -1"),
        ({"country": "Germany"}, "Country: must be a two-letter ISO 3166-1 code such as DE, got 'Germany'"),
        (
            {"payment": "bitcoin"},
            "Payment: 'bitcoin' is not a payment method; use bank transfer, invoice, cash on delivery or paypal",
        ),
        ({"order_number": "10 01"}, "Order number: '10 01' must be 1-64 letters, digits, '.', '_' or '-'"),
    ],
)
def test_a_bad_row_is_rejected_naming_its_row_the_column_and_the_problem(
    tmp_path: Path, change: dict[str, str], reason: str
) -> None:
    changes = dict(change)
    good = spreadsheet_row("1001")
    bad = spreadsheet_row(changes.pop("order_number", "1002"), **changes)
    path = write_csv(tmp_path / "sheet.csv", SPREADSHEET_HEADER, [good, bad])

    taken = take(path, Layout.SPREADSHEET)

    assert reasons(taken) == {3: reason}
    assert [candidate.order_id for candidate in taken.candidates] == ["spreadsheet-1001"]


def test_one_bad_row_rejects_its_whole_order_and_the_other_rows_name_it(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "sheet.csv",
        SPREADSHEET_HEADER,
        [
            spreadsheet_row("1003", "MUG-ENAMEL"),
            spreadsheet_row("1003", "MUG-PINK"),
            spreadsheet_row("1003", "TOTE-CANVAS", unit_price="12.00"),
        ],
    )

    taken = take(path, Layout.SPREADSHEET)

    assert taken.candidates == []
    assert taken.rejected == [
        Rejected(2, "order 1003 rejected because of row 3 (SKU: unknown SKU 'MUG-PINK')", "1003"),
        Rejected(3, "SKU: unknown SKU 'MUG-PINK'", "1003"),
        Rejected(4, "order 1003 rejected because of row 3 (SKU: unknown SKU 'MUG-PINK')", "1003"),
    ]


def test_every_bad_row_of_an_order_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "sheet.csv",
        SPREADSHEET_HEADER,
        [
            spreadsheet_row("1003", "MUG-ENAMEL", qty="two"),
            spreadsheet_row("1003", "TOTE-CANVAS"),
            spreadsheet_row("1003", "MUG-PINK"),
        ],
    )

    assert reasons(take(path, Layout.SPREADSHEET)) == {
        2: "Qty: must be a whole number, got 'two'",
        3: "order 1003 rejected because of rows 2 and 4",
        4: "SKU: unknown SKU 'MUG-PINK'",
    }


def test_lines_of_one_order_in_different_currencies_are_rejected(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "sheet.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row("1003", "MUG-ENAMEL"), spreadsheet_row("1003", "TOTE-CANVAS", currency="USD")],
    )

    assert reasons(take(path, Layout.SPREADSHEET))[3] == (
        "Currency: USD differs from EUR on row 2 of the same order; an order is in one currency"
    )


def test_order_fields_that_disagree_between_rows_of_one_order_are_rejected(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "sheet.csv",
        SPREADSHEET_HEADER,
        [
            spreadsheet_row("1003", "MUG-ENAMEL"),
            spreadsheet_row("1003", "TOTE-CANVAS", email="SOPHIE.WAGNER@example.com"),
            spreadsheet_row("1003", "NOTEBOOK-A5", email="someone.else@example.com"),
        ],
    )

    assert reasons(take(path, Layout.SPREADSHEET))[4] == (
        "Email: 'someone.else@example.com' differs from 'sophie.wagner@example.com' on row 2 of the same order"
    )


def test_the_same_sku_on_two_rows_of_one_order_is_rejected(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "sheet.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row("1003", "MUG-ENAMEL"), spreadsheet_row("1003", "mug-enamel", qty="2")],
    )

    assert reasons(take(path, Layout.SPREADSHEET))[3] == (
        "SKU: MUG-ENAMEL is already on row 2 of the same order; give its whole quantity on one row"
    )


def test_a_row_without_an_order_number_is_rejected_on_its_own(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "sheet.csv", SPREADSHEET_HEADER, [spreadsheet_row("1001"), spreadsheet_row("", "TOTE-CANVAS")]
    )

    taken = take(path, Layout.SPREADSHEET)

    assert reasons(taken) == {3: "Order number: is required"}
    assert [candidate.order_id for candidate in taken.candidates] == ["spreadsheet-1001"]


def test_a_csv_row_with_an_unquoted_comma_rejects_its_order_instead_of_shifting_columns(tmp_path: Path) -> None:
    path = tmp_path / "sheet.csv"
    write_csv(path, SPREADSHEET_HEADER, [spreadsheet_row("1001")])
    with path.open("a", encoding="utf-8") as file:
        file.write(",".join(spreadsheet_row("1002", address="Neustadt 8, Hinterhaus")) + "\r\n")

    assert reasons(take(path, Layout.SPREADSHEET)) == {
        3: "has 1 more value than the header has columns; quote values that contain ','"
    }


# --- duplicates -----------------------------------------------------------------------------------------------


def test_an_identical_row_is_a_duplicate_of_the_earlier_row_and_not_placed_twice(tmp_path: Path) -> None:
    row = marketplace_row("302-1", "TSHIRT-M", item_price="24.00")
    path = write_csv(
        tmp_path / "export.csv", MARKETPLACE_HEADER, [row, marketplace_row("302-1", "TOTE-CANVAS"), list(row)]
    )

    taken = take(path, Layout.MARKETPLACE)

    assert taken.repeated == [intake.RepeatedRow(row=4, duplicate_of=2)]
    assert taken.rejected == []
    assert [(line.sku, line.quantity) for line in taken.candidates[0].order.lines] == [
        ("TSHIRT-M", 1),
        ("TOTE-CANVAS", 1),
    ]


def test_a_web_order_on_two_lines_with_different_content_is_rejected_on_the_later_line(tmp_path: Path) -> None:
    order = json.loads((EXAMPLES / "web-card.json").read_text())
    changed = {**order, "note": "changed"}
    path = tmp_path / "orders.jsonl"
    path.write_text(f"{json.dumps(order)}\n{json.dumps(changed)}\n{json.dumps(order)}\n")

    taken = take(path, Layout.WEB)

    assert [candidate.order_id for candidate in taken.candidates] == ["web-1001"]
    assert reasons(taken) == {2: "order web-1001 is also on row 1, with different content"}
    assert taken.repeated == [intake.RepeatedRow(row=3, duplicate_of=1)]


def test_the_same_web_order_written_differently_is_a_duplicate_of_the_earlier_line(tmp_path: Path) -> None:
    order = json.loads((EXAMPLES / "web-card.json").read_text())
    path = tmp_path / "orders.jsonl"
    path.write_text(f"{json.dumps(order)}\n{json.dumps(order, sort_keys=True).replace('14.90', '14.9')}\n")

    taken = take(path, Layout.WEB)

    assert [candidate.order_id for candidate in taken.candidates] == ["web-1001"]
    assert taken.rejected == []
    assert taken.repeated == [intake.RepeatedRow(row=2, duplicate_of=1)]


# --- web shop JSON lines --------------------------------------------------------------------------------------


def test_web_shop_lines_are_orders_as_oms_order_place_takes_them(tmp_path: Path) -> None:
    taken = take(EXAMPLES / "imports" / "web-shop.jsonl", Layout.WEB)

    assert taken.rejected == []
    assert [(candidate.order_id, candidate.rows) for candidate in taken.candidates] == [
        ("web-2001", (1,)),
        ("web-2002", (2,)),
        ("web-2003", (3,)),
    ]


def test_a_bad_web_line_is_rejected_with_the_field_path_oms_order_place_would_name(tmp_path: Path) -> None:
    order = json.loads((EXAMPLES / "web-card.json").read_text())
    order["lines"][0]["quantity"] = 0
    unknown = {**order, "external_id": "1002", "lines": [{**order["lines"][1], "sku": "MUG-PINK"}], "totals": None}
    path = tmp_path / "orders.jsonl"
    path.write_text(f"\n{json.dumps(order)}\n{json.dumps(unknown)}\n{{not json\n")

    assert reasons(take(path, Layout.WEB)) == {
        2: "lines[0].quantity: must be at least 1, got 0",
        3: "lines[0].sku: unknown SKU 'MUG-PINK'",
        4: "invalid JSON at column 2: Expecting property name enclosed in double quotes",
    }


def test_a_web_line_of_another_channel_is_rejected(tmp_path: Path) -> None:
    order = json.loads((EXAMPLES / "pos-cash-on-delivery.json").read_text())
    path = tmp_path / "orders.jsonl"
    path.write_text(json.dumps(order) + "\n")

    assert reasons(take(path, Layout.WEB, Channel.WEB)) == {1: "channel: 'pos' differs from --channel web"}


def test_a_pretty_printed_json_order_is_refused_as_not_json_lines() -> None:
    with pytest.raises(IntakeError, match="is one JSON document, not JSON lines"):
        take(EXAMPLES / "web-card.json", Layout.WEB)


def test_the_spreadsheet_layout_reads_json_lines_of_flat_rows(tmp_path: Path) -> None:
    row = dict(zip(SPREADSHEET_HEADER, spreadsheet_row("1001", qty=2, unit_price=14.9), strict=True))
    path = tmp_path / "sheet.jsonl"
    path.write_text(json.dumps(row) + "\n[1]\n{oops\n")

    taken = take(path, Layout.SPREADSHEET)

    assert [(line.quantity, line.unit_price.amount) for line in taken.candidates[0].order.lines] == [
        (2, Decimal("14.90"))
    ]
    assert reasons(taken) == {
        2: "must be a JSON object, got an array",
        3: "invalid JSON at column 2: Expecting property name enclosed in double quotes",
    }


# --- XLSX -----------------------------------------------------------------------------------------------------


def test_xlsx_rows_are_numbered_as_the_sheet_numbers_them_below_a_title(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "orders.xlsx",
        [
            ["Orders 2024"],
            [],
            SPREADSHEET_HEADER,
            spreadsheet_row("1001"),
            [],
            spreadsheet_row("1002", qty="two"),
        ],
    )

    taken = take(path, Layout.SPREADSHEET)

    assert [candidate.rows for candidate in taken.candidates] == [(4,)]
    assert reasons(taken) == {6: "Qty: must be a whole number, got 'two'"}


def test_xlsx_rows_after_a_blank_row_keep_their_sheet_row_numbers(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "orders.xlsx",
        [SPREADSHEET_HEADER, spreadsheet_row("1001"), [], [], spreadsheet_row("1002", qty="two")],
    )

    taken = take(path, Layout.SPREADSHEET)

    assert [candidate.rows for candidate in taken.candidates] == [(2,)]
    assert reasons(taken) == {5: "Qty: must be a whole number, got 'two'"}


def test_xlsx_number_cells_become_exact_amounts_and_whole_quantities(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "orders.xlsx",
        [
            SPREADSHEET_HEADER,
            spreadsheet_row("1001", "MUG-ENAMEL", qty=2.0, unit_price=14.9, shipping=0.1 + 0.2),
            spreadsheet_row(1002, "TOTE-CANVAS", qty=3, unit_price=12, postcode=4109),
        ],
    )

    orders = [candidate.order for candidate in take(path, Layout.SPREADSHEET).candidates]

    assert [(line.quantity, line.unit_price.amount) for line in orders[0].lines] == [(2, Decimal("14.90"))]
    assert orders[0].shipping.amount == Decimal("0.30")
    assert orders[1].external_id == "1002"
    assert orders[1].lines[0].unit_price.amount == Decimal("12.00")
    assert orders[1].shipping_address.postal_code == "4109"  # a number cell has no leading zero: format it as text


def test_an_xlsx_price_with_more_decimals_than_its_currency_is_rejected_not_rounded(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "orders.xlsx",
        [
            SPREADSHEET_HEADER,
            spreadsheet_row("1001", unit_price=14.905),
            spreadsheet_row("1002", unit_price=1980.5, currency="JPY"),
        ],
    )

    assert reasons(take(path, Layout.SPREADSHEET)) == {
        2: "Unit price: 14.905 has more decimals than EUR allows (2)",
        3: "Unit price: 1980.5 has more decimals than JPY allows (0)",
    }


def test_a_file_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "orders.xlsx"
    path.write_text("Order number,SKU\n")

    with pytest.raises(IntakeError, match=r"cannot read .*orders.xlsx: not an XLSX workbook"):
        take(path, Layout.SPREADSHEET)


# --- the file as a whole --------------------------------------------------------------------------------------


def test_missing_columns_are_all_named(tmp_path: Path) -> None:
    header = [column for column in SPREADSHEET_HEADER if column not in ("Email", "Qty")]
    path = write_csv(tmp_path / "sheet.csv", header, [["1001"]])

    with pytest.raises(IntakeError, match="lacks the columns Email, Qty of the spreadsheet mapping"):
        take(path, Layout.SPREADSHEET)


@pytest.mark.parametrize(("text", "message"), [("", "has no orders: it is empty"), ("\n\n", "it is empty")])
def test_an_empty_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(text)

    with pytest.raises(IntakeError, match=message):
        take(path, Layout.SPREADSHEET)


def test_a_header_without_rows_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", SPREADSHEET_HEADER, [])

    with pytest.raises(IntakeError, match="has a header but no rows"):
        take(path, Layout.SPREADSHEET)


def test_the_format_comes_from_the_extension_unless_given() -> None:
    assert intake.file_format(Path("a.NDJSON")) is FileFormat.JSONL
    assert intake.file_format(Path("a.tsv")) is FileFormat.CSV
    assert intake.file_format(Path("orders.xls"), FileFormat.CSV) is FileFormat.CSV
    with pytest.raises(IntakeError, match=r"cannot tell the format of orders.xls from its extension '.xls'"):
        intake.file_format(Path("orders.xls"))


def test_the_web_mapping_refuses_a_csv_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", SPREADSHEET_HEADER, [spreadsheet_row("1001")])

    with pytest.raises(IntakeError, match="the web mapping reads JSON lines"):
        take(path, Layout.WEB)


def test_a_semicolon_separated_csv_from_a_german_spreadsheet_is_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", SPREADSHEET_HEADER, [spreadsheet_row("1001")], delimiter=";")

    assert [candidate.order_id for candidate in take(path, Layout.SPREADSHEET).candidates] == ["spreadsheet-1001"]


def test_a_csv_that_is_not_utf8_is_refused_with_how_to_save_it(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(",".join(SPREADSHEET_HEADER).encode() + b"\n1001,M\xfcnchen\n")

    with pytest.raises(IntakeError, match=r"not UTF-8 text \(byte 0xfc at offset \d+\); save it as UTF-8"):
        take(path, Layout.SPREADSHEET)


# --- the rejected rows file -----------------------------------------------------------------------------------


def test_the_rejected_file_keeps_the_original_columns_and_imports_again_once_fixed(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "sheet.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row("1001"), spreadsheet_row("1002", "MUG-ENAMEL", qty="two")],
    )
    table = intake.read_table(path, FileFormat.CSV, Layout.SPREADSHEET)
    taken = intake.take_in(table, Layout.SPREADSHEET, Channel.SPREADSHEET, CATALOGUE, "EUR")
    rejected = intake.rejected_path(path)

    intake.write_rejected(table, taken.rejected, rejected)

    assert rejected.name == "sheet.rejected.csv"
    rows = list(csv.DictReader(rejected.open(encoding="utf-8-sig")))
    assert rows == [
        {
            **dict(zip(SPREADSHEET_HEADER, spreadsheet_row("1002", qty="two"), strict=True)),
            "row": "3",
            "reason": "Qty: must be a whole number, got 'two'",
        }
    ]
    rejected.write_text(rejected.read_text(encoding="utf-8-sig").replace(",two,", ",2,"), encoding="utf-8-sig")
    again = take(rejected, Layout.SPREADSHEET)
    assert [(candidate.order_id, candidate.rows) for candidate in again.candidates] == [("spreadsheet-1002", (2,))]


def test_a_problem_found_at_placement_is_told_in_the_files_rows_and_columns(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "sheet.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row("1001", "MUG-ENAMEL"), spreadsheet_row("1001", "TOTE-CANVAS")],
    )
    candidate = take(path, Layout.SPREADSHEET).candidates[0]

    # What `place_order` says when a product left the catalogue after the file was checked.
    rejected = candidate.rejections(["lines[1].sku: unknown SKU 'TOTE-CANVAS'"])

    assert rejected == [
        Rejected(2, "order 1001 rejected because of row 3 (SKU: unknown SKU 'TOTE-CANVAS')", "1001"),
        Rejected(3, "SKU: unknown SKU 'TOTE-CANVAS'", "1001"),
    ]


def test_the_example_import_files_import_cleanly() -> None:
    for name, layout in [
        ("web-shop.jsonl", Layout.WEB),
        ("marketplace-export.csv", Layout.MARKETPLACE),
        ("spreadsheet.csv", Layout.SPREADSHEET),
    ]:
        taken = take(EXAMPLES / "imports" / name, layout)
        assert taken.rejected == [], name
        assert taken.repeated == [], name
        assert len(taken.candidates) == 3, name


# --- card numbers ---------------------------------------------------------------------------------------------

CARD_NUMBER = "4242 4242 4242 4242"
REFUSED = "card numbers are not accepted; send the payment provider's token (e.g. tok_visa) with brand and last4"


def rejected_file(path: Path, layout: Layout) -> tuple[Intake, str]:
    """What `oms order import` makes of `path`, and the text of the rejected rows file it writes."""
    table = intake.read_table(path, intake.file_format(path), layout)
    taken = intake.take_in(table, layout, Channel(layout.value), CATALOGUE, "EUR")
    intake.write_rejected(table, taken.rejected, intake.rejected_path(path))
    return taken, intake.rejected_path(path).read_text(encoding="utf-8-sig")


def test_a_web_line_with_a_card_number_is_rejected_and_left_out_of_the_rejected_file(tmp_path: Path) -> None:
    order = json.loads((EXAMPLES / "web-card.json").read_text())
    with_card = {**order, "external_id": "1002", "payment": {"method": "card", "card_number": CARD_NUMBER}}
    path = tmp_path / "orders.jsonl"
    path.write_text(f"{json.dumps(order)}\n{json.dumps(with_card)}\n")

    taken, rejected = rejected_file(path, Layout.WEB)

    assert [candidate.order_id for candidate in taken.candidates] == ["web-1001"]
    assert reasons(taken) == {2: f"payment.card_number: {REFUSED}"}
    assert "4242 4242" not in rejected
    (row,) = csv.DictReader(rejected.splitlines())
    assert json.loads(row["json"])["payment"] == {"method": "card", "card_number": "[card number removed]"}


def test_a_card_number_sent_as_a_json_number_is_left_out_of_the_rejected_file_too(tmp_path: Path) -> None:
    order = json.loads((EXAMPLES / "web-card.json").read_text())
    path = tmp_path / "orders.jsonl"
    path.write_text(json.dumps(order).replace('"token": "tok_visa"', '"token": 4000000000000002') + "\n")

    taken, rejected = rejected_file(path, Layout.WEB)

    assert reasons(taken) == {1: f"payment.token: holds a card number; {REFUSED}"}
    assert "4000000000000002" not in rejected


def test_a_card_number_in_a_line_that_is_not_even_json_is_left_out_of_the_rejected_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text(f'{{"payment": {{"method": "card", "card_number": "{CARD_NUMBER}"}},}}\n')

    taken, rejected = rejected_file(path, Layout.WEB)

    assert reasons(taken)[1].startswith("invalid JSON")
    assert "4242" not in rejected


def test_a_card_number_in_the_spreadsheets_payment_column_is_rejected_and_left_out(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "sheet.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row("1001"), spreadsheet_row("1001", "COFFEE-250G", payment=f"Card {CARD_NUMBER}")],
    )

    taken, rejected = rejected_file(path, Layout.SPREADSHEET)

    assert reasons(taken) == {
        2: "order 1001 rejected because of row 3 (Payment: holds a card number; card numbers are not accepted, "
        "remove it)",
        3: "Payment: holds a card number; card numbers are not accepted, remove it",
    }
    assert "4242" not in rejected
    assert [row["Payment"] for row in csv.DictReader(rejected.splitlines())] == [
        "Bank transfer",
        "Card [card number removed]",
    ]


def test_a_card_number_in_an_xlsx_email_cell_is_rejected_and_left_out(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "orders.xlsx",
        [SPREADSHEET_HEADER, spreadsheet_row("1001", email="4242424242424242@paypal.example", payment="paypal")],
    )

    taken, rejected = rejected_file(path, Layout.SPREADSHEET)

    assert reasons(taken) == {2: "Email: holds a card number; card numbers are not accepted, remove it"}
    assert "4242" not in rejected


def test_a_card_number_in_a_marketplace_payment_method_is_rejected_not_taken_as_prepaid(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "export.csv", MARKETPLACE_HEADER, [marketplace_row("302-1", payment_method="4000-0000-0000-0002")]
    )

    taken, rejected = rejected_file(path, Layout.MARKETPLACE)

    assert taken.candidates == []
    assert reasons(taken) == {2: "payment-method: holds a card number; card numbers are not accepted, remove it"}
    assert "0002" not in rejected


def test_sixteen_digits_that_are_no_card_number_in_a_paypal_address_are_imported(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "sheet.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row("1001", email="1234567812345678@example.com", payment="paypal")],
    )

    (candidate,) = take(path, Layout.SPREADSHEET).candidates

    assert candidate.order.payment.paypal_email == "1234567812345678@example.com"


# --- the command, before it needs Temporal --------------------------------------------------------------------


def test_oms_order_import_refuses_a_file_missing_columns_in_one_line_naming_them(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.csv", MARKETPLACE_HEADER[:4], [marketplace_row("302-1")[:4]])

    result = CliRunner().invoke(app, ["order", "import", str(path), "--channel", "marketplace"])

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {path} lacks the columns recipient-name, ship-address-1, ship-postal-code, ship-city, "
        "ship-country, sku, quantity-purchased, currency, item-price of the marketplace mapping "
        "(headers match ignoring case, spaces, '-' and '_')"
    )


def test_oms_order_import_refuses_a_file_it_cannot_read_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["order", "import", str(tmp_path / "nope.csv"), "--channel", "spreadsheet"])

    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: cannot read {tmp_path / 'nope.csv'}: No such file or directory"
