"""The embedded stack's SMTP sink keeps every email it receives, across restarts."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from starter.mail_sink import MailSink
from tests.conftest import free_port


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    """A running mail sink on a free port, filing into a Maildir under the test's directory."""
    mail_sink = MailSink(tmp_path / "mail", "127.0.0.1", free_port())
    mail_sink.start()
    try:
        yield mail_sink
    finally:
        mail_sink.stop()


async def deliver(sink: MailSink, subject: str, to: str = "ada@example.com") -> None:
    """Send one email to the sink over SMTP."""
    message = EmailMessage()
    message["From"] = "orders@demo-shop.example"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(f"Body of {subject}")
    await aiosmtplib.send(message, hostname=sink.host, port=sink.port, timeout=10)


async def test_mail_sink_keeps_every_message(sink: MailSink) -> None:
    for n in range(3):
        await deliver(sink, f"Order web-{n} confirmed")

    assert sink.count() == 3
    assert sorted(message["Subject"] for message in sink.messages()) == [
        "Order web-0 confirmed",
        "Order web-1 confirmed",
        "Order web-2 confirmed",
    ]


async def test_mail_sink_records_who_the_message_was_for(sink: MailSink) -> None:
    await deliver(sink, "Hello", to="bob@example.com")

    [message] = sink.messages()
    assert message["X-Original-To"] == "bob@example.com"
    assert message["Return-Path"] == "<orders@demo-shop.example>"


async def test_mail_sink_keeps_its_messages_across_restarts(sink: MailSink) -> None:
    await deliver(sink, "Before the restart")
    sink.stop()

    restarted = MailSink(sink.maildir, sink.host, free_port())
    restarted.start()
    try:
        await deliver(restarted, "After the restart")
        assert restarted.count() == 2
    finally:
        restarted.stop()
