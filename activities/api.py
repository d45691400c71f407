"""Activity names, inputs, outputs and error types: the contract workflows call, free of any I/O import."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.money import Money
from domain.order import Address, PaymentDetails, PaymentMethod
from domain.refund import RefundView
from domain.view import OrderView

# Activity names. Workflows refer to activities by these, so renaming an implementation never breaks history.
CAPTURE_PAYMENT = "capture_payment"
RECORD_PAYMENT = "record_payment"
RESERVE_STOCK = "reserve_stock"
RELEASE_STOCK = "release_stock"
SHIP_STOCK = "ship_stock"
PERFORM_WAREHOUSE_TASK = "perform_warehouse_task"
OPEN_WAREHOUSE_TASK = "open_warehouse_task"
CLOSE_WAREHOUSE_TASK = "close_warehouse_task"
CREATE_SHIPMENT = "create_shipment"
RECORD_SHIPMENT = "record_shipment"
TRACK_SHIPMENT = "track_shipment"
SEND_EMAIL = "send_email"
PROJECT_ORDER = "project_order"
RECORD_FEEDBACK = "record_feedback"
STOP_WAREHOUSE_TASKS = "stop_warehouse_tasks"
RETURN_STOCK = "return_stock"
REFUND_PAYMENT = "refund_payment"
RECORD_REFUND_PAYOUT = "record_refund_payout"
RECORD_REFUND = "record_refund"
SEND_DAILY_REPORT = "send_daily_report"
SEND_NEW_ORDER_DIGEST = "send_new_order_digest"


class ErrorType(StrEnum):
    """`ApplicationError.type` of business failures: non-retryable, handled by the workflow, never a crash."""

    PAYMENT_DECLINED = "PaymentDeclined"
    UNKNOWN_SKU = "UnknownSku"
    NOTHING_RESERVED = "NothingReserved"
    REFUND_REJECTED = "RefundRejected"


# --- payments -------------------------------------------------------------------------------------------------


class CapturePayment(BaseModel):
    """Charge the customer now (card, PayPal) through the gateway; idempotent by `order_id`."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    payment: PaymentDetails
    amount: Money


class RecordPayment(BaseModel):
    """Book money that arrived outside the gateway: a bank transfer, an invoice paid, cash at the door."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    method: PaymentMethod
    amount: Money
    reference: str | None = None


class PaymentCaptured(BaseModel):
    """The money is ours: the gateway's reference and when it was taken."""

    model_config = ConfigDict(frozen=True)

    gateway_reference: str
    amount: Money
    captured_at: datetime


# --- inventory ------------------------------------------------------------------------------------------------


class StockLine(BaseModel):
    """A SKU and how many units of it."""

    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int = Field(ge=1)


class ReserveStock(BaseModel):
    """Set aside every line of an order in one go, or nothing at all."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    warehouse: str
    lines: list[StockLine]


class Reservation(BaseModel):
    """Whether the order's stock is set aside; when not, which SKUs are short."""

    model_config = ConfigDict(frozen=True)

    reserved: bool
    short_skus: list[str] = Field(default_factory=list)


class StockRelease(BaseModel):
    """Give an order's reserved stock back (cancellation) or hand it to the carrier (shipment)."""

    model_config = ConfigDict(frozen=True)

    order_id: str


class StockMoved(BaseModel):
    """How many units moved; zero when an earlier attempt already moved them."""

    model_config = ConfigDict(frozen=True)

    units: int


# --- warehouse ------------------------------------------------------------------------------------------------


class TaskKind(StrEnum):
    """The warehouse's two jobs per order."""

    PICK = "pick"
    PACK = "pack"


class WarehouseTask(BaseModel):
    """A pick or pack job for one order; `duration` is how long the simulated warehouse takes in auto mode."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    kind: TaskKind
    duration: timedelta = timedelta(0)
    done_by: str | None = None


class TaskState(BaseModel):
    """Where a warehouse task stands."""

    model_config = ConfigDict(frozen=True)

    task_id: int
    status: str


# --- shipping -------------------------------------------------------------------------------------------------


class CreateShipment(BaseModel):
    """Buy a label from the sandbox carrier for the order's parcel."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    address: Address


class RecordShipment(BaseModel):
    """The operator shipped with a carrier of their own; remember the tracking number."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    carrier: str
    tracking: str


class Label(BaseModel):
    """A shipping label: carrier and tracking number."""

    model_config = ConfigDict(frozen=True)

    carrier: str
    tracking: str
    created_at: datetime


class TrackShipment(BaseModel):
    """Ask the carrier where the parcel is."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    tracking: str


class TrackingEvent(BaseModel):
    """One scan of the parcel."""

    model_config = ConfigDict(frozen=True)

    event: str
    at: datetime


class Tracking(BaseModel):
    """Everything the carrier knows about a parcel so far."""

    model_config = ConfigDict(frozen=True)

    events: list[TrackingEvent]
    delivered: bool


# --- notifications --------------------------------------------------------------------------------------------


