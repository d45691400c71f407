"""Shared fixtures: a real SQLite database per test, a real SMTP peer, and settings that point at both."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from settings import Settings
from store.db import create_engine, create_schema, session_factory

BIN = Path(sys.executable).parent
TEMPORAL_CLI = BIN / "temporal"
TEMPORAL_TEST_SERVER = BIN / "temporal-test-server"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: its own var dir and SQLite file, zero simulated durations."""
    return Settings(
        var_dir=tmp_path / "var",
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        pick_seconds=0,
        pack_seconds=0,
        carrier_transit_seconds=0,
        tracking_poll_seconds=1,
        demo_data=False,
    )


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
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A fresh OMS database with the full schema."""
    engine = create_engine(settings.oms_database_url)
    await create_schema(engine)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
