"""The mail relay: sends the outbox's queued emails that no activity sends, retrying while the SMTP server is down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime
from email.message import Message

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from activities import api
from activities.notifications import Composed, compose, hand_over, mark_failed
from domain.view import OrderView
from settings import Settings
from store import notifications, orders
from store.db import create_engine, session_factory
from store.schema import Notification

# Besides every email queued whole: new-order emails queued before emails were kept whole, composed from the read
# model. Rows the send_email activity queues (without a message) are its own to send.
RELAY_KINDS = frozenset({api.EmailKind.NEW_ORDER.value})
EVERY_SECONDS = 1.0
# Waits double after each failed attempt up to this, so a mail server that is down for hours gets a line a minute.
LONGEST_WAIT_SECONDS = 60.0
BATCH = 100
# Emails claimed at a time: sent well within a claim's half minute even by a slow SMTP server, so no other relay
# takes one over while it is still being sent.
CLAIM_BATCH = 20
# Attempts at one email that fail for a reason of its own (not the SMTP server's being down) before it is marked
# failed and the operator told: with the waits doubling to a minute, a quarter of an hour of trying.
EMAIL_ATTEMPTS = 20
# How much of a failure a log line and the outbox row keep.
REASON_LENGTH = 300

log = logging.getLogger("oms.mail_relay")


class MailRelay:
    """Sends what the outbox holds for it, round after round, waiting longer after every failure."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        every: float = EVERY_SECONDS,
        longest_wait: float = LONGEST_WAIT_SECONDS,
        readers: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        # Looking for work every second must not take the write lock (every SQLite writer transaction begins
        # IMMEDIATE): the relay reads through these and writes only to mark what it sent.
        self.readers = readers or sessions
        self.settings = settings
        self.every = every
        self.longest_wait = longest_wait
        # Failures in a row of the SMTP server, and of single emails that the server is not to blame for.
        self._server_failures = 0
        self._email_failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Send what is queued at once and then every `every` seconds, until `stop` is set."""
        while not stop.is_set():
            wait = self.every
            try:
                if await self.send_pending() == BATCH:
                    wait = 0
                self._server_failures = 0
            except Exception as error:
                # Whatever went wrong (SMTP, the database), the relay stays up and tries again later.
                self._server_failures += 1
                wait = self._backoff(self._server_failures)
                log.warning("mail relay: %s; next attempt in %.0f s", _reason(error), wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

    async def send_pending(self) -> int:
        """One round: hand every due pending email to the SMTP server; how many it took.

        An SMTP server that refuses one email ends the round (the rest would fail the same way) by raising; an
        email that fails for a reason of its own waits on its own and does not hold up the others.
        """
        sent = 0
        now = asyncio.get_running_loop().time()
        # Looked for through the readers, so an idle outbox costs no write lock; then claimed in one statement.
        due = [
            queued.idempotency_key
            for queued in await notifications.pending(self.readers, RELAY_KINDS, BATCH)
            if self._not_before.get(queued.idempotency_key, 0.0) <= now
        ]
        for start in range(0, len(due), CLAIM_BATCH):
            sent += await self._send_claimed(due[start : start + CLAIM_BATCH])
        return sent

    async def _send_claimed(self, keys: list[str]) -> int:
        """Claim these emails and hand them to SMTP one by one; how many it took."""
        sent = 0
        claimant = uuid.uuid4().hex
        # Another sender has the others, or a killed one's claim on them is running out: not those emails' fault.
        claimed = await notifications.claim_many(self.sessions, keys, claimant, datetime.now(UTC))
        for position, queued in enumerate(claimed):
            key = queued.idempotency_key
            try:
                message = await self._message(queued)
                if message is None:
                    await notifications.unclaim(self.sessions, key, claimant)
                elif await hand_over(self.sessions, self.settings, message, key, claimant):
                    sent += 1
            except ApplicationError as error:
                if error.type == api.ErrorType.SMTP_UNAVAILABLE:
                    # The server would refuse the rest too: give their claims back for the next round.
                    for waiting in claimed[position + 1 :]:
                        await notifications.unclaim(self.sessions, waiting.idempotency_key, claimant)
                    raise
                await self._failed(key, claimant, error)
            except Exception as error:
                await self._failed(key, claimant, error)
            else:
                self._email_failures.pop(key, None)
                self._not_before.pop(key, None)
        return sent

    async def _message(self, queued: Notification) -> Message | Composed | None:
        """The queued email as it was composed; None while the order a new-order email (queued before emails were
        kept whole) is about is not in the read model."""
        if queued.message is not None:
            return Composed(queued.message, queued.recipient)
        record = await orders.get_order(self.readers, queued.order_id)
        if record is None:
            # The projection queues the email just before it writes the order; the next round finds it.
            return None
        view = OrderView.model_validate_json(record.view_json)
        return compose(api.EmailKind(queued.kind), view, self.settings)

    async def _failed(self, key: str, claimant: str, error: Exception) -> None:
        """One more failed attempt at this email: try it again later, or, after `EMAIL_ATTEMPTS`, give it up."""
        if self._email_failures.get(key, 0) + 1 < EMAIL_ATTEMPTS:
            await notifications.unclaim(self.sessions, key, claimant)
            self._hold(key, error)
            return
        reason = f"given up after {EMAIL_ATTEMPTS} attempts: {_reason(error)}"
        alerted = await mark_failed(self.sessions, self.settings, key, claimant, reason)
        self._email_failures.pop(key, None)
        self._not_before.pop(key, None)
        log.error(
            "mail relay: email %s %s; marked failed%s",
            key,
            reason,
            f", the operator alerted at {self.settings.operator_email}" if alerted else "",
        )

    def _hold(self, key: str, error: Exception) -> None:
        failures = self._email_failures.get(key, 0) + 1
        wait = self._backoff(failures)
        self._email_failures[key] = failures
        self._not_before[key] = asyncio.get_running_loop().time() + wait
        log.warning("mail relay: email %s failed: %s; next attempt in %.0f s", key, _reason(error), wait)

    def _backoff(self, failures: int) -> float:
        return float(min(self.every * 2**failures, self.longest_wait))


async def run_mail_relay(sessions: async_sessionmaker[AsyncSession], settings: Settings, stop: asyncio.Event) -> None:
    """Send queued operator emails (new orders) every second until `stop` is set: for `oms up` and `oms worker`."""
    reader = create_engine(settings.oms_database_url, read_only=True)
    try:
        await MailRelay(sessions, settings, readers=session_factory(reader)).run(stop)
    finally:
        await reader.dispose()


def _reason(error: Exception) -> str:
    if isinstance(error, ApplicationError):
        # The relay says when it retries; the activity's wording of it would repeat that.
        return error.message.removesuffix("; will retry")
    # One line, whatever the error's own text: a validation error's runs to several.
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= REASON_LENGTH else text[: REASON_LENGTH - 1] + "…"


async def serve_mail_relay(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """`oms mailer`: the mail relay alone, until SIGINT, SIGTERM or `stop`; several may run, each email is claimed
    by one."""
    # Imported here: worker imports this module.
    from store import migrate
    from worker import stop_on_signals

    stop = stop or asyncio.Event()
    engine = create_engine(settings.oms_database_url)
    try:
        await migrate.require_head(engine)
        log.info(
            "mail relay sending the outbox of %s through %s:%d",
            settings.oms_database_display,
            settings.smtp_host,
            settings.smtp_port,
        )
        with stop_on_signals(stop):
            await run_mail_relay(session_factory(engine), settings, stop)
        log.info("mail relay stopped")
    finally:
        await engine.dispose()
