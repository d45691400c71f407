"""The contract between workflows and activities: each activity declared once, its models and error types, no I/O."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel, Field
from temporalio import activity

from domain.base import Frozen
from domain.emails import EmailKind as EmailKind  # re-exported: workflows and activities name emails as api.EmailKind
from domain.money import Money
from domain.order import Address, FulfilmentMode, PaymentDetails, PaymentMethod
from domain.progress import CapturedPayment, OrderChanges
from domain.refund import RefundView
from domain.view import OrderView

RequestT = TypeVar("RequestT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)
SystemT = TypeVar("SystemT")


@dataclass(frozen=True)
class ActivityDef(Generic[RequestT, ResultT]):
    """One activity, declared once: its name in Temporal, the request it takes and the result it returns.

    Workflows call it by this declaration (`steps.call`) and its implementation registers through it
    (`implementation`), so mypy refuses a request, a result or a method that does not match. The name is what
    histories record: renaming a method or a model never breaks them, renaming the activity would.
    """

    name: str
    request: type[RequestT]
    result: type[ResultT]

    def implementation(
        self, method: Callable[[SystemT, RequestT], Awaitable[ResultT]]
    ) -> Callable[[SystemT, RequestT], Awaitable[ResultT]]:
        """Register `method` of an activities class as this activity, under this activity's name."""
        return activity.defn(name=self.name)(method)


class ErrorType(StrEnum):
    """`ApplicationError.type` of every failure an activity names; the value is what Temporal records."""

    # Business failures: non-retryable, handled by the workflow, never a crash.
    PAYMENT_DECLINED = "PaymentDeclined"
    UNKNOWN_SKU = "UnknownSku"
    NOTHING_RESERVED = "NothingReserved"
    REFUND_REJECTED = "RefundRejected"
    # A request that can never succeed: a refund email without its refund, a shipped email without a shipment.
    EMAIL_NOT_APPLICABLE = "EmailNotApplicable"
    # Another order holds the tracking number: retried when it was the sandbox's pick, final when the operator's.
    TRACKING_IN_USE = "TrackingInUse"
    # An outside system that is down: retried until it answers.
    GATEWAY_UNAVAILABLE = "GatewayUnavailable"
    SMTP_UNAVAILABLE = "SmtpUnavailable"
    # Another sender holds the email's claim (a killed one's runs out): retried.
    EMAIL_CLAIMED = "EmailClaimed"
    # The read model lacks what a step's changes build on: the workflow sends its whole view instead.
    READ_MODEL_BEHIND = "ReadModelBehind"


# --- payments -------------------------------------------------------------------------------------------------


class CapturePayment(Frozen):
    """Charge the customer now (card, PayPal) through the gateway; idempotent by `order_id`."""

    order_id: str
    payment: PaymentDetails
    amount: Money


class RecordPayment(Frozen):
    """Book money that arrived outside the gateway: a bank transfer, an invoice paid, cash at the door."""

    order_id: str
    method: PaymentMethod
    amount: Money
    reference: str | None = None


class PaymentCaptured(CapturedPayment):
    """The money is ours: the gateway's reference and when it was taken."""


CAPTURE_PAYMENT = ActivityDef("capture_payment", CapturePayment, PaymentCaptured)
RECORD_PAYMENT = ActivityDef("record_payment", RecordPayment, PaymentCaptured)


# --- inventory ------------------------------------------------------------------------------------------------


class StockLine(Frozen):
    """A SKU and how many units of it."""

    sku: str
    quantity: int = Field(ge=1)


class ReserveStock(Frozen):
    """Set aside every line of an order in one go, or nothing at all."""

    order_id: str
    warehouse: str
    lines: list[StockLine]


class Reservation(Frozen):
    """Whether the order's stock is set aside; when not, which SKUs are short."""

    reserved: bool
    short_skus: list[str] = Field(default_factory=list)


class StockRelease(Frozen):
    """Give an order's reserved stock back (cancellation) or hand it to the carrier (shipment)."""

    order_id: str


class StockMoved(Frozen):
    """How many units moved; zero when an earlier attempt already moved them."""

    units: int


RESERVE_STOCK = ActivityDef("reserve_stock", ReserveStock, Reservation)
RELEASE_STOCK = ActivityDef("release_stock", StockRelease, StockMoved)
SHIP_STOCK = ActivityDef("ship_stock", StockRelease, StockMoved)


# --- warehouse ------------------------------------------------------------------------------------------------


class TaskKind(StrEnum):
    """The warehouse's two jobs per order."""

    PICK = "pick"
    PACK = "pack"


class WarehouseTask(Frozen):
    """A pick or pack job for one order; `duration` is how long the simulated warehouse takes in auto mode."""

    order_id: str
    kind: TaskKind
    duration: timedelta = timedelta(0)
    done_by: str | None = None