class EmailKind(StrEnum):
    """The emails an order sends; each at most once per order (per refund, and per reminder, for refund emails)."""

    ORDER_CONFIRMATION = "order_confirmation"
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_EXPIRED = "payment_expired"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    SURVEY = "survey"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    REFUND_PAYOUT_REQUESTED = "refund_payout_requested"
    REFUND_REMINDER = "refund_reminder"
    REFUND_ESCALATED = "refund_escalated"
    NEW_ORDER = "new_order"

    @property
    def for_operator(self) -> bool:
        """Goes to the shop (operator, or the escalation address), not to the customer."""
        return self in (
            EmailKind.REFUND_PAYOUT_REQUESTED,
            EmailKind.REFUND_REMINDER,
            EmailKind.REFUND_ESCALATED,
            EmailKind.NEW_ORDER,
        )

    @property
    def about_a_refund(self) -> bool:
        """Needs the refund in `SendEmail.refund`, and is sent once per refund rather than once per order."""
        return self in (
            EmailKind.REFUNDED,
            EmailKind.CANCELLED,
            EmailKind.REFUND_PAYOUT_REQUESTED,
            EmailKind.REFUND_REMINDER,
            EmailKind.REFUND_ESCALATED,
        )


class SendEmail(BaseModel):
    """Email the customer (or the shop) about the order as it stands in `order`.

    Refund emails carry the refund; reminders are numbered by `sequence` so each one goes out once.
    """

    model_config = ConfigDict(frozen=True)

    kind: EmailKind
    order: OrderView
    refund: RefundView | None = None
    sequence: int = Field(0, ge=0)


class EmailSent(BaseModel):
    """The email's Message-ID, and whether an earlier attempt had already sent it."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    already_sent: bool = False


# --- orders read model ----------------------------------------------------------------------------------------


class ProjectOrder(BaseModel):
    """Write the order's current view into the read model that lists and reports use."""

    model_config = ConfigDict(frozen=True)

    order: OrderView


class RecordFeedback(BaseModel):
    """Keep the customer's rating and comment."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    rating: int = Field(ge=1, le=5)
    comment: str | None = None
    at: datetime


class Projected(BaseModel):
    """What the read model holds now: the version written, or the newer one already there."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    version: int


# --- refunds --------------------------------------------------------------------------------------------------


class StopWarehouseTasks(BaseModel):
    """Take the order's open pick and pack jobs off the warehouse's list."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    reason: str


class WarehouseStopped(BaseModel):
    """The jobs that were open and are now cancelled (none when an earlier attempt already stopped them)."""

    model_config = ConfigDict(frozen=True)

    stopped: list[TaskKind] = Field(default_factory=list)


class StockReturnLine(BaseModel):
    """Units of one SKU coming back with a refund; `restock` is False for damaged goods."""

    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int = Field(ge=1)
    restock: bool = True


class ReturnStock(BaseModel):
    """Give back a refund's goods: release what is still reserved, restock what had shipped (unless damaged)."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    refund_id: str
    lines: list[StockReturnLine]


class StockReturned(BaseModel):
    """Units released from the reservation, restocked after shipment, and written off as damaged."""

    model_config = ConfigDict(frozen=True)

    released: int = 0
    restocked: int = 0
    written_off: int = 0


class RefundPayment(BaseModel):
    """Pay `amount` back to the card or PayPal account the order was paid with; idempotent by `refund_id`."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    refund_id: str
    payment: PaymentDetails
    amount: Money


class RecordRefundPayout(BaseModel):
    """A person paid the refund out by hand (bank transfer back, cash); book it once."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    refund_id: str
    method: PaymentMethod
    amount: Money
    reference: str | None = None
    by: str | None = None


class RefundPaid(BaseModel):
    """The money is back with the customer: the gateway's (or payout's) reference and when."""

    model_config = ConfigDict(frozen=True)

    refund_id: str
    reference: str
    amount: Money
    paid_at: datetime


class RecordRefund(BaseModel):
    """Write the refund as it stands into the `refunds` table that reports read (insert or update by id)."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    refund: RefundView


class RefundRecorded(BaseModel):
    """The refund row now holds this state."""

    model_config = ConfigDict(frozen=True)

    refund_id: str
    state: str


# --- reports --------------------------------------------------------------------------------------------------


class SendDailyReport(BaseModel):
    """Email the operator the report of one shop-local day; once per day, however often it is asked."""

    model_config = ConfigDict(frozen=True)

    day: date
    timezone: str = Field(description="The shop's time zone: the day runs from its midnight to the next.")


class DailyReportSent(BaseModel):
    """What the daily report said in one line, its Message-ID, and whether an earlier attempt had sent it."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    headline: str
    already_sent: bool = False


# --- new orders -----------------------------------------------------------------------------------------------


class SendNewOrderDigest(BaseModel):
    """Email the operator the orders placed in one shop-local hour; once per hour, however often it is asked."""

    model_config = ConfigDict(frozen=True)

    start: datetime = Field(description="The hour's first instant; orders placed at or after it are listed.")
    end: datetime = Field(description="The next hour's first instant; orders placed from then on are not.")
    timezone: str = Field(description="The shop's time zone, in which the hour and the order times are shown.")


class NewOrderDigestSent(BaseModel):
    """How many orders the hour had, the digest's Message-ID (None: no orders, nothing sent), and if sent before."""

    model_config = ConfigDict(frozen=True)

    orders: int
    message_id: str | None = None
    already_sent: bool = False
