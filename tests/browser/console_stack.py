"""`oms up` on free ports in a temporary folder, and the Chromium that drives its console, for tests and screenshots."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from playwright.async_api import Browser, Page, Playwright

from store import orders
from store.db import create_engine, session_factory
from store.orders import OrderFilter
from tests.browser.find_chromium import Chromium
from tests.conftest import free_port
from tests.integration.test_embedded_stack import descendants

OMS = str(Path(sys.executable).parent / "oms")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# A cold dev server and the demo orders take a few seconds; a loaded CI machine may take much longer.
STARTUP_TIMEOUT_SECONDS = 120.0
# `oms up` drains its worker on SIGINT; the existing embedded-stack test allows it the same.
STOP_TIMEOUT_SECONDS = 30.0
CLI_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.1

# Chromium's background services call home; this closed network refuses them, so they are switched off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
# Put into every page before its own scripts: notes when the live stream sends its first event, `orders-changed`,
# which the server sends once it has subscribed to the feed of changes (an open connection alone does not say that).
# Pages that do not show a list have no listener for that event, so it is heard on the EventSource itself.
NOTE_WHEN_LISTENING = """
window.EventSource = class extends window.EventSource {
  constructor(...args) {
    super(...args);
    this.addEventListener("orders-changed", () => { window.omsListening = true; });
  }
};
"""

DEMO_OPERATOR = "operator@demo-shop.example"
# The shop's calendar, set explicitly so a test can work out refund deadlines the stack will show.
COUNTRY = "DE"
TIMEZONE = "Europe/Berlin"

# Statuses a demo order rests in until someone acts (or for good); any other one is still moving.
RESTING = frozenset(
    {"awaiting_payment", "backordered", "picking", "completed", "payment_failed", "cancelled", "refunded"}
)
# What every demo order's id holds (`web-demo-1001`).
DEMO_IDS = "-demo-"


class StackFailed(Exception):
    """`oms up` did not start or stop as it should; the message carries the end of its output."""


@dataclass
class ConsoleStack:
    """A running `oms up`: its environment, console address, demo operator password, mail folder and log."""

    env: dict[str, str]
    var: Path
    log: Path
    process: asyncio.subprocess.Process
    url: str = ""
    password: str = ""

    @classmethod
    @asynccontextmanager
    async def running(cls, folder: Path) -> AsyncIterator[ConsoleStack]:
        """`oms up` in `folder` on free ports with zero simulated durations; stopped with SIGINT afterwards."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
        env.update(
            OMS_VAR_DIR=str(folder / "var"),
            OMS_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
            OMS_TEMPORAL_UI_PORT=str(free_port()),
            OMS_SMTP_PORT=str(free_port()),
            OMS_WEB_PORT=str(free_port()),
            OMS_CODEC_PORT=str(free_port()),
            OMS_PICK_SECONDS="0",
            OMS_PACK_SECONDS="0",
            OMS_CARRIER_TRANSIT_SECONDS="0",
            OMS_TRACKING_POLL_SECONDS="1",
            OMS_COUNTRY=COUNTRY,
            OMS_TIMEZONE=TIMEZONE,
            OMS_WAREHOUSE_HOURS="24/7",
        )
        log = folder / "oms-up.log"
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                OMS,
                "up",
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                # Its own session, so Ctrl-C in the terminal running the tests does not reach it half-way.
                start_new_session=True,
            )
        stack = cls(env=env, var=folder / "var", log=log, process=process)
        try:
            await stack._wait_for_banner()
            yield stack
        finally:
            await stack.stop()

    async def _wait_for_banner(self) -> None:
        """Until the banner is printed, then read the console's address and the demo operator's password from it."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            output = self.output()
            console = re.search(r"^\s*Console\s+(http://\S+)", output, re.MULTILINE)
            login = re.search(
                rf"^\s*Console login\s+{re.escape(DEMO_OPERATOR)}\s+password\s+(\S+)", output, re.MULTILINE
            )
            if "oms is up" in output and console and login:
                self.url, self.password = console.group(1), login.group(1)
                return
            if self.process.returncode is not None:
                raise StackFailed(f"oms up exited with status {self.process.returncode}:\n{self._tail()}")
            if time.monotonic() > deadline:
                raise StackFailed(
                    f"oms up printed no banner with a console login in {STARTUP_TIMEOUT_SECONDS:.0f}s:\n{self._tail()}"
                )
            with suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), POLL_SECONDS)

    async def stop(self) -> None:
        """SIGINT as Ctrl-C sends it; if `oms up` does not stop in time, kill it and everything it started."""
        process = self.process
        if process.returncode is not None:
            return
        children = descendants(process.pid)
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            for pid in [process.pid, *children]:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await process.wait()
            raise StackFailed(f"oms up ignored SIGINT for {STOP_TIMEOUT_SECONDS:.0f}s:\n{self._tail()}") from None
        if process.returncode != 0:
            raise StackFailed(f"oms up stopped with status {process.returncode}:\n{self._tail()}")

    def output(self) -> str:
        """Everything `oms up` printed so far."""
        return self.log.read_text(errors="replace")

    def _tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    # --- the command line, as an operator types it in a second terminal ------------------------------------

    async def oms(self, *arguments: str, stdin: str | None = None) -> str:
        """Run `oms ARGUMENTS` against this stack and return what it printed; AssertionError on a non-zero exit."""
        command = await asyncio.create_subprocess_exec(
            OMS,
            *arguments,
            env=self.env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(
            command.communicate(stdin.encode() if stdin is not None else None), CLI_TIMEOUT_SECONDS
        )
        assert command.returncode == 0, f"oms {' '.join(arguments)} failed: {err.decode()}"
        return out.decode()

    async def place(self, example: str, folder: Path, *, mode: str = "auto", external_id: str | None = None) -> str:
        """Place a copy of `examples/EXAMPLE` under a fresh (or the given) external id with `oms order place`."""
        order = json.loads((EXAMPLES / example).read_text(encoding="utf-8"))
        order["external_id"] = external_id or new_external_id()
        path = folder / f"{order['channel']}-{order['external_id']}.json"
        path.write_text(json.dumps(order), encoding="utf-8")
        placed = await self.oms("order", "place", "--mode", mode, str(path), "--json")
        order_id: str = json.loads(placed)["id"]
        return order_id

    # --- the read model, which the console's lists read too ------------------------------------------------

    async def statuses(self, search: str | None = None) -> dict[str, str]:
        """The status of every order (whose id, customer or tracking matches `search`), from the OMS database."""
        engine = create_engine(f"sqlite+aiosqlite:///{self.var / 'oms.db'}", read_only=True)
        try:
            found = await orders.list_orders(session_factory(engine), limit=1_000, where=OrderFilter(search=search))
        finally:
            await engine.dispose()
        return {record.order_id: record.status for record in found}

    async def wait_for_status(self, order_id: str, status: str, timeout: float = 60.0) -> None:
        """Until the order has reached `status` in the read model."""
        deadline = time.monotonic() + timeout
        while (now := (await self.statuses(order_id)).get(order_id)) != status:
            if time.monotonic() > deadline:
                raise AssertionError(f"order {order_id} is {now}, not {status}, after {timeout:.0f}s")
            await asyncio.sleep(POLL_SECONDS)

    async def demo_orders_resting(self, timeout: float = 60.0) -> None:
        """Until every demo order waits for someone or has ended, so pages show them as an operator finds them."""
        deadline = time.monotonic() + timeout
        while moving := {
            order_id: status for order_id, status in (await self.statuses(DEMO_IDS)).items() if status not in RESTING
        }:
            if time.monotonic() > deadline:
                raise AssertionError(f"demo orders still moving after {timeout:.0f}s: {moving}")
            await asyncio.sleep(POLL_SECONDS)

    # --- the mail sink ----------------------------------------------------------------------------------------

    def mails(self) -> list[EmailMessage]:
        """Every email the stack's SMTP sink has kept (in var/mail/new)."""
        folder = self.var / "mail" / "new"
        if not folder.is_dir():
            return []
        found: list[EmailMessage] = []
        for path in sorted(folder.iterdir()):
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)
            found.append(message)
        return found

    async def mail(self, wanted: Callable[[EmailMessage], bool], timeout: float = 30.0) -> EmailMessage:
        """The first email in the sink that is `wanted`, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.mails():
                if wanted(message):
                    return message
            if time.monotonic() > deadline:
                subjects = [str(message["Subject"]) for message in self.mails()]
                raise AssertionError(f"no such email within {timeout:.0f}s; the sink holds: {subjects}")
            await asyncio.sleep(POLL_SECONDS)


def new_external_id() -> str:
    """An external order id no other test uses."""
    return f"T{uuid.uuid4().hex[:10].upper()}"


async def launch(playwright: Playwright, chromium: Chromium) -> Browser:
    """Headless Chromium with a fresh profile (Playwright makes a temporary one per launch)."""
    return await playwright.chromium.launch(executable_path=str(chromium.path), headless=True, args=CHROMIUM_ARGS)


async def listening(page: Page) -> None:
    """Until the page's live stream is subscribed to the feed of changes, so it hears of every change from now on."""
    await page.wait_for_function("() => window.omsListening === true")


async def log_in(page: Page, email: str, password: str) -> None:
    """Fill in the console's login form and send it; returns once the console's home page is shown."""
    await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(re.compile(r"/$"))
