"""`oms product add|list` and `oms stock list --low` against a real catalogue database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from domain.money import Money
from settings import Settings
from starter.cli import app
from store import catalogue
from tests.starter.test_cli import one_error_line


@pytest.fixture
async def env(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """A catalogue of three products: sold out, low (3 units) and plenty (40 units); low means 5 or fewer."""
    await catalogue.add_product(sessions, "LAMP", "Desk lamp", Money.of("39.00", "EUR"), stock=0)
    await catalogue.add_product(sessions, "TEA", "Green tea", Money.of("6.50", "EUR"), stock=3)
    await catalogue.add_product(sessions, "MUG", "Mug", Money.of("14.90", "EUR"), stock=40)
    return {"OMS_VAR_DIR": str(settings.var_dir), "OMS_LOW_STOCK_UNITS": "5"}


def test_low_stock_lists_only_the_skus_at_or_below_the_threshold(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["stock", "list", "--low", "--json"], env=env)

    assert result.exit_code == 0, result.output
    assert [(level["sku"], level["available"]) for level in json.loads(result.stdout)] == [("LAMP", 0), ("TEA", 3)]


def test_a_new_product_is_in_the_catalogue_with_its_opening_stock(env: dict[str, str]) -> None:
    added = CliRunner().invoke(
        app, ["product", "add", "kettle-1", "--name", "Kettle", "--price", "49.00", "--stock", "7"], env=env
    )
    listed = CliRunner().invoke(app, ["product", "list", "--json"], env=env)
    stock = CliRunner().invoke(app, ["stock", "list", "--json"], env=env)

    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == "KETTLE-1: Kettle, 49.00 EUR, 7 units in stock"
    assert {"sku": "KETTLE-1", "name": "Kettle", "price": {"amount": "49.00", "currency": "EUR"}} in json.loads(
        listed.stdout
    )
    assert {"sku": "KETTLE-1", "available": 7} in [
        {"sku": level["sku"], "available": level["available"]} for level in json.loads(stock.stdout)
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["MUG", "--name", "Mug again", "--price", "1"], "sku: MUG is already in the catalogue"),
        (["no sku", "--name", "x", "--price", "1"], "SKU: 'NO SKU' is not a SKU"),
        (["TEA-2", "--name", "Tea", "--price", "12,5"], "--price '12,5': not a number"),
        (["TEA-2", "--name", "Tea", "--price", "12.345"], "--price '12.345': must be more than 0 with at most 2"),
        (["TEA-2", "--name", "Tea", "--price", "9.5", "--currency", "JPY"], "--price '9.5': must be more than 0"),
        (["TEA-2", "--name", "Tea", "--price", "5", "--currency", "XYZ"], "--currency 'XYZ': not a supported"),
        (["TEA-2", "--name", " ", "--price", "5"], "--name: must not be empty"),
    ],
)
def test_a_bad_product_is_refused_in_one_line_naming_the_field(
    env: dict[str, str], arguments: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["product", "add", *arguments], env=env)

    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith(message)
