"""`oms order list` as an operator runs it: counts per list, newest orders first, JSON, and clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from domain.order import Channel
from domain.status import OrderStatus
from settings import Settings
from starter.cli import app
from store import orders
from tests.activities.fixtures_views import placed_order, view_of
from tests.starter.test_cli import one_error_line


@pytest.fixture
async def env(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """A shop with a completed web order in JPY and a backordered marketplace order, and the CLI's settings."""
    completed = placed_order(external_id="7", currency="JPY", lines=(("TEA", 3, "1320", "Tea"),), shipping=None)
    backordered = placed_order(external_id="8", customer_name="Grace Hopper", customer_email="grace@example.com")
    await orders.project(
        sessions, view_of(completed, status=OrderStatus.COMPLETED, placed_at=datetime(2026, 11, 2, 9, tzinfo=UTC))
    )
    await orders.project(
        sessions,
        view_of(
            backordered.model_copy(update={"channel": Channel.MARKETPLACE}),
            status=OrderStatus.BACKORDERED,
            placed_at=datetime(2026, 11, 3, 9, tzinfo=UTC),
        ),
    )
    return {"OMS_VAR_DIR": str(settings.var_dir)}


def test_the_json_list_has_the_counts_and_the_orders_newest_first(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["order", "list", "--json"], env=env)

    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["counts"] == {"pending": 1, "completed": 1, "cancelled": 0}
    assert [order["order_id"] for order in listed["orders"]] == ["marketplace-8", "web-7"]
    assert listed["orders"][1]["total"] == {"amount": "3960", "currency": "JPY"}


def test_the_pending_list_of_one_channel_is_a_table_with_the_counts_above_it(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["order", "list", "--status", "pending", "--channel", "marketplace"], env=env)

    assert result.exit_code == 0, result.output
    assert "Pending 1  Completed 0  Cancelled 0" in result.stdout
    assert "marketplace-8" in result.stdout
    assert "web-7" not in result.stdout
    assert "1 of 1 matching orders shown" in result.stdout


def test_since_is_a_shop_local_date(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["order", "list", "--since", "2026-11-03", "--json"], env=env)

    assert [order["order_id"] for order in json.loads(result.stdout)["orders"]] == ["marketplace-8"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--status", "lost", "--status 'lost': not a list (pending, completed, cancelled) or a status (received,"),
        ("--channel", "fax", "--channel 'fax': not a channel (web,"),
        ("--since", "3 Nov", "--since '3 Nov': not a date or time; use YYYY-MM-DD or YYYY-MM-DDTHH:MM"),
    ],
)
def test_a_bad_filter_is_one_line_naming_the_option(env: dict[str, str], option: str, value: str, message: str) -> None:
    result = CliRunner().invoke(app, ["order", "list", option, value], env=env)

    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith(message)


@pytest.fixture
async def long_id(env: dict[str, str], sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """The shop with one more order whose id is as long as imported spreadsheet ids get."""
    order = placed_order(external_id="demo-2024-117-SPREADSHEET-IMPORT", customer_name="Ada Lovelace")
    await orders.project(sessions, view_of(order, status=OrderStatus.AWAITING_PAYMENT))
    return env


def test_on_an_80_column_terminal_long_ids_keep_their_status_and_total_and_the_channel_gives_way(
    long_id: dict[str, str],
) -> None:
    narrow = CliRunner().invoke(app, ["order", "list"], env={**long_id, "COLUMNS": "80"})
    wide = CliRunner().invoke(app, ["order", "list"], env={**long_id, "COLUMNS": "160"})

    assert narrow.exit_code == 0, narrow.output
    assert "web-demo-2024-117-SPREADSH" in narrow.stdout  # the rest of the id folds onto a second line
    assert "awaiting_payment" in narrow.stdout
    assert "29.90 EUR" in narrow.stdout
    assert "channel" not in narrow.stdout
    assert all(len(line) <= 80 for line in narrow.stdout.splitlines())
    assert "channel" in wide.stdout
    assert "Ada Lovelace" in wide.stdout