class TaskState(Frozen):
    """Where a warehouse task stands."""

    task_id: int
    status: str


PERFORM_WAREHOUSE_TASK = ActivityDef("perform_warehouse_task", WarehouseTask, TaskState)
OPEN_WAREHOUSE_TASK = ActivityDef("open_warehouse_task", WarehouseTask, TaskState)
CLOSE_WAREHOUSE_TASK = ActivityDef("close_warehouse_task", WarehouseTask, TaskState)


# --- shipping -------------------------------------------------------------------------------------------------


class CreateShipment(Frozen):
    """Buy a label from the sandbox carrier for the order's parcel."""

    order_id: str
    address: Address


class RecordShipment(Frozen):
    """The operator shipped with a carrier of their own; remember the tracking number."""

    order_id: str
    carrier: str
    tracking: str


class Label(Frozen):
    """A shipping label: carrier and tracking number."""

    carrier: str
    tracking: str
    created_at: datetime


class TrackShipment(Frozen):
    """Ask the carrier where the parcel is."""

    order_id: str
    tracking: str


class TrackingEvent(Frozen):
    """One scan of the parcel."""

    event: str
    at: datetime


class Tracking(Frozen):
    """Everything the carrier knows about a parcel so far."""

    events: list[TrackingEvent]
    delivered: bool


CREATE_SHIPMENT = ActivityDef("create_shipment", CreateShipment, Label)
RECORD_SHIPMENT = ActivityDef("record_shipment", RecordShipment, Label)
TRACK_SHIPMENT = ActivityDef("track_shipment", TrackShipment, Tracking)


# --- notifications --------------------------------------------------------------------------------------------


class SendEmail(Frozen):
    """Email the customer (or the shop) about the order as it stands in `order`.

    Refund emails carry the refund; reminders are numbered by `sequence` so each one goes out once.
    """

    kind: EmailKind
    order: OrderView
    refund: RefundView | None = None
    sequence: int = Field(0, ge=0)


class EmailSent(Frozen):
    """The email's Message-ID, and whether an earlier attempt had already sent it."""

    message_id: str
    already_sent: bool = False


SEND_EMAIL = ActivityDef("send_email", SendEmail, EmailSent)


class QueueEmail(SendEmail):
    """Put the email into the outbox, composed as of `at` (the workflow's clock), for the mail relay to send."""

    at: datetime


class EmailQueued(Frozen):
    """The queued email's Message-ID (the same for a retry, which finds it queued)."""

    message_id: str


# A local activity: the refund workflow's emails go out through the outbox and the mail relay, so no workflow waits
# on an SMTP server.
QUEUE_EMAIL = ActivityDef("queue_email", QueueEmail, EmailQueued)


# --- orders read model ----------------------------------------------------------------------------------------


class ProjectOrder(Frozen):
    """Write the order's current view into the read model that lists and reports use."""

    order: OrderView


class RecordFeedback(Frozen):
    """Keep the customer's rating and comment."""

    order_id: str
    rating: int = Field(ge=1, le=5)
    comment: str | None = None
    at: datetime


class Projected(Frozen):
    """What the read model holds now: the version written, or the newer one already there."""

    order_id: str
    version: int


PROJECT_ORDER = ActivityDef("project_order", ProjectOrder, Projected)
RECORD_FEEDBACK = ActivityDef("record_feedback", RecordFeedback, Projected)


# --- refunds --------------------------------------------------------------------------------------------------


class StopWarehouseTasks(Frozen):
    """Take the order's open pick and pack jobs off the warehouse's list."""

    order_id: str
    reason: str


class WarehouseStopped(Frozen):
    """The jobs that were open and are now cancelled (none when an earlier attempt already stopped them)."""

    stopped: list[TaskKind] = Field(default_factory=list)


class StockReturnLine(Frozen):
    """Units of one SKU coming back with a refund; `restock` is False for damaged goods."""

    sku: str
    quantity: int = Field(ge=1)
    restock: bool = True


class ReturnStock(Frozen):
    """Give back a refund's goods: release what is still reserved, restock what had shipped (unless damaged)."""

    order_id: str
    refund_id: str
    lines: list[StockReturnLine]


class StockReturned(Frozen):
    """Units released from the reservation, restocked after shipment, and written off as damaged."""

    released: int = 0
    restocked: int = 0
    written_off: int = 0


class RefundPayment(Frozen):
    """Pay `amount` back to the card or PayPal account the order was paid with; idempotent by `refund_id`."""

    order_id: str
    refund_id: str
    payment: PaymentDetails
    amount: Money


class RecordRefundPayout(Frozen):
    """A person paid the refund out by hand (bank transfer back, cash); book it once."""

    order_id: str
    refund_id: str
    method: PaymentMethod
    amount: Money
    reference: str | None = None
    by: str | None = None


