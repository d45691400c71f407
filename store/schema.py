"""Tables of the OMS database; every side effect has a unique idempotency key so a retry cannot repeat it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back zone-aware, on SQLite (which drops the zone) as elsewhere."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"refusing to store a naive timestamp {value.isoformat()}; give it a zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base of every OMS table."""


class Product(Base):
    """A sellable SKU with its list price."""

    __tablename__ = "products"

    sku: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class StockLevel(Base):
    """Units of one SKU in one warehouse: free to sell, set aside for orders, gone out with carriers."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("available >= 0", name="available_never_negative"),
        CheckConstraint("reserved >= 0", name="reserved_never_negative"),
    )

    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), primary_key=True)
    warehouse: Mapped[str] = mapped_column(String(40), primary_key=True)
    available: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    shipped: Mapped[int] = mapped_column(Integer, default=0)


class StockMovement(Base):
    """The ledger: every change to a stock level, once, by its idempotency key."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), index=True)
    warehouse: Mapped[str] = mapped_column(String(40))
    # initial | receive | reserve | release | ship | restock
    kind: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[str | None] = mapped_column(String(100), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class StockReservation(Base):
    """Stock set aside for one order; the order id is the idempotency key of the reservation."""

    __tablename__ = "stock_reservations"

    order_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    warehouse: Mapped[str] = mapped_column(String(40))
    # reserved | released | shipped
    status: Mapped[str] = mapped_column(String(20))
    lines_json: Mapped[str] = mapped_column(Text)
    reserved_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class OrderRecord(Base):
    """The order read model: one row per order, rewritten by the projection at every status change."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_placed", "placed_at"),
        Index("ix_orders_list_placed", "list", "placed_at"),
        Index("ix_orders_status_placed", "status", "placed_at"),
        Index("ix_orders_channel_placed", "channel", "placed_at"),
        # The console's home page counts manual orders waiting in picking and packing at every live refresh.
        Index("ix_orders_mode_status", "mode", "status"),
    )

    order_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(120), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    list: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(10))
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str] = mapped_column(String(254), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    payment_method: Mapped[str] = mapped_column(String(20))
    tracking: Mapped[str | None] = mapped_column(String(100))
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Workflow-side counter: a late, retried projection of an older state never overwrites a newer one.
    version: Mapped[int] = mapped_column(Integer)
    view_json: Mapped[str] = mapped_column(Text)


class OrderStatusChange(Base):
    """Each status an order entered and when, in order: what step times in reports and runs are measured from."""

    __tablename__ = "order_status_changes"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), primary_key=True)
    # Position among the status entries of the order's timeline, which only ever grows: a retried or late
    # projection writes the same change under the same key.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class PaymentRecord(Base):
    """Money taken from the customer, through the gateway or booked by hand; refunds are in `refund_payments`."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    order_id: Mapped[str] = mapped_column(String(100), index=True)
    # capture
    kind: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(20))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    gateway_reference: Mapped[str] = mapped_column(String(100), unique=True)
    reference: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class ShipmentRecord(Base):
    """A parcel handed to a carrier."""

    __tablename__ = "shipments"

    order_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    carrier: Mapped[str] = mapped_column(String(50))
    tracking: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Sandbox carrier only: when the simulated parcel arrives.
    delivers_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WarehouseTaskRecord(Base):
    """A pick or pack job, open until the warehouse (or the operator) says it is done."""

    __tablename__ = "warehouse_tasks"
    __table_args__ = (UniqueConstraint("order_id", "kind", name="one_task_per_order_and_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    # open | done | cancelled
    status: Mapped[str] = mapped_column(String(20))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    done_by: Mapped[str | None] = mapped_column(String(254))


class Notification(Base):
    """The email outbox: one row per order and kind, so a retried activity never emails twice."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    order_id: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    # pending | sent | failed (refused for good by the SMTP server)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The whole email (RFC 5322) as the step that queued it composed it; the mail relay sends it as it is. Null for
    # rows the send_email activity sends itself, and for new-order emails queued before the column existed.
    message: Mapped[str | None] = mapped_column(Text)
    # Who is handing the email to SMTP now, and until when: a sender that dies mid-send leaves the claim to run out.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    failure: Mapped[str | None] = mapped_column(Text)


class FeedbackRecord(Base):
    """The customer's satisfaction rating; one per order."""

    __tablename__ = "feedback"

    order_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class RefundRecord(Base):
    """A refund or cancellation as its workflow last recorded it: one row per refund, for reports and the SLA."""

    __tablename__ = "refunds"
    __table_args__ = (Index("ix_refunds_state_deadline", "state", "deadline"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    refund_id: Mapped[str] = mapped_column(String(120), unique=True)
    order_id: Mapped[str] = mapped_column(String(100), index=True)
    # refund | cancellation
    kind: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    shipping_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(20))
    needs_payout: Mapped[bool] = mapped_column(Boolean)
    lines_json: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    deadline: Mapped[datetime] = mapped_column(UtcDateTime())
    # requested | running | awaiting_payout | finished
    state: Mapped[str] = mapped_column(String(20))
    released_units: Mapped[int] = mapped_column(Integer, default=0)
    restocked_units: Mapped[int] = mapped_column(Integer, default=0)
    written_off_units: Mapped[int] = mapped_column(Integer, default=0)
    gateway_reference: Mapped[str | None] = mapped_column(String(100))
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    payout_reference: Mapped[str | None] = mapped_column(String(200))
    paid_out_by: Mapped[str | None] = mapped_column(String(254))
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    within_sla: Mapped[bool | None] = mapped_column(Boolean)


class RefundPaymentRecord(Base):
    """Money paid back to a customer, by the gateway or by hand: at most one payment per refund."""

    __tablename__ = "refund_payments"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="refund_pays_something_back"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    refund_id: Mapped[str] = mapped_column(String(120), unique=True)
    order_id: Mapped[str] = mapped_column(String(100), index=True)
    # gateway | payout
    kind: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(20))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # The gateway's refund reference, or the payout's bank reference.
    reference: Mapped[str] = mapped_column(String(200))
    # Who paid it out by hand; not named `by`, an SQL keyword that every hand-written report would have to quote.
    paid_by: Mapped[str | None] = mapped_column(String(254))
    paid_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OperatorRecord(Base):
    """A person who may log in to the console: their email, what they may do, and only a hash of their password."""

    __tablename__ = "operators"
    __table_args__ = (CheckConstraint("role IN ('operator', 'viewer')", name="operator_role_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Normalised (stripped, lower case) so one person cannot have two accounts by spelling.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # Argon2id in its PHC string form, parameters included, so old hashes still verify after a change.
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ConsoleSessionRecord(Base):
    """A console login; keyed by the SHA-256 of its token, so a leaked table hands out no live session."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class LoginFailureRecord(Base):
    """Consecutive failed logins for one email, known or not, which the next attempt's delay grows with."""

    __tablename__ = "login_failures"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(UtcDateTime())
