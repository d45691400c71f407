"""`oms run` on the real dev server: generated orders placed, paid, fulfilled and summarised, failures by reason."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from domain.status import OrderStatus
from settings import Settings
from starter.cli import app
from store import catalogue
from store.schema import OrderRecord, StockMovement
from tests.conftest import free_port
from tests.integration.conftest import Shop
from tests.starter.test_cli import one_error_line

OMS = Path(sys.executable).parent / "oms"


async def oms_run(settings: Settings, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run the real `oms run --json` against the test's shop; its exit code, JSON summary and stderr."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
    env.update(
        OMS_TEMPORAL_ADDRESS=settings.temporal_address,
        OMS_VAR_DIR=str(settings.var_dir),
        OMS_DATABASE_URL=settings.oms_database_url,
        OMS_TASK_QUEUE=settings.task_queue,
        # The orders' policy comes from the placing process: the same zero durations as the shop's worker.
        OMS_PICK_SECONDS="0",
        OMS_PACK_SECONDS="0",
        OMS_TRACKING_POLL_SECONDS=str(settings.tracking_poll_seconds),
    )
    process = await asyncio.create_subprocess_exec(
        str(OMS), "run", "--json", *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    assert out, err.decode()
    return process.returncode, json.loads(out), err.decode()


def ordered(figures: dict[str, Any]) -> bool:
    return bool(0 <= figures["p50"] <= figures["p95"] <= figures["p99"])


@pytest.mark.slow
async def test_a_run_of_100_orders_completes_them_all_and_summarises_it_in_json(shop: Shop) -> None:
    before = {level.sku: level.available for level in await catalogue.stock_levels(shop.sessions)}
    started = time.monotonic()

    code, summary, err = await oms_run(shop.settings, "--orders", "100", "--seed", "7")

    print(f"oms run --orders 100 took {time.monotonic() - started:.1f} s: {summary['throughput']}")
    assert code == 0, err
    assert summary["failures"] == []
    counts = summary["orders"]
    assert (counts["requested"], counts["placed"], counts["completed"], counts["failed"]) == (100, 100, 100, 0)
    assert counts["by_status"] == {"completed": 100}
    assert summary["seed"] == 7
    assert summary["simulated_seconds"] == {"pick": 0.0, "pack": 0.0, "tracking_poll": 1.0}
    speed = summary["throughput"]
    assert speed["placed_per_second"] > 0
    assert speed["completed_per_second"] > 0
    assert speed["placement_seconds"] <= speed["wall_seconds"]
    latency = summary["latency_seconds"]
    assert latency["to_completed"]["count"] == 100
    assert ordered(latency["to_completed"])
    assert {"received", "paid", "picking", "packing", "shipped", "delivered"} <= set(latency["in_status"])
    assert "awaiting_payment" in latency["in_status"]  # the run paid its bank-transfer and invoice orders
    assert all(ordered(figures) for figures in latency["in_status"].values())
    generated = summary["generated"]
    assert sum(generated["channels"].values()) == 100
    assert len(generated["payment_methods"]) == 5
    assert len(generated["currencies"]) >= 5

    # Every order is in the read model under the run's id, completed; the run's receipt is in the ledger.
    prefix = summary["find_orders"].rsplit(" ", 1)[1]
    async with shop.sessions() as session:
        in_read_model = await session.scalar(
            select(func.count()).select_from(OrderRecord).where(OrderRecord.external_id.startswith(prefix))
        )
        received = await session.scalar(
            select(func.sum(StockMovement.quantity)).where(
                StockMovement.idempotency_key.startswith(summary["stock_receipt"]["receipt"] + ":")
            )
        )
    assert in_read_model == 100
    assert received == sum(summary["stock_receipt"]["units"].values())
    # Exactly what the orders took came in, so available stock ends where it started.
    after = {level.sku: level.available for level in await catalogue.stock_levels(shop.sessions)}
    assert after == before
    assert f"stock receipt {summary['stock_receipt']['receipt']}" in err


@pytest.mark.slow
async def test_declined_payments_are_reported_as_failures_by_reason_and_exit_1(shop: Shop) -> None:
    before = await catalogue.stock_levels(shop.sessions)

    code, summary, err = await oms_run(shop.settings, "--orders", "12", "--seed", "3", "--decline-rate", "1")

    assert code == 1, err
    declined = summary["generated"]["declining"]
    assert declined > 0
    counts = summary["orders"]
    assert counts["completed"] == 12 - declined
    assert counts["failed"] == declined
    assert counts["by_status"].get(OrderStatus.PAYMENT_FAILED.value) == declined
    reasons = {failure["reason"]: failure for failure in summary["failures"]}
    assert set(reasons) <= {"payment_failed: declined (card_declined)", "payment_failed: declined (paypal_declined)"}
    assert sum(failure["count"] for failure in reasons.values()) == declined
    assert all(
        order_id.split("-run-")[1].startswith(summary["run_id"]) for f in reasons.values() for order_id in f["orders"]
    )
    # Declining orders never take stock, so the run received only what the others shipped.
    assert await catalogue.stock_levels(shop.sessions) == [
        replace(level, shipped=level.shipped + summary["stock_receipt"]["units"].get(level.sku, 0)) for level in before
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--currency", "NOK"], "--currency: NOK has no exchange rate into EUR, so prices cannot be converted; "),
        (["--mode", "manual"], "--mode manual: an automated run has nobody to confirm picking and packing; "),
        ([], "cannot reach Temporal at 127.0.0.1:"),
    ],
    ids=["currency without a rate", "manual mode", "no Temporal"],
)
def test_a_run_that_cannot_work_is_refused_in_one_line_before_anything_changes(
    args: list[str], message: str, tmp_path: Path
) -> None:
    # Nothing listens at this address: the refusal comes before the run connects, tops up stock or places orders.
    env = {"OMS_VAR_DIR": str(tmp_path / "var"), "OMS_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}

    result = CliRunner().invoke(app, ["run", "--orders", "5", *args], env=env)

    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith(message)
    assert not (tmp_path / "var").exists()
