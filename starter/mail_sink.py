"""The embedded stack's SMTP sink: accepts every email and keeps it in a Maildir for the operator to read."""

from __future__ import annotations

import mailbox
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

SINK_HOSTNAME = "oms-mail-sink"


class MailSink:
    """An SMTP server on `host:port` that stores every message it receives in the Maildir at `maildir`."""

    def __init__(self, maildir: Path, host: str, port: int) -> None:
        self.maildir = maildir
        self.host = host
        self.port = port
        self._controller: Controller | None = None

    def start(self) -> None:
        """Start listening; returns once the server answers."""
        if self._controller is not None:
            return
        # A fixed greeting name: otherwise aiosmtpd looks up the machine's FQDN, which can stall offline.
        controller = Controller(
            _KeepInMaildir(self._box()), hostname=self.host, port=self.port, server_hostname=SINK_HOSTNAME
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening; the messages stay in the Maildir."""
        if self._controller is None:
            return
        self._controller.stop()
        self._controller = None

    def count(self) -> int:
        """How many messages the Maildir holds, from this run and earlier ones."""
        return len(self._box())

    def messages(self) -> list[mailbox.MaildirMessage]:
        """Every message in the Maildir, in no particular order."""
        return list(self._box().values())

    def _box(self) -> mailbox.Maildir:
        return mailbox.Maildir(self.maildir, create=True)


class _KeepInMaildir:
    """aiosmtpd handler that files each message with its envelope sender and recipients."""

    def __init__(self, box: mailbox.Maildir) -> None:
        self.box = box

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message as received, prefixed with where it came from and where it was going."""
        raw = envelope.original_content or b""
        trace = f"Return-Path: <{envelope.mail_from or ''}>\r\nX-Original-To: {', '.join(envelope.rcpt_tos)}\r\n"
        # A Maildir delivery is one small file write and rename; the sink's own loop can afford it.
        self.box.add(trace.encode() + raw)
        return "250 Message accepted for delivery"
