"""Refunds repository: each refund as its workflow last recorded it, and the money paid back, once per refund."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.money import Money
from domain.order import PaymentMethod
from domain.refund import RefundKind, RefundLine, RefundState, RefundView
from store.schema import RefundPaymentRecord, RefundRecord

# How money goes back (RefundPaymentRecord.kind).
GATEWAY = "gateway"
PAYOUT = "payout"

# A refund only ever moves forward through these; a late, retried record of an earlier state changes nothing.
PROGRESS: dict[RefundState, int] = {
    RefundState.REQUESTED: 0,
    RefundState.RUNNING: 1,
    RefundState.AWAITING_PAYOUT: 2,
    RefundState.FINISHED: 3,
}

ValueT = TypeVar("ValueT")


class RefundOfAnotherOrder(ValueError):
    """A refund id is already recorded for a different order; ids are per refund and never reused."""

    def __init__(self, refund_id: str, recorded_for: str, asked_for: str) -> None:
        self.refund_id = refund_id
        super().__init__(f"refund {refund_id} belongs to order {recorded_for}, not to order {asked_for}")


@dataclass(frozen=True)
class RefundPayout:
    """Money paid back for one refund, as the rest of the system sees it: amounts as Money, times in UTC."""

    refund_id: str
    order_id: str
    kind: str
    method: PaymentMethod
    amount: Money
    reference: str
    paid_by: str | None
    paid_at: datetime


# --- refunds --------------------------------------------------------------------------------------------------


async def record_refund(sessions: async_sessionmaker[AsyncSession], order_id: str, view: RefundView) -> RefundView:
    """Insert the refund, or bring its row up to `view`; returns the refund as now stored.

    The state never moves backwards, unit counts never shrink, and a timestamp or reference once set stays,
    so a late retry of an older record cannot undo a newer one.
    """
    try:
        return await _record(sessions, order_id, view)
    except IntegrityError:
        # A concurrent attempt inserted the row between our look and our insert; merge into theirs.
        return await _record(sessions, order_id, view)


async def find_refund(sessions: async_sessionmaker[AsyncSession], refund_id: str) -> RefundView | None:
    """The refund as last recorded, or None if it never was."""
    async with sessions() as session:
        row = await session.scalar(select(RefundRecord).where(RefundRecord.refund_id == refund_id))
    return _view(row) if row is not None else None


async def refunds_of(sessions: async_sessionmaker[AsyncSession], order_id: str) -> list[RefundView]:
    """Every recorded refund of the order, oldest first."""
    async with sessions() as session:
        rows = await session.scalars(
            select(RefundRecord)
            .where(RefundRecord.order_id == order_id)
            .order_by(RefundRecord.requested_at, RefundRecord.id)
        )
        return [_view(row) for row in rows]


async def _record(sessions: async_sessionmaker[AsyncSession], order_id: str, view: RefundView) -> RefundView:
    async with sessions.begin() as session:
        # FOR UPDATE makes racing records of one refund merge one after the other on PostgreSQL; SQLite has
        # only one writer at a time anyway and leaves the clause out.
        row = await session.scalar(
            select(RefundRecord).where(RefundRecord.refund_id == view.refund_id).with_for_update()
        )
        if row is None:
            row = _new_row(order_id, view)
            session.add(row)
        elif row.order_id != order_id:
            raise RefundOfAnotherOrder(view.refund_id, row.order_id, order_id)
        else:
            _advance(row, view)
    return _view(row)


def _new_row(order_id: str, view: RefundView) -> RefundRecord:
    return RefundRecord(
        refund_id=view.refund_id,
        order_id=order_id,
        kind=view.kind.value,
        reason=view.reason,
        amount_minor=view.amount.minor,
        shipping_minor=view.shipping.minor,
        currency=view.amount.currency,
        method=view.method.value,
        needs_payout=view.needs_payout,
        lines_json=json.dumps([line.model_dump(mode="json") for line in view.lines]),
        requested_at=view.requested_at,
        deadline=view.deadline,
        state=view.state.value,
        released_units=view.released_units,
        restocked_units=view.restocked_units,
        written_off_units=view.written_off_units,
        gateway_reference=view.gateway_reference,
        paid_at=view.paid_at,
        payout_reference=view.payout_reference,
        paid_out_by=view.paid_out_by,
        reminders_sent=view.reminders_sent,
        escalated_at=view.escalated_at,
        last_error=view.last_error,
        finished_at=view.finished_at,
        within_sla=view.within_sla,
    )


def _advance(row: RefundRecord, view: RefundView) -> None:
    """Merge `view` into the stored row; what the refund is (lines, amount, deadline) was fixed at its request."""
    current = PROGRESS[view.state] >= PROGRESS[RefundState(row.state)]
    if current:
        row.state = view.state.value
        # The gateway's latest failure belongs to the latest state: a newer record may clear it.
        row.last_error = view.last_error
    row.released_units = max(row.released_units, view.released_units)
    row.restocked_units = max(row.restocked_units, view.restocked_units)
    row.written_off_units = max(row.written_off_units, view.written_off_units)
    row.reminders_sent = max(row.reminders_sent, view.reminders_sent)
    row.gateway_reference = _kept(row.gateway_reference, view.gateway_reference)
    row.paid_at = _kept(row.paid_at, view.paid_at)
    row.payout_reference = _kept(row.payout_reference, view.payout_reference)
    row.paid_out_by = _kept(row.paid_out_by, view.paid_out_by)
    row.escalated_at = _kept(row.escalated_at, view.escalated_at)
    row.finished_at = _kept(row.finished_at, view.finished_at)
    row.within_sla = _kept(row.within_sla, view.within_sla)


def _kept(stored: ValueT | None, incoming: ValueT | None) -> ValueT | None:
    # The first value recorded stands: a retry never clears it, and a repeat cannot rewrite history.
    return stored if stored is not None else incoming


def _view(row: RefundRecord) -> RefundView:
    return RefundView(
        refund_id=row.refund_id,
        kind=RefundKind(row.kind),
        reason=row.reason,
        lines=[RefundLine.model_validate(line) for line in json.loads(row.lines_json)],
        shipping=Money.from_minor(row.shipping_minor, row.currency),
        amount=Money.from_minor(row.amount_minor, row.currency),
        method=PaymentMethod(row.method),
        needs_payout=row.needs_payout,
        requested_at=row.requested_at,
        deadline=row.deadline,
        state=RefundState(row.state),
        released_units=row.released_units,
        restocked_units=row.restocked_units,
        written_off_units=row.written_off_units,
        gateway_reference=row.gateway_reference,
        paid_at=row.paid_at,
        payout_reference=row.payout_reference,
        paid_out_by=row.paid_out_by,
        reminders_sent=row.reminders_sent,
        escalated_at=row.escalated_at,
        last_error=row.last_error,
        finished_at=row.finished_at,
        within_sla=row.within_sla,
    )


# --- money paid back ------------------------------------------------------------------------------------------


async def find_refund_payment(sessions: async_sessionmaker[AsyncSession], refund_id: str) -> RefundPayout | None:
    """The money paid back for the refund, or None while it has not been paid."""
    async with sessions() as session:
        row = await session.scalar(select(RefundPaymentRecord).where(RefundPaymentRecord.refund_id == refund_id))
    return _payout(row) if row is not None else None


async def record_refund_payment(
    sessions: async_sessionmaker[AsyncSession],
    *,
    refund_id: str,
    order_id: str,
    kind: str,
    method: PaymentMethod,
    amount: Money,
    reference: str,
    paid_by: str | None = None,
) -> RefundPayout:
    """Store the refund's payment; if one is already stored, return that one instead of adding another."""
    row = RefundPaymentRecord(
        refund_id=refund_id,
        order_id=order_id,
        kind=kind,
        method=method.value,
        amount_minor=amount.minor,
        currency=amount.currency,
        reference=reference,
        paid_by=paid_by,
        paid_at=datetime.now(UTC),
    )
    try:
        async with sessions.begin() as session:
            session.add(row)
    except IntegrityError:
        # An earlier or concurrent attempt stored this refund's payment first: theirs is the payment.
        existing = await find_refund_payment(sessions, refund_id)
        if existing is None:
            raise
        return existing
    return _payout(row)


async def refunded_total(
    sessions: async_sessionmaker[AsyncSession], order_id: str, currency: str, *, excluding: str | None = None
) -> Money:
    """Everything paid back for the order so far, in its currency (zero before the first refund).

    `excluding` leaves one refund out: a retry checking what is left must not count its own earlier attempt.
    """
    query = select(RefundPaymentRecord).where(RefundPaymentRecord.order_id == order_id)
    if excluding is not None:
        query = query.where(RefundPaymentRecord.refund_id != excluding)
    async with sessions() as session:
        rows = await session.scalars(query)
        total = Money.zero(currency)
        for row in rows:
            # Adding Money refuses a different currency rather than summing apples and pears.
            total = total + Money.from_minor(row.amount_minor, row.currency)
    return total


def _payout(row: RefundPaymentRecord) -> RefundPayout:
    return RefundPayout(
        refund_id=row.refund_id,
        order_id=row.order_id,
        kind=row.kind,
        method=PaymentMethod(row.method),
        amount=Money.from_minor(row.amount_minor, row.currency),
        reference=row.reference,
        paid_by=row.paid_by,
        paid_at=row.paid_at,
    )
