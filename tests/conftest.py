"""Shared fixtures: a real SQLite database per test, a real SMTP peer, and settings that point at both."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.mail_relay import MailRelay
from settings import Settings
from store import migrate
from store.db import create_engine, session_factory
from store.notifications import PENDING
from store.schema import Notification

BIN = Path(sys.executable).parent
TEMPORAL_CLI = BIN / "temporal"
TEMPORAL_TEST_SERVER = BIN / "temporal-test-server"

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
# The PostgreSQL this machine (and CI) runs: trust authentication on 127.0.0.1.
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Run the suite in an empty working directory: settings read `.env` and default to `var/` in the working
    directory, and a developer's (the compose secrets, a `make run` state) must not configure the tests."""
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
    session.config.stash[_WORKDIR] = workdir
    os.chdir(workdir)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove the suite's empty working directory (pytest is back in the one it started in by now)."""
    workdir = session.config.stash.get(_WORKDIR, None)
    # Only ever the directory made above: never the working directory of the moment, which is the checkout here.
    if workdir is not None and workdir.name.startswith(WORKDIR_PREFIX):
        shutil.rmtree(workdir, ignore_errors=True)


WORKDIR_PREFIX = "oms-tests-"
_WORKDIR = pytest.StashKey[Path]()


def free_port() -> int:
    """A TCP port nobody listens on right now, never handed out before in this run, and outside the kernel's
    ephemeral range.

    A port the kernel picks for `bind(0)` is one it may pick again for anyone else: the dev server binds several
    ports of its own that way while `oms up` starts, and once took the console's port from under it (CI, EADDRINUSE).
    """
    low, high = _ephemeral_range()
    candidates = [port for port in range(*_TEST_PORTS) if not low <= port <= high and port not in _handed_out]
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free TCP port left in {_TEST_PORTS[0]}-{_TEST_PORTS[1] - 1} outside {low}-{high}")


# Above the well-known services this machine runs (PostgreSQL, Redis, RabbitMQ, NATS...), below Linux's usual
# ephemeral range (32768-60999).
_TEST_PORTS = (20000, 32768)
_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


@dataclass
class Mailbox:
    """Every message the SMTP peer received, parsed."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to `address`."""
        return [m for m in self.messages if address in (m["To"] or "")]

    def with_subject(self, text: str) -> list[EmailMessage]:
        """Messages whose subject contains `text`."""
        return [m for m in self.messages if text in (m["Subject"] or "")]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until at least `count` messages have arrived."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.messages) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} emails, got {len(self.messages)}")
            await asyncio.sleep(0.05)
        return self.messages


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The OMS database a test runs on: SQLite, unless the integration suite asks for PostgreSQL as well."""
    return str(getattr(request, "param", SQLITE))


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database made by the migrations once, which each test copies instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "oms.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await migrate.upgrade(engine)
    await engine.dispose()
    return path


class PostgresTemplate:
    """A PostgreSQL database made by the migrations on first use, which each test's database is cloned from."""

    def __init__(self) -> None:
        self.name: str | None = None

    async def get(self) -> str:
        """The template's name, migrating it the first time."""
        if self.name is None:
            name = f"oms_template_{uuid.uuid4().hex[:12]}"
            await postgres_admin(f'CREATE DATABASE "{name}"')
            self.name = name
            engine = create_engine(f"{POSTGRES}/{name}")
            try:
                await migrate.upgrade(engine)
            finally:
                await engine.dispose()
        return self.name


@pytest.fixture(scope="session")
async def postgres_template() -> AsyncIterator[PostgresTemplate]:
    """The run's PostgreSQL template, dropped at the end if any test used it."""
    template = PostgresTemplate()
    try:
        yield template
    finally:
        if template.name is not None:
            await postgres_admin(f'DROP DATABASE IF EXISTS "{template.name}" WITH (FORCE)')


async def postgres_admin(statement: str) -> None:
    """Run one statement outside a transaction on the server's `test` database (CREATE/DROP DATABASE need that)."""
    connection = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="test")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
async def database_url(backend: str, postgres_template: PostgresTemplate) -> AsyncIterator[str | None]:
    """A fresh PostgreSQL database cloned from the migrated template, dropped after the test; None for SQLite."""
    if backend == SQLITE:
        yield None
        return
    template = await postgres_template.get()
    name = f"oms_test_{uuid.uuid4().hex[:12]}"
    await postgres_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    """Settings for one test: its own var dir and database, zero simulated durations."""
    return Settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        pick_seconds=0,
        pack_seconds=0,
        carrier_transit_seconds=0,
        tracking_poll_seconds=1,
        demo_data=False,
    )


@pytest.fixture
def umask() -> Iterator[None]:
    """A typical umask (others may read new files) for the test, and the runner's own back afterwards."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def smtp(settings: Settings) -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on the port `settings` sends to, keeping every message."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname=settings.smtp_host, port=settings.smtp_port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
async def sessions(settings: Settings, sqlite_template: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A fresh OMS database with the full schema, as the migrations make it."""
    if settings.database_url is None:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sqlite_template, settings.var_dir / "oms.db")
    engine = create_engine(settings.oms_database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def mail_relay(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> AsyncIterator[None]:
    """The mail relay every worker runs, sending what steps queued in the outbox, for as long as the block lasts."""
    stop = asyncio.Event()
    relay = asyncio.create_task(MailRelay(sessions, settings, every=RELAY_ROUND_SECONDS).run(stop))
    try:
        yield
    finally:
        stop.set()
        await relay


# Shorter than a worker's round of a second: tests wait for emails as they go out.
RELAY_ROUND_SECONDS = 0.2


async def outbox_sent(sessions: async_sessionmaker[AsyncSession], timeout: float = 30.0) -> None:
    """Wait until the mail relay has sent every email steps queued (the SMTP peer has them by then)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with sessions() as session:
            waiting = await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.status == PENDING, Notification.message.is_not(None))
            )
        if not waiting:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{waiting} emails still in the outbox after {timeout:.0f} s")
        await asyncio.sleep(0.05)
