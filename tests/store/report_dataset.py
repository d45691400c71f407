"""A week of a small shop, written into the OMS database as the workflows would, for hand-checked report figures.

The week is Monday 2 to Sunday 8 November 2026 in Berlin (UTC+1): since 2026-11-02 00:00, until 2026-11-09 00:00.
Base currency EUR; rates JPY=0.0061, KWD=2.98, USD=0.92 and deliberately none for GBP.

| order               | channel     | method           | total       | status           | placed     |
|---------------------|-------------|------------------|-------------|------------------|------------|
| web-1001            | web         | card             | 34.70 EUR   | completed        | Mon 2      |
| web-1002            | web         | paypal           | 28.90 EUR   | refunded (28.90) | Mon 2      |
| marketplace-M1      | marketplace | paypal           | 28.50 EUR   | completed (9.50 refunded) | Tue 3 |
| web-JP1             | web         | card             | 3,760 JPY   | completed        | Tue 3      |
| web-KW1             | web         | card             | 6.800 KWD   | shipped          | Wed 4      |
| phone-P1            | phone       | bank_transfer    | 12.00 EUR   | awaiting_payment | Wed 4      |
| web-1003            | web         | card             | 14.40 EUR   | payment_failed   | Thu 5      |
| pos-C1              | pos         | cash_on_delivery | 14.90 EUR   | cancelled        | Thu 5      |
| web-US1             | web         | card             | 25.00 USD   | paid             | Fri 6      |
| web-GB1             | web         | card             | 10.00 GBP   | paid             | Sat 7      |
| web-0999            | web         | card             | 100.00 EUR  | completed        | Fri 30 Oct (before the week) |
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.money import ExchangeRates, Money
from domain.order import Address, Channel, Customer, FulfilmentMode, Line, PaymentMethod
from domain.report import Period
from domain.status import OrderStatus
from domain.view import OrderView, PaymentView, TimelineEntry, Totals
from store import catalogue, orders
from store.schema import FeedbackRecord, RefundRecord

S = OrderStatus
BERLIN = "Europe/Berlin"
WEEK = Period(
    since=datetime(2026, 11, 1, 23, 0, tzinfo=UTC),  # Mon 2 Nov 00:00 Berlin
    until=datetime(2026, 11, 8, 23, 0, tzinfo=UTC),  # Mon 9 Nov 00:00 Berlin
    timezone=BERLIN,
)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RATES = ExchangeRates(base="EUR", rates={"JPY": Decimal("0.0061"), "KWD": Decimal("2.98"), "USD": Decimal("0.92")})
LOW_UNITS = 5
OVERSTOCK_UNITS = 200


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 11) -> datetime:
    """A moment in 2026, in UTC."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def order_view(
    order_id: str,
    channel: Channel,
    method: PaymentMethod,
    lines: list[tuple[str, int, str]],
    shipping: str,
    currency: str,
    steps: list[tuple[OrderStatus, datetime]],
) -> OrderView:
    """The order's view after its last step; `steps` are the statuses it entered and when, oldest first."""
    order_lines = [
        Line(sku=sku, quantity=quantity, unit_price=Money.of(price, currency)) for sku, quantity, price in lines
    ]
    subtotal = Money.zero(currency)
    for line in order_lines:
        subtotal = subtotal + line.total
    shipping_fee = Money.of(shipping, currency)
    status = steps[-1][0]
    external_id = order_id.split("-", 1)[1]
    return OrderView(
        order_id=order_id,
        workflow_id=f"order-{order_id}",
        channel=channel,
        external_id=external_id,
        status=status,
        operator_list=status.operator_list,
        mode=FulfilmentMode.AUTO,
        customer=Customer(name="Ada Lovelace", email=f"{external_id.lower()}@example.com"),
        shipping_address=Address(name="Ada Lovelace", line1="1 Row", postal_code="10115", city="Berlin", country="DE"),
        lines=order_lines,
        totals=Totals(subtotal=subtotal, shipping=shipping_fee, total=subtotal + shipping_fee),
        payment=PaymentView(method=method, reference=method.value),
        placed_at=steps[0][1],
        updated_at=steps[-1][1],
        version=len(steps),
        timeline=[TimelineEntry(at=moment, event=step.value, status=step) for step, moment in steps],
    )


