"""Chaos at scale: a thousand orders and an import through a stack under fire, then a count of everything wrong.

`make chaos` runs it (`python -m bench.chaos [--orders N]`) after the fuzz tests. On a private stack in a temporary
directory (the Temporal dev server on a SQLite file, an SMTP sink, a fresh OMS database with the demo catalogue and
two `oms worker` processes), it runs `oms run --orders N` and imports a marketplace export, while:

- a worker is killed with SIGKILL every 5 s (the two in turn) and started again at once,
- the dev server is killed with SIGKILL once and started again on its database,
- the SMTP server is down for 30 s,
- the sandbox payment gateway fails a fifth of its charges and refunds (OMS_SANDBOX_GATEWAY_FAILURE_RATE=0.2),
- 50 completed orders are refunded with `oms order refund` in a burst.

Then it waits for every order to settle and checks, from the OMS database, the mail directory and Temporal: no
order lost or stuck, no double charge or refund, no email sent twice under two Message-IDs, every SKU's stock ledger
balanced, no workflow with a failing task. It prints that table and exits 1 if anything is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from temporalio.client import Client

from bench.fulfilment_run import bench_environment, free_port, machine
from settings import Settings
from starter.mail_sink import MailSink
from starter.stack import DevServer, StackPaths
from store import migrate
from store.catalogue import ledger_balance, seed_demo_catalogue
from store.db import create_engine, session_factory
from store.schema import Notification, OrderRecord, PaymentRecord, RefundPaymentRecord, RefundRecord
from worker import exit_now

ORDERS = 1_000
CONCURRENCY = 20
WORKERS = 2
KILL_EVERY_SECONDS = 5.0
SERVER_KILL_AT_SECONDS = 60.0
SMTP_DOWN_AT_SECONDS = 20.0
SMTP_DOWN_SECONDS = 30.0
REFUND_BURST_AT_SECONDS = 45.0
REFUNDS = 50
GATEWAY_FAILURE_RATE = 0.2
# How long the orders get to settle once the chaos stops: retries after a kill wait out their timeouts first.
SETTLE_SECONDS = 900.0
IMPORT = Path(__file__).resolve().parents[1] / "examples" / "imports" / "marketplace-export.csv"
OMS = Path(sys.executable).parent / "oms"
# Where an order's life may end within a run: its follow-up and refund window outlast the run by design.
SETTLED = frozenset({"completed", "refunded", "cancelled", "payment_failed"})


@dataclass
class Tally:
    """What the chaos did, for the report."""

    worker_kills: int = 0
    worker_exits: int = 0
    server_restarts: int = 0
    smtp_down_seconds: float = 0.0
    refunds_asked: int = 0
    refunds_accepted: int = 0
    refund_refusals: Counter[str] = field(default_factory=Counter)
    imported: str = ""
    run_status: int | None = None
    run_summary: dict[str, Any] = field(default_factory=dict)


class Stack:
    """The private stack and the handles the chaos needs on it."""

    def __init__(self, var: Path, orders: int) -> None:
        self.settings = Settings(
            var_dir=var,
            temporal_address=f"127.0.0.1:{free_port()}",
            temporal_ui_port=free_port(),
            smtp_port=free_port(),
            task_queue="orders-chaos",
            demo_data=False,
        )
        self.paths = StackPaths(var)
        self.server = DevServer(self.settings, self.paths)
        self.sink = MailSink(self.paths.mail, self.settings.smtp_host, self.settings.smtp_port)
        self.workers: list[asyncio.subprocess.Process | None] = [None] * WORKERS
        self.client: Client | None = None
        self.orders = orders
        self.env = bench_environment(self.settings) | {
            # Real durations, short: kills land in the middle of picking, packing and transit.
            "OMS_PICK_SECONDS": "0.5",
            "OMS_PACK_SECONDS": "0.5",
            "OMS_CARRIER_TRANSIT_SECONDS": "1",
            "OMS_SANDBOX_GATEWAY_FAILURE_RATE": str(GATEWAY_FAILURE_RATE),
            "OMS_LOG_LEVEL": "warning",
        }

    async def start(self) -> None:
        engine = create_engine(self.settings.oms_database_url)
        await migrate.upgrade(engine)
        await seed_demo_catalogue(session_factory(engine), warehouse=self.settings.warehouse)
        await engine.dispose()
        await self.start_server()
        self.sink.start()
        for number in range(WORKERS):
            await self.start_worker(number)

    async def start_server(self) -> None:
        await self.server.start()
        self.client = await self.server.wait_ready(asyncio.Event())

    async def start_worker(self, number: int) -> None:
        with (self.settings.var_dir / f"worker-{number}.log").open("ab") as log:
            self.workers[number] = await asyncio.create_subprocess_exec(
                str(OMS), "worker", env=self.env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
            )

    async def kill_worker(self, number: int) -> None:
        worker = self.workers[number]
        if worker is not None and worker.returncode is None:
            worker.kill()
            await worker.wait()
        await self.start_worker(number)

    async def stop(self) -> None:
        for worker in self.workers:
            if worker is not None and worker.returncode is None:
                worker.send_signal(signal.SIGTERM)
                await worker.wait()
        self.sink.stop()
        await self.server.stop()

    async def oms(self, *arguments: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            str(OMS),
            *arguments,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


# --- the chaos ------------------------------------------------------------------------------------------------


async def at(started: float, seconds: float) -> None:
    """Wait until `seconds` after `started` (a monotonic time)."""
    await asyncio.sleep(max(0.0, started + seconds - time.monotonic()))


async def kill_workers(stack: Stack, tally: Tally, stop: asyncio.Event) -> None:
    """SIGKILL a worker every few seconds, the two in turn, and start it again at once."""
    turn = 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), KILL_EVERY_SECONDS)
        except TimeoutError:
            await stack.kill_worker(turn % WORKERS)
            tally.worker_kills += 1
            turn += 1


async def keep_workers_up(stack: Stack, tally: Tally, stop: asyncio.Event) -> None:
    """A worker that ended on its own (its server gone, say) is started again, as a supervisor would."""
    while not stop.is_set():
        for number, worker in enumerate(stack.workers):
            if worker is not None and worker.returncode is not None:
                tally.worker_exits += 1
                await stack.start_worker(number)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def restart_server(stack: Stack, tally: Tally, started: float) -> None:
    await at(started, SERVER_KILL_AT_SECONDS)
    process = stack.server.process
    if process is not None and process.returncode is None:
        process.kill()
        await process.wait()
    await stack.start_server()
    tally.server_restarts += 1


async def smtp_outage(stack: Stack, tally: Tally, started: float) -> None:
    await at(started, SMTP_DOWN_AT_SECONDS)
    stack.sink.stop()
    await asyncio.sleep(SMTP_DOWN_SECONDS)
    stack.sink.start()
    tally.smtp_down_seconds = SMTP_DOWN_SECONDS


async def refund_burst(stack: Stack, tally: Tally, started: float) -> None:
    """Refund completed card and PayPal orders (refunds that need no payout by hand) a few at a time."""
    await at(started, REFUND_BURST_AT_SECONDS)
    chosen: list[str] = []
    while len(chosen) < REFUNDS:
        chosen = await completed_orders(stack, REFUNDS)
        if len(chosen) < REFUNDS:
            await asyncio.sleep(2.0)
    tally.refunds_asked = len(chosen)
    gate = asyncio.Semaphore(5)

    async def refund(order_id: str) -> None:
        async with gate:
            code, _, err = await stack.oms("order", "refund", order_id, "--reason", "chaos burst")
        if code == 0:
            tally.refunds_accepted += 1
        else:
            line = err.strip().splitlines()[-1] if err.strip() else f"exit {code}"
            # Counted by what went wrong, not by order: "... for order web-1: Unable to ..." -> "Unable to ...".
            reason = re.sub(r"\border \S+", "order", line.removeprefix("error: "))
            tally.refund_refusals[reason[:100]] += 1

    await asyncio.gather(*(refund(order_id) for order_id in chosen))


async def completed_orders(stack: Stack, count: int) -> list[str]:
    engine = create_engine(stack.settings.oms_database_url, read_only=True)
    try:
        async with session_factory(engine)() as session:
            rows = await session.scalars(
                select(OrderRecord.order_id)
                .where(OrderRecord.status == "completed", OrderRecord.payment_method.in_(["card", "paypal"]))
                .limit(count)
            )
            return list(rows)
    finally:
        await engine.dispose()


async def run_orders(stack: Stack, tally: Tally) -> None:
    code, out, _ = await stack.oms(
        "run", "--orders", str(stack.orders), "--concurrency", str(CONCURRENCY), "--timeout", "1800", "--json"
    )
    tally.run_status = code
    try:
        tally.run_summary = json.loads(out)
    except json.JSONDecodeError:
        tally.run_summary = {"unreadable": out[:500]}


async def import_file(stack: Stack, tally: Tally, started: float) -> None:
    await at(started, 10.0)
    code, out, err = await stack.oms("order", "import", str(IMPORT), "--channel", "marketplace", "--json")
    try:
        tally.imported = json.loads(out)["summary"] if code in (0, 1) else f"exit {code}: {err.strip()[-200:]}"
    except (json.JSONDecodeError, KeyError):
        tally.imported = f"exit {code}: {(out or err).strip()[-200:]}"


# --- the checks -----------------------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    found: int
    detail: str = ""

    @property
    def good(self) -> bool:
        return self.found == 0


async def settle(stack: Stack) -> float:
    """Wait until every order has settled and every refund finished, or `SETTLE_SECONDS` pass; how long it took."""
    began = time.monotonic()
    while time.monotonic() - began < SETTLE_SECONDS:
        unsettled, open_refunds = await unsettled_orders(stack)
        if not unsettled and not open_refunds:
            break
        await asyncio.sleep(2.0)
    return time.monotonic() - began


async def unsettled_orders(stack: Stack) -> tuple[dict[str, str], list[str]]:
    engine = create_engine(stack.settings.oms_database_url, read_only=True)
    try:
        async with session_factory(engine)() as session:
            orders = {row[0]: row[1] for row in await session.execute(select(OrderRecord.order_id, OrderRecord.status))}
            refunds = list(
                await session.scalars(select(RefundRecord.refund_id).where(RefundRecord.state != "finished"))
            )
    finally:
        await engine.dispose()
    return {order: status for order, status in orders.items() if status not in SETTLED}, refunds


async def checks(stack: Stack) -> tuple[list[Check], dict[str, int]]:
    assert stack.client is not None
    client = stack.client
    engine = create_engine(stack.settings.oms_database_url, read_only=True)
    try:
        sessions = session_factory(engine)
        async with sessions() as session:
            stored = set(await session.scalars(select(OrderRecord.workflow_id)))
            charges = Counter(
                (row[0], row[1]) for row in await session.execute(select(PaymentRecord.order_id, PaymentRecord.kind))
            )
            refunds_paid = Counter(await session.scalars(select(RefundPaymentRecord.refund_id)))
            outbox = {row.message_id: (row.order_id, row.kind) for row in await session.scalars(select(Notification))}
        ledger = await ledger_balance(sessions)
    finally:
        await engine.dispose()
    unsettled, open_refunds = await unsettled_orders(stack)

    in_temporal = {execution.id async for execution in client.list_workflows('WorkflowType="Order"')}
    failing: list[str] = []
    async for execution in client.list_workflows('ExecutionStatus="Running"'):
        description = await client.get_workflow_handle(execution.id, run_id=execution.run_id).describe()
        pending = description.raw_description.pending_workflow_task
        if description.raw_description.HasField("pending_workflow_task") and pending.attempt > 1:
            failing.append(f"{execution.id} (attempt {pending.attempt})")

    received = Counter(str(message["Message-ID"]) for message in stack.sink.messages())
    unknown = [message_id for message_id in received if message_id not in outbox]
    twice = {message_id: count for message_id, count in received.items() if count > 1}
    unbalanced = [
        f"{sku}@{warehouse}"
        for (sku, warehouse), balance in ledger.items()
        if not (balance.balanced and balance.explains_levels)
    ]
    lost = sorted(in_temporal ^ stored)
    stuck = Counter(unsettled.values())
    return [
        Check("orders lost (in Temporal or the read model, not both)", len(lost), ", ".join(lost[:5])),
        Check("orders stuck (not settled)", len(unsettled), ", ".join(f"{n} {s}" for s, n in stuck.most_common())),
        Check("refunds not finished", len(open_refunds), ", ".join(open_refunds[:5])),
        Check("double charges", sum(1 for count in charges.values() if count > 1)),
        Check("refunds paid twice", sum(1 for count in refunds_paid.values() if count > 1)),
        Check("emails under a Message-ID the outbox never queued", len(unknown), ", ".join(unknown[:3])),
        Check("SKUs whose stock ledger does not balance", len(unbalanced), ", ".join(unbalanced)),
        Check("workflows with a failing task", len(failing), ", ".join(failing[:5])),
    ], {
        "orders": len(stored),
        "emails": sum(received.values()),
        "repeated": sum(n - 1 for n in twice.values()),
        "charges": sum(charges.values()),
        "refunds paid": sum(refunds_paid.values()),
    }


def table(tally: Tally, results: list[Check], totals: dict[str, int], wall: float, settled: float) -> str:
    run = tally.run_summary.get("orders", {})
    lines = [
        f"chaos run on {machine()}",
        f"  {run.get('requested', '?')} orders by oms run (exit status {tally.run_status}: "
        f"{run.get('completed', '?')} completed, {run.get('failed', '?')} failed as generated), "
        f"import: {tally.imported}",
        f"  {tally.worker_kills} worker SIGKILLs (every {KILL_EVERY_SECONDS:g} s), {tally.worker_exits} worker exits "
        f"restarted, {tally.server_restarts} dev server SIGKILL and restart, SMTP down {tally.smtp_down_seconds:g} s, "
        f"gateway failing {GATEWAY_FAILURE_RATE:.0%} of calls",
        f"  refund burst: {tally.refunds_accepted} of {tally.refunds_asked} accepted"
        + (f"; refused: {dict(tally.refund_refusals)}" if tally.refund_refusals else ""),
        f"  {totals['orders']} orders, {totals['charges']} payments booked, {totals['refunds paid']} refunds paid, "
        f"{totals['emails']} emails received ({totals['repeated']} repeated under the same Message-ID); "
        f"{wall:.0f} s in all, {settled:.0f} s to settle after the chaos",
        "",
        f"  {'check':58} {'found':>6}",
    ]
    for check in results:
        mark = "ok" if check.good else "FAIL"
        lines.append(f"  {check.name:58} {check.found:>6}  {mark}" + (f"  {check.detail}" if check.detail else ""))
    return "\n".join(lines)


async def main(orders: int) -> int:
    with tempfile.TemporaryDirectory(prefix="oms-chaos-") as directory:
        stack = Stack(Path(directory), orders)
        tally = Tally()
        began = time.monotonic()
        await stack.start()
        stop = asyncio.Event()
        try:
            background = [
                asyncio.create_task(kill_workers(stack, tally, stop)),
                asyncio.create_task(keep_workers_up(stack, tally, stop)),
            ]
            await asyncio.gather(
                run_orders(stack, tally),
                import_file(stack, tally, began),
                restart_server(stack, tally, began),
                smtp_outage(stack, tally, began),
                refund_burst(stack, tally, began),
            )
            stop.set()
            await asyncio.gather(*background)
            for number, worker in enumerate(stack.workers):
                if worker is None or worker.returncode is not None:
                    await stack.start_worker(number)
            settled = await settle(stack)
            results, totals = await checks(stack)
        finally:
            stop.set()
            await stack.stop()
        print(table(tally, results, totals, time.monotonic() - began, settled), flush=True)
    return 0 if all(check.good for check in results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=ORDERS, help=f"orders oms run places (default {ORDERS})")
    arguments = parser.parse_args()
    exit_now(asyncio.run(main(arguments.orders)))
