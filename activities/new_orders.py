"""The operator's news of new orders by email: one each, queued by the projection, or an hourly digest."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from html import escape
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities import api
from activities.letters import console_url
from activities.notifications import deliver, queue_email
from domain.money import Money
from domain.report import count_of
from domain.view import OrderView
from settings import Settings
from store import notifications
from store.schema import Notification

DIGEST_KIND = "new_order_digest"
# A digest names this many orders and only counts the rest: a flood of orders must not become an unreadable email.
MOST_LISTED = 200
# The longest header line that is never folded (RFC 5322's recommended limit).
SUBJECT_FITS = 78


async def queue_new_order_email(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, order: OrderView
) -> Notification:
    """Queue the operator's email about this new order, once per order; the mail relay sends it."""
    return await queue_email(sessions, settings, api.EmailKind.NEW_ORDER, order)


class NewOrderActivities:
    """The hourly digest of new orders, sent through the outbox so a retried or repeated hour never sends it twice."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, *, most_listed: int = MOST_LISTED
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.most_listed = most_listed

    def handlers(self) -> list[Callable[..., Awaitable[Any]]]:
        """The activities to register on a worker."""
        return [self.send_new_order_digest]

    @api.SEND_NEW_ORDER_DIGEST.implementation
    async def send_new_order_digest(self, request: api.SendNewOrderDigest) -> api.NewOrderDigestSent:
        """Email the operator the orders placed in the hour, unless it had none or the digest went out already."""
        placed = await notifications.placed_between(self.sessions, request.start, request.end, self.most_listed)
        key = digest_key(request)
        queued = await notifications.get_notification(self.sessions, key)
        if queued is not None and queued.status == notifications.SENT:
            return api.NewOrderDigestSent(orders=placed.count, message_id=queued.message_id, already_sent=True)
        if not placed.count:
            return api.NewOrderDigestSent(orders=0)
        message = compose_new_order_digest(placed, request, self.settings)
        queued = await notifications.enqueue(
            self.sessions,
            Notification(
                idempotency_key=key,
                order_id=f"{DIGEST_KIND}-{_shop_hour(request).isoformat()}",
                kind=DIGEST_KIND,
                recipient=self.settings.operator_email,
                subject=str(message["Subject"]),
                message_id=str(message["Message-ID"]),
                created_at=datetime.now(UTC),
            ),
        )
        sent = queued.status != notifications.SENT and await deliver(self.sessions, self.settings, message, key)
        return api.NewOrderDigestSent(orders=placed.count, message_id=queued.message_id, already_sent=not sent)


def digest_key(request: api.SendNewOrderDigest) -> str:
    """The digest's outbox key: one per shop-local hour, its offset telling apart the two 02:00s of a DST change."""
    return f"new-order-digest:{_shop_hour(request).isoformat()}"


class _Row(NamedTuple):
    """One order as the digest lists it."""

    at: str
    order_id: str
    total: str
    about: str
    url: str


def compose_new_order_digest(
    placed: notifications.PlacedOrders, request: api.SendNewOrderDigest, settings: Settings
) -> EmailMessage:
    """The digest: the hour and its totals in the subject, a line per order (time, id, total, customer, link)."""
    zone = ZoneInfo(request.timezone)
    start, end = _shop_hour(request), request.end.astimezone(zone)
    hour = f"{start:%H:%M}-{end:%H:%M} {start:%a %d %b %Y}"
    orders = count_of(placed.count, "new order")
    totals = ", ".join(
        Money.from_minor(minor, currency).format() for currency, (_, minor) in placed.per_currency.items()
    )
    rows = [
        _Row(
            at=f"{record.placed_at.astimezone(zone):%H:%M}",
            order_id=record.order_id,
            total=Money.from_minor(record.total_minor, record.currency).format(),
            about=(
                f"{record.customer_name}, {record.payment_method.replace('_', ' ')}, from {record.channel}, "
                f"now {record.status.replace('_', ' ')}"
            ),
            url=console_url(settings, record.order_id),
        )
        for record in placed.first
    ]
    unlisted = placed.count - len(rows)
    since = f"{start:%Y-%m-%dT%H:%M}"
    more = (
        [f"... and {count_of(unlisted, 'more order')}: `oms order list --since {since}` shows them."]
        if unlisted
        else []
    )
    message = EmailMessage()
    subject = f"{settings.shop_name}: {orders} {start:%H:%M}-{end:%H:%M} {start:%a %d %b}"
    # Totals only while the subject fits one header line: a folded subject reads with a leading space in some clients.
    with_totals = f"{subject}: {totals}"
    message["Subject"] = with_totals if len(f"Subject: {with_totals}") <= SUBJECT_FITS else subject
    message["From"] = formataddr((settings.shop_name, settings.mail_from))
    message["To"] = formataddr((f"{settings.shop_name} operator", settings.operator_email))
    message["Date"] = formatdate(usegmt=True)
    domain = settings.mail_from.rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<{DIGEST_KIND}.{start:%Y%m%dT%H%M%z}@{domain}>"
    heading = f"{orders} placed {hour} ({request.timezone}), {totals}:"
    listing = "\n".join(f"  {row.at} {row.order_id}: {row.total}, {row.about}\n        {row.url}" for row in rows)
    message.set_content("\n\n".join([heading, listing, *more, f"-- \n{settings.shop_name}"]) + "\n")
    # Customer names and order ids come from the channels: escape them all.
    table = "".join(
        f'<tr><td>{row.at}</td><td><a href="{escape(row.url)}">{escape(row.order_id)}</a></td>'
        f"<td>{escape(row.total)}</td><td>{escape(row.about)}</td></tr>"
        for row in rows
    )
    message.add_alternative(
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(str(message['Subject']))}</title></head>\n<body>\n<p>{escape(heading)}</p>\n"
        "<table><thead><tr><th>Placed</th><th>Order</th><th>Total</th><th>Customer, payment, channel, status</th>"
        f"</tr></thead><tbody>{table}</tbody></table>\n"
        + "".join(f"<p>{escape(line)}</p>" for line in more)
        + f"<p>&mdash;<br>{escape(settings.shop_name)}</p>\n</body></html>\n",
        subtype="html",
    )
    return message


def _shop_hour(request: api.SendNewOrderDigest) -> datetime:
    return request.start.astimezone(ZoneInfo(request.timezone))