# Step times within the week, worked by hand in the tests:
#   picking: web-JP1 300 s, web-1001 600 s, web-KW1 900 s, marketplace-M1 1,200 s and pos-C1 3,600 s (picking
#   until it was cancelled) -> 5 stays, mean 1,320 s; nearest rank p50 = 3rd = 900 s, p95 = p99 = 5th = 3,600 s.
#   web-0999 picked on 30 October, before the week: not counted.
#   placed -> completed (completed in the week): web-1001 2 d 1 h 2 s = 176,402 s, marketplace-M1 1 d = 86,400 s,
#   web-JP1 3 h = 10,800 s. web-0999 completed on 31 Oct, before the week, so it is not counted.
VIEWS = [
    order_view(
        "web-1001",
        Channel.WEB,
        PaymentMethod.CARD,
        [("MUG-ENAMEL", 2, "14.90")],
        "4.90",
        "EUR",
        [
            (S.RECEIVED, at(2, 9)),
            (S.PAID, at(2, 9, 0, 2)),
            (S.PICKING, at(2, 9, 0, 2)),
            (S.PACKING, at(2, 9, 10, 2)),
            (S.SHIPPED, at(2, 10, 0, 2)),
            (S.DELIVERED, at(4, 9, 0, 2)),
            (S.COMPLETED, at(4, 10, 0, 2)),
        ],
    ),
    order_view(
        "web-1002",
        Channel.WEB,
        PaymentMethod.PAYPAL,
        [("TSHIRT-M", 1, "24.00")],
        "4.90",
        "EUR",
        [(S.RECEIVED, at(2, 11)), (S.PAID, at(2, 11, 0, 1)), (S.REFUNDING, at(5, 9)), (S.REFUNDED, at(6, 9))],
    ),
    order_view(
        "marketplace-M1",
        Channel.MARKETPLACE,
        PaymentMethod.PAYPAL,
        [("NOTEBOOK-A5", 3, "9.50")],
        "0.00",
        "EUR",
        [
            (S.RECEIVED, at(3, 8)),
            (S.PAID, at(3, 8)),
            (S.PICKING, at(3, 8)),
            (S.PACKING, at(3, 8, 20)),
            (S.SHIPPED, at(3, 9)),
            (S.DELIVERED, at(4, 7)),
            (S.COMPLETED, at(4, 8)),
            (S.REFUNDING, at(6, 10)),
            (S.COMPLETED, at(6, 11)),
        ],
    ),
    order_view(
        "web-JP1",
        Channel.WEB,
        PaymentMethod.CARD,
        [("COFFEE-250G", 2, "1480")],
        "800",
        "JPY",
        [
            (S.RECEIVED, at(3, 12)),
            (S.PAID, at(3, 12)),
            (S.PICKING, at(3, 12)),
            (S.PACKING, at(3, 12, 5)),
            (S.SHIPPED, at(3, 13)),
            (S.DELIVERED, at(3, 14)),
            (S.COMPLETED, at(3, 15)),
        ],
    ),
    order_view(
        "web-KW1",
        Channel.WEB,
        PaymentMethod.CARD,
        [("MUG-ENAMEL", 2, "3.150")],
        "0.500",
        "KWD",
        [
            (S.RECEIVED, at(4, 10)),
            (S.PAID, at(4, 10)),
            (S.PICKING, at(4, 10)),
            (S.PACKING, at(4, 10, 15)),
            (S.SHIPPED, at(4, 11)),
        ],
    ),
    order_view(
        "phone-P1",
        Channel.PHONE,
        PaymentMethod.BANK_TRANSFER,
        [("TOTE-CANVAS", 1, "12.00")],
        "0.00",
        "EUR",
        [(S.RECEIVED, at(4, 12)), (S.AWAITING_PAYMENT, at(4, 12))],
    ),
    order_view(
        "web-1003",
        Channel.WEB,
        PaymentMethod.CARD,
        [("NOTEBOOK-A5", 1, "9.50")],
        "4.90",
        "EUR",
        [(S.RECEIVED, at(5, 9)), (S.PAYMENT_FAILED, at(5, 9, 0, 1))],
    ),
    order_view(
        "pos-C1",
        Channel.POS,
        PaymentMethod.CASH_ON_DELIVERY,
        [("MUG-ENAMEL", 1, "14.90")],
        "0.00",
        "EUR",
        [(S.RECEIVED, at(5, 10)), (S.PICKING, at(5, 10)), (S.REFUNDING, at(5, 11)), (S.CANCELLED, at(5, 11, 0, 5))],
    ),
    order_view(
        "web-US1",
        Channel.WEB,
        PaymentMethod.CARD,
        [("TSHIRT-S", 1, "20.00")],
        "5.00",
        "USD",
        [(S.RECEIVED, at(6, 10)), (S.PAID, at(6, 10))],
    ),
    order_view(
        "web-GB1",
        Channel.WEB,
        PaymentMethod.CARD,
        [("TSHIRT-L", 1, "10.00")],
        "0.00",
        "GBP",
        [(S.RECEIVED, at(7, 10)), (S.PAID, at(7, 10))],
    ),
    order_view(
        "web-0999",
        Channel.WEB,
        PaymentMethod.CARD,
        [("COFFEE-1KG", 2, "47.55")],
        "4.90",
        "EUR",
        [
            (S.RECEIVED, at(30, 9, month=10)),
            (S.PAID, at(30, 9, month=10)),
            (S.PICKING, at(30, 9, month=10)),
            (S.PACKING, at(30, 10, month=10)),
            (S.SHIPPED, at(30, 11, month=10)),
            (S.DELIVERED, at(31, 9, month=10)),
            (S.COMPLETED, at(31, 10, month=10)),
        ],
    ),
]