class RefundPaid(Frozen):
    """The money is back with the customer: the gateway's (or payout's) reference and when."""

    refund_id: str
    reference: str
    amount: Money
    paid_at: datetime


class RecordRefund(Frozen):
    """Write the refund as it stands into the `refunds` table that reports read (insert or update by id)."""

    order_id: str
    refund: RefundView


class RefundRecorded(Frozen):
    """The refund row now holds this state."""

    refund_id: str
    state: str


STOP_WAREHOUSE_TASKS = ActivityDef("stop_warehouse_tasks", StopWarehouseTasks, WarehouseStopped)
RETURN_STOCK = ActivityDef("return_stock", ReturnStock, StockReturned)
REFUND_PAYMENT = ActivityDef("refund_payment", RefundPayment, RefundPaid)
RECORD_REFUND_PAYOUT = ActivityDef("record_refund_payout", RecordRefundPayout, RefundPaid)
RECORD_REFUND = ActivityDef("record_refund", RecordRefund, RefundRecorded)


# --- reports --------------------------------------------------------------------------------------------------


class SendDailyReport(Frozen):
    """Email the operator the report of one shop-local day; once per day, however often it is asked."""

    day: date
    timezone: str = Field(description="The shop's time zone: the day runs from its midnight to the next.")


class DailyReportSent(Frozen):
    """What the daily report said in one line, its Message-ID, and whether an earlier attempt had sent it."""

    message_id: str
    headline: str
    already_sent: bool = False


SEND_DAILY_REPORT = ActivityDef("send_daily_report", SendDailyReport, DailyReportSent)


# --- new orders -----------------------------------------------------------------------------------------------


class SendNewOrderDigest(Frozen):
    """Email the operator the orders placed in one shop-local hour; once per hour, however often it is asked."""

    start: datetime = Field(description="The hour's first instant; orders placed at or after it are listed.")
    end: datetime = Field(description="The next hour's first instant; orders placed from then on are not.")
    timezone: str = Field(description="The shop's time zone, in which the hour and the order times are shown.")


class NewOrderDigestSent(Frozen):
    """How many orders the hour had, the digest's Message-ID (None: no orders, nothing sent), and if sent before."""

    orders: int
    message_id: str | None = None
    already_sent: bool = False


SEND_NEW_ORDER_DIGEST = ActivityDef("send_new_order_digest", SendNewOrderDigest, NewOrderDigestSent)


# --- order steps: each does its side effect and writes the order's changes in one transaction ----------------


class StepRequest(Frozen):
    """What every step carries: the order's changes since the read model last took its view (see `OrderChanges`)."""

    changes: OrderChanges


class CaptureOrderPayment(StepRequest):
    """Charge a card or PayPal account; the capture, the move to `paid` and the confirmation email commit together."""

    payment: PaymentDetails
    amount: Money


class ReserveOrderStock(StepRequest):
    """Set the order's stock aside, or note it backordered; `picking`: the warehouse is open, picking starts."""

    warehouse: str
    lines: list[StockLine]
    picking: FulfilmentMode | None = None


class PerformOrderTask(StepRequest):
    """Auto mode: the warehouse picks (or packs) the order; `packing`: packing starts right after the pick."""

    kind: TaskKind
    duration: timedelta = timedelta(0)
    packing: bool = False


class ShipOrder(StepRequest):
    """Hand the parcel to a carrier (a sandbox label, or the operator's carrier and tracking number), count the stock
    as shipped, move to `shipped` and queue the shipping email, together."""

    address: Address
    carrier: str | None = None
    tracking: str | None = None


class TrackOrder(StepRequest):
    """Ask the carrier about the parcel; once it is delivered, book cash on delivery, and move the order to
    `delivered` and `completed` with the completion email, together. `seen`: scans the order already noted."""

    tracking: str
    seen: int = Field(0, ge=0)
    collect: Money | None = Field(None, description="Cash on delivery: what the carrier takes at the door.")


class StoreOrder(StepRequest):
    """Write the order's changes (and queue their emails) with no other side effect: before the order waits."""


class OrderStored(Frozen):
    """The version the read model holds now."""

    version: int


CAPTURE_ORDER_PAYMENT = ActivityDef("capture_order_payment", CaptureOrderPayment, PaymentCaptured)
RESERVE_ORDER_STOCK = ActivityDef("reserve_order_stock", ReserveOrderStock, Reservation)
PERFORM_ORDER_TASK = ActivityDef("perform_order_task", PerformOrderTask, TaskState)
SHIP_ORDER = ActivityDef("ship_order", ShipOrder, Label)
TRACK_ORDER = ActivityDef("track_order", TrackOrder, Tracking)
STORE_ORDER = ActivityDef("store_order", StoreOrder, OrderStored)
