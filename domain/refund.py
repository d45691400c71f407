"""Refunds and cancellations: what an operator may give back, and the refund as its order and child workflow see it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from domain.base import Frozen
from domain.money import Money
from domain.order import Line, PaymentMethod
from domain.text import EMAIL_LENGTH, ONE_LINE, PARAGRAPHS, one_line

# The longest email address there can be (RFC 5321), so an operator's login always fits.
ACTOR_LENGTH = EMAIL_LENGTH


def _printable(name: str) -> str:
    return one_line(name, "give an email address or a plain name")


# Who gave a command: an operator's email, `oms cli`, a carrier, a bank. It is shown in the order's timeline as is,
# so it is one printable line. It lives here, not in `domain.commands`, because that module imports this one.
Actor = Annotated[str, StringConstraints(strip_whitespace=True, max_length=ACTOR_LENGTH), AfterValidator(_printable)]


class RefundKind(StrEnum):
    """A refund gives money (and goods) back; a cancellation stops an order that has not shipped."""

    REFUND = "refund"
    CANCELLATION = "cancellation"


class RefundState(StrEnum):
    """How far a refund has got."""

    REQUESTED = "requested"
    RUNNING = "running"
    AWAITING_PAYOUT = "awaiting_payout"
    FINISHED = "finished"


class RefundItem(Frozen):
    """Some units of one SKU to refund."""

    model_config = ConfigDict(str_strip_whitespace=True)

    sku: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=10_000)]

    @field_validator("sku")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class RefundLine(Frozen):
    """A line of a refund: what goes back, at the price it was sold for, and whether it can be sold again."""

    sku: str
    name: str | None = None
    quantity: Annotated[int, Field(ge=1)]
    unit_price: Money
    restock: bool = True

    @property
    def amount(self) -> Money:
        """What this line gives back."""
        return self.unit_price.times(self.quantity)


class RefundView(BaseModel):
    """One refund or cancellation of an order: its lines, money, deadline and how it went."""

    refund_id: str = Field(description="Also the child workflow's id.")
    kind: RefundKind
    reason: str
    lines: list[RefundLine]
    shipping: Money = Field(description="Shipping fee given back with it (only with the last of the goods).")
    amount: Money = Field(description="What goes back to the customer: lines plus shipping; zero if nothing was paid.")
    method: PaymentMethod
    needs_payout: bool = Field(description="A person pays the money out (bank transfer, invoice, cash).")
    requested_at: datetime
    deadline: datetime = Field(description="End of the SLA's last business day, shop time.")
    state: RefundState = RefundState.REQUESTED
    released_units: int = 0
    restocked_units: int = 0
    written_off_units: int = 0
    gateway_reference: str | None = None
    paid_at: datetime | None = None
    payout_reference: str | None = None
    paid_out_by: str | None = None
    reminders_sent: int = 0
    escalated_at: datetime | None = None
    last_error: str | None = Field(None, description="The gateway's latest failure while the refund is retried.")
    finished_at: datetime | None = None
    within_sla: bool | None = None

    @property
    def is_open(self) -> bool:
        """Still under way."""
        return self.state is not RefundState.FINISHED


class Refund(Frozen):
    """The operator's refund: a reason and, for a partial refund, which units; damaged SKUs are not restocked."""

    model_config = ConfigDict(str_strip_whitespace=True)

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500), PARAGRAPHS]
    lines: list[RefundItem] = Field(
        default_factory=list, max_length=200, description="Empty: everything not yet refunded."
    )
    no_restock: list[str] = Field(default_factory=list, max_length=200, description="SKUs not to put back on sale.")
    by: Actor | None = Field(None, description="Who asked for the refund.")

    @field_validator("lines")
    @classmethod
    def _one_line_per_sku(cls, lines: list[RefundItem]) -> list[RefundItem]:
        seen: set[str] = set()
        for item in lines:
            if item.sku in seen:
                raise ValueError(f"SKU {item.sku} appears more than once; give its total quantity once")
            seen.add(item.sku)
        return lines

    @field_validator("no_restock")
    @classmethod
    def _upper_skus(cls, skus: list[str]) -> list[str]:
        return sorted({sku.strip().upper() for sku in skus if sku.strip()})


class Cancel(Frozen):
    """The operator stops an order that has not shipped."""

    model_config = ConfigDict(str_strip_whitespace=True)

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500), PARAGRAPHS]
    by: Actor | None = Field(None, description="Who cancelled the order.")


class RefundPaidOut(Frozen):
    """A person has paid a refund out by hand (bank transfer back, cash)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    reference: Annotated[str, StringConstraints(max_length=200), ONE_LINE] | None = Field(
        None, description="Bank reference of the payout, if any."
    )
    by: Actor | None = Field(None, description="Who paid it out; becomes the refund's `paid_out_by`.")


class RefundRefused(ValueError):
    """The refund asked for cannot be given; the message says why."""


class RefundPlan(Frozen):
    """What a refund gives back, worked out from the order and the refunds before it."""

    lines: list[RefundLine]
    shipping: Money
    covers_everything: bool = Field(description="Nothing is left to refund afterwards.")

    @property
    def amount(self) -> Money:
        """Lines plus shipping."""
        total = self.shipping
        for line in self.lines:
            total = total + line.amount
        return total


def refunded_units(refunds: Sequence[RefundView]) -> dict[str, int]:
    """Units per SKU that earlier refunds (finished or under way) already give back."""
    units: dict[str, int] = {}
    for refund in refunds:
        for line in refund.lines:
            units[line.sku] = units.get(line.sku, 0) + line.quantity
    return units


def plan_refund(lines: Sequence[Line], shipping: Money, refunds: Sequence[RefundView], request: Refund) -> RefundPlan:
    """The lines and shipping `request` gives back; raises `RefundRefused` when it asks for more than is left."""
    done = refunded_units(refunds)
    by_sku = {line.sku: line for line in lines}
    left = {line.sku: line.quantity - done.get(line.sku, 0) for line in lines}
    if not any(quantity > 0 for quantity in left.values()):
        return _refuse("everything on the order has already been refunded")

    wanted = {item.sku: item.quantity for item in request.lines} or {
        sku: quantity for sku, quantity in left.items() if quantity > 0
    }
    for sku, quantity in wanted.items():
        line = by_sku.get(sku)
        if line is None:
            _refuse(f"SKU {sku} is not on the order (it has: {', '.join(by_sku)})")
        elif quantity > left[sku]:
            _refuse(
                f"only {left[sku]} of SKU {sku} can still be refunded "
                f"({line.quantity} ordered, {done.get(sku, 0)} already refunded)"
            )
    stray = [sku for sku in request.no_restock if sku not in wanted]
    if stray:
        _refuse(f"--no-restock {', '.join(stray)}: not among the refunded lines")

    refund_lines = [
        RefundLine(
            sku=sku,
            name=by_sku[sku].name,
            quantity=quantity,
            unit_price=by_sku[sku].unit_price,
            restock=sku not in request.no_restock,
        )
        for sku, quantity in wanted.items()
    ]
    covers_everything = all(left[sku] == wanted.get(sku, 0) for sku in left)
    # The shipping fee goes back with the last of the goods, so it is never refunded twice.
    given_back = shipping if covers_everything else Money.zero(shipping.currency)
    return RefundPlan(lines=refund_lines, shipping=given_back, covers_everything=covers_everything)


def _refuse(reason: str) -> RefundPlan:
    raise RefundRefused(reason)