def _refund(
    refund_id: str,
    order_id: str,
    kind: str,
    amount: str,
    requested: datetime,
    deadline: datetime,
    state: str,
    finished: datetime | None = None,
    within_sla: bool | None = None,
) -> RefundRecord:
    minor = Money.of(amount, "EUR").minor
    return RefundRecord(
        refund_id=refund_id,
        order_id=order_id,
        kind=kind,
        reason="test",
        amount_minor=minor,
        shipping_minor=0,
        currency="EUR",
        method="card",
        needs_payout=False,
        lines_json="[]",
        requested_at=requested,
        deadline=deadline,
        state=state,
        finished_at=finished,
        within_sla=within_sla,
    )


# Requested in the week: 3 refunds and 1 cancellation, 138.40 EUR in all. Finished in the week: 3, of which 2
# within the SLA (66.7 %). Open now: marketplace-M1's second refund, past its deadline on 20 November.
def refunds() -> list[RefundRecord]:
    """New rows each time: a row object belongs to the session that wrote it."""
    return [
        _refund(
            "refund-web-1002", "web-1002", "refund", "28.90", at(5, 9), at(12, 22, 59, 59), "finished", at(6, 9), True
        ),
        _refund("refund-marketplace-M1", "marketplace-M1", "refund", "9.50", at(6, 10), at(13, 22, 59, 59), "running"),
        _refund(
            "refund-pos-C1",
            "pos-C1",
            "cancellation",
            "0.00",
            at(5, 11),
            at(12, 22, 59, 59),
            "finished",
            at(5, 11),
            True,
        ),
        _refund(
            "refund-web-0999", "web-0999", "refund", "100.00", at(3, 8), at(6, 22, 59, 59), "finished", at(8, 9), False
        ),
    ]


# Answers given in the week: 5 and 4 (average 4.50). The 2 came before the week.
def feedback() -> list[FeedbackRecord]:
    """New rows each time, as `refunds`."""
    return [
        FeedbackRecord(order_id="web-1001", rating=5, comment="great", at=at(7, 9)),
        FeedbackRecord(order_id="web-JP1", rating=4, comment=None, at=at(8, 10)),
        FeedbackRecord(order_id="web-0999", rating=2, comment="slow", at=at(31, 12, month=10)),
    ]


# Sold out: MUG-ENAMEL; low (5 or fewer): TEA-GREEN with 3; overstocked (200 or more): COFFEE-250G with 250.
STOCK = [
    ("MUG-ENAMEL", "Enamel camping mug", "14.90", 0),
    ("TEA-GREEN", "Green tea", "6.50", 3),
    ("COFFEE-250G", "Coffee beans, 250 g", "8.90", 250),
    ("NOTEBOOK-A5", "Dotted notebook A5", "9.50", 50),
]


async def write_dataset(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Write the week into the database: orders through the projection, then refunds, feedback and stock."""
    for sku, name, price, units in STOCK:
        await catalogue.add_product(sessions, sku, name, Money.of(price, "EUR"), stock=units)
    for view in VIEWS:
        await orders.project(sessions, view)
    async with sessions.begin() as session:
        session.add_all(refunds())
        session.add_all(feedback())
