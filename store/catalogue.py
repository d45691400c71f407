"""Catalogue and stock repository: products, stock per warehouse, the movement ledger and order reservations.

Stock only ever changes through conditional UPDATEs (`... WHERE available >= :quantity`) checked by their row
count, never read-then-write, so racing orders cannot oversell on SQLite (one writer at a time) or PostgreSQL
(row locks re-check the condition). Every change leaves one ledger row under a unique idempotency key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Update, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from domain.money import Money
from store.db import execute_core
from store.schema import Product, StockLevel, StockMovement, StockReservation
from store.transaction import writing

# Ledger kinds (StockMovement.kind).
INITIAL = "initial"
RECEIVE = "receive"
RESERVE = "reserve"
RELEASE = "release"
SHIP = "ship"
RESTOCK = "restock"

# Reservation statuses (StockReservation.status).
RESERVED = "reserved"
RELEASED = "released"
SHIPPED = "shipped"


class UnknownSku(LookupError):
    """An order or a receipt names SKUs the catalogue does not have."""

    def __init__(self, skus: Iterable[str]) -> None:
        self.skus = sorted(set(skus))
        label = "SKU" if len(self.skus) == 1 else "SKUs"
        super().__init__(f"unknown {label} {', '.join(self.skus)}; add the product to the catalogue first")


class ProductExists(ValueError):
    """A product with this SKU is already in the catalogue."""

    def __init__(self, sku: str) -> None:
        self.sku = sku
        super().__init__(f"sku: {sku} is already in the catalogue")


class OutOfStock(Exception):
    """Some lines of an order cannot be reserved in full; nothing was reserved."""

    def __init__(self, order_id: str, skus: Iterable[str]) -> None:
        self.order_id = order_id
        self.skus = sorted(skus)
        super().__init__(f"order {order_id}: not enough stock of {', '.join(self.skus)}")


class NoOpenReservation(LookupError):
    """The order has no reservation that stock could be taken from: none was made, or it was released."""

    def __init__(self, order_id: str, status: str | None) -> None:
        self.order_id = order_id
        self.status = status
        if status is None:
            message = f"order {order_id} has no stock reservation; reserve its stock before shipping"
        else:
            message = f"order {order_id}: its stock reservation is {status} and cannot be used again"
        super().__init__(message)


@dataclass(frozen=True)
class CatalogueItem:
    """A product as the shop lists it."""

    sku: str
    name: str
    price: Money


@dataclass(frozen=True)
class DemoProduct:
    """A product of the demo catalogue and the units it starts with."""

    sku: str
    name: str
    price: Money
    stock: int


@dataclass(frozen=True)
class StockCount:
    """Units of one SKU in one warehouse: free to sell, set aside for orders, gone out with carriers."""

    sku: str
    name: str
    warehouse: str
    available: int
    reserved: int
    shipped: int

    @property
    def sold_out(self) -> bool:
        """Nothing left to sell."""
        return self.available == 0


@dataclass(frozen=True)
class ReturnLine:
    """Units of one SKU that a refund gives back; `restock` is False for damaged goods not sold again."""

    sku: str
    quantity: int
    restock: bool = True


@dataclass(frozen=True)
class ReturnedStock:
    """What a refund did with its goods: units released from the reservation, restocked, written off."""

    released: int
    restocked: int
    written_off: int


@dataclass(frozen=True)
class LedgerBalance:
    """One SKU in one warehouse: the ledger's movements next to the stock level they should explain."""

    sku: str
    warehouse: str
    initial: int
    received: int
    restocked: int
    reserve_moves: int
    release_moves: int
    ship_moves: int
    available: int
    reserved: int
    shipped: int

    @property
    def balanced(self) -> bool:
        """Every unit that came in is still available, reserved or shipped: none made up, none lost."""
        return self.initial + self.received + self.restocked == self.available + self.reserved + self.shipped

    @property
    def explains_levels(self) -> bool:
        """Replaying the ledger gives exactly the stock level's reserved and shipped figures."""
        return (
            self.reserved == self.reserve_moves - self.release_moves - self.ship_moves
            and self.shipped == self.ship_moves
        )


def _eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


# The demo shop: something in every state an operator should see, including low stock and sold out.
DEMO_CATALOGUE: tuple[DemoProduct, ...] = (
    DemoProduct("MUG-ENAMEL", "Enamel camping mug, 350 ml", _eur("14.90"), 40),
    DemoProduct("TSHIRT-S", "Organic cotton T-shirt, size S", _eur("24.00"), 25),
    DemoProduct("TSHIRT-M", "Organic cotton T-shirt, size M", _eur("24.00"), 30),
    DemoProduct("TSHIRT-L", "Organic cotton T-shirt, size L", _eur("24.00"), 3),
    DemoProduct("NOTEBOOK-A5", "Dotted notebook A5, 120 pages", _eur("9.50"), 60),
    DemoProduct("COFFEE-250G", "Single-origin coffee beans, 250 g", _eur("8.90"), 80),
    DemoProduct("COFFEE-1KG", "House espresso blend, 1 kg", _eur("29.90"), 0),
    DemoProduct("TOTE-CANVAS", "Canvas tote bag", _eur("12.00"), 15),
)


# --- products -----------------------------------------------------------------------------------------------


async def add_product(
    sessions: async_sessionmaker[AsyncSession],
    sku: str,
    name: str,
    price: Money,
    *,
    warehouse: str = "main",
    stock: int = 0,
) -> CatalogueItem:
    """Add a product with its opening stock in `warehouse` (an `initial` movement); SKUs are upper-cased."""
    if stock < 0:
        raise ValueError(f"stock: must be 0 or more, got {stock}")
    sku = _normal_sku(sku)
    try:
        async with sessions.begin() as session:
            _stock_new_product(session, sku, name, price, warehouse, stock)
    except IntegrityError as error:
        raise ProductExists(sku) from error
    return CatalogueItem(sku=sku, name=name, price=price)


async def seed_demo_catalogue(sessions: async_sessionmaker[AsyncSession], *, warehouse: str = "main") -> int:
    """Fill an empty catalogue with `DEMO_CATALOGUE`; returns the products added (0 if any existed)."""
    try:
        async with sessions.begin() as session:
            if await session.scalar(select(func.count()).select_from(Product)):
                return 0
            for product in DEMO_CATALOGUE:
                _stock_new_product(session, product.sku, product.name, product.price, warehouse, product.stock)
    except IntegrityError:
        # Another process seeded the same empty catalogue at the same moment; its catalogue stands.
        return 0
    return len(DEMO_CATALOGUE)


async def list_products(sessions: async_sessionmaker[AsyncSession]) -> list[CatalogueItem]:
    """The whole catalogue, by SKU."""
    async with sessions() as session:
        rows = await session.scalars(select(Product).order_by(Product.sku))
        return [CatalogueItem(row.sku, row.name, Money.from_minor(row.price_minor, row.currency)) for row in rows]


async def unknown_skus(sessions: async_sessionmaker[AsyncSession], skus: Iterable[str]) -> list[str]:
    """Those of `skus` the catalogue does not have, sorted; empty when all are known."""
    async with sessions() as session:
        return await _missing_skus(session, skus)


def _stock_new_product(session: AsyncSession, sku: str, name: str, price: Money, warehouse: str, stock: int) -> None:
    now = datetime.now(UTC)
    session.add(Product(sku=sku, name=name, price_minor=price.minor, currency=price.currency, created_at=now))
    session.add(StockLevel(sku=sku, warehouse=warehouse, available=stock, reserved=0, shipped=0))
    if stock:
        session.add(_movement(f"{INITIAL}:{sku}:{warehouse}", sku, warehouse, INITIAL, stock, order_id=None))


# --- stock levels and receipts ------------------------------------------------------------------------------


async def receive_stock(
    sessions: async_sessionmaker[AsyncSession], sku: str, quantity: int, warehouse: str, receipt_id: str
) -> StockCount:
    """Add delivered units to what is available; the same receipt booked twice adds them once."""
    if quantity < 1:
        raise ValueError(f"quantity: must be at least 1, got {quantity}")
    sku = _normal_sku(sku)
    async with sessions.begin() as session:
        await _require_products(session, [sku])
        try:
            async with session.begin_nested():
                session.add(_movement(f"{receipt_id}:{RECEIVE}:{sku}", sku, warehouse, RECEIVE, quantity, None))
        except IntegrityError:
            pass  # this receipt is already in the ledger, and so are its units
        else:
            await _add_available(session, sku, warehouse, quantity)
        return await _stock_count(session, sku, warehouse)


async def stock_levels(
    sessions: async_sessionmaker[AsyncSession],
    *,
    warehouse: str | None = None,
    skus: Iterable[str] | None = None,
) -> list[StockCount]:
    """Stock of every product (or of `skus`) in every warehouse (or in `warehouse`), by SKU and warehouse."""
    query = (
        select(StockLevel, Product.name)
        .join(Product, Product.sku == StockLevel.sku)
        .order_by(StockLevel.sku, StockLevel.warehouse)
    )
    if warehouse is not None:
        query = query.where(StockLevel.warehouse == warehouse)
    if skus is not None:
        query = query.where(StockLevel.sku.in_([_normal_sku(sku) for sku in skus]))
    async with sessions() as session:
        rows = (await session.execute(query)).all()
    return [_as_count(level, name) for level, name in rows]


async def _add_available(session: AsyncSession, sku: str, warehouse: str, quantity: int) -> None:
    grow = (
        update(StockLevel)
        .where(StockLevel.sku == sku, StockLevel.warehouse == warehouse)
        .values(available=StockLevel.available + quantity)
    )
    if await _rows_changed(session, grow):
        return
    try:
        async with session.begin_nested():
            session.add(StockLevel(sku=sku, warehouse=warehouse, available=quantity, reserved=0, shipped=0))
    except IntegrityError:
        # A concurrent receipt opened this warehouse's row first; add to it.
        await _rows_changed(session, grow)


async def _stock_count(session: AsyncSession, sku: str, warehouse: str) -> StockCount:
    level, name = (
        await session.execute(
            select(StockLevel, Product.name)
            .join(Product, Product.sku == StockLevel.sku)
            .where(StockLevel.sku == sku, StockLevel.warehouse == warehouse)
        )
    ).one()
    return _as_count(level, name)


def _as_count(level: StockLevel, name: str) -> StockCount:
    return StockCount(
        sku=level.sku,
        name=name,
        warehouse=level.warehouse,
        available=level.available,
        reserved=level.reserved,
        shipped=level.shipped,
    )


# --- reservations -------------------------------------------------------------------------------------------


async def reserve_stock(
    sessions: async_sessionmaker[AsyncSession], order_id: str, warehouse: str, lines: Mapping[str, int]
) -> int:
    """Set aside every line (SKU -> units) for the order, or nothing; returns units moved (0: done before).

    Raises `OutOfStock` naming every short SKU, `UnknownSku`, or `NoOpenReservation` if the order's
    reservation was released.
    """
    if not lines:
        raise ValueError(f"lines: order {order_id} has nothing to reserve")
    for sku, quantity in lines.items():
        if quantity < 1:
            raise ValueError(f"lines[{sku}].quantity: must be at least 1, got {quantity}")
    try:
        async with sessions.begin() as session:
            existing = await session.get(StockReservation, order_id)
            if existing is not None:
                return _already_reserved(existing)
            await _require_products(session, lines)
            # Claim the order id before moving stock: on PostgreSQL a twin attempt waits here, then fails.
            session.add(
                StockReservation(
                    order_id=order_id,
                    warehouse=warehouse,
                    status=RESERVED,
                    lines_json=_lines_json(lines),
                    reserved_at=datetime.now(UTC),
                )
            )
            await session.flush()
            # SKU order is the lock order, so two orders sharing SKUs cannot deadlock on PostgreSQL.
            short = [sku for sku in sorted(lines) if not await _take(session, sku, warehouse, lines[sku])]
            if short:
                raise OutOfStock(order_id, short)  # leaving the block rolls back every line already taken
            for sku in sorted(lines):
                session.add(_movement(f"{order_id}:{RESERVE}:{sku}", sku, warehouse, RESERVE, lines[sku], order_id))
    except IntegrityError:
        # A concurrent attempt for the same order committed its reservation first; ours rolled back.
        async with sessions() as session:
            existing = await session.get(StockReservation, order_id)
        if existing is None:
            raise
        return _already_reserved(existing)
    return sum(lines.values())


async def release_reservation(sessions: async_sessionmaker[AsyncSession], order_id: str) -> int:
    """Give the order's reserved units back to available; returns units moved (0: nothing to give)."""
    async with writing(sessions) as session:
        reservation = await _close_reservation(session, order_id, RELEASED)
        if reservation is None:
            return 0
        return await _move_reserved(session, reservation, RELEASE, StockLevel.available)


async def ship_reservation(sessions: async_sessionmaker[AsyncSession], order_id: str) -> int:
    """Move the order's reserved units to shipped; returns units moved, 0 if they were shipped already.

    Raises `NoOpenReservation` when the order has no reservation or it was released (having changed nothing).
    """
    async with writing(sessions) as session:
        reservation = await _close_reservation(session, order_id, SHIPPED)
        if reservation is None:
            existing = await session.get(StockReservation, order_id)
            if existing is not None and existing.status == SHIPPED:
                return 0
            raise NoOpenReservation(order_id, existing.status if existing is not None else None)
        return await _move_reserved(session, reservation, SHIP, StockLevel.shipped)


async def _move_reserved(
    session: AsyncSession,
    reservation: StockReservation,
    kind: str,
    destination: InstrumentedAttribute[int],
    keyed_by: str | None = None,
) -> int:
    """Move every unit the reservation holds from reserved to `destination`, one ledger row per SKU.

    Ledger keys are `<keyed_by>:<kind>:<sku>`, `keyed_by` being the order id unless a refund does the move.
    """
    lines = _lines_of(reservation)
    for sku, quantity in sorted(lines.items()):
        await _rows_changed(
            session,
            _level(sku, reservation.warehouse).values(
                {StockLevel.reserved: StockLevel.reserved - quantity, destination: destination + quantity}
            ),
        )
        key = f"{keyed_by or reservation.order_id}:{kind}:{sku}"
        session.add(_movement(key, sku, reservation.warehouse, kind, quantity, reservation.order_id))
    return sum(lines.values())


# --- refunds ------------------------------------------------------------------------------------------------


async def return_stock(
    sessions: async_sessionmaker[AsyncSession],
    order_id: str,
    refund_id: str,
    lines: Iterable[ReturnLine],
    *,
    warehouse: str,
) -> ReturnedStock:
    """Take back a refund's goods in one transaction; a retry moves nothing and returns the same counts.

    A reservation still open is released whole (its units never left). Each restocked line then puts back at
    most the units the order shipped of that SKU that no earlier refund restocked; damaged lines are written off
    and stay counted as shipped.
    """
    restock: dict[str, int] = {}
    write_off: dict[str, int] = {}
    for line in lines:
        if line.quantity < 1:
            raise ValueError(f"lines[{line.sku}].quantity: must be at least 1, got {line.quantity}")
        target = restock if line.restock else write_off
        sku = _normal_sku(line.sku)
        target[sku] = target.get(sku, 0) + line.quantity
    async with sessions.begin() as session:
        # Lock the order's reservation first: two refunds of one order restock one after the other on
        # PostgreSQL, so together they never put back more than shipped (SQLite has one writer anyway).
        reservation = await session.scalar(
            select(StockReservation).where(StockReservation.order_id == order_id).with_for_update()
        )
        if reservation is None:
            # Nothing was ever set aside. Close the order's reservation anyway, so that a reservation the stopped
            # order had still in flight fails (NoOpenReservation) instead of holding stock nobody will release.
            now = datetime.now(UTC)
            session.add(
                StockReservation(
                    order_id=order_id,
                    warehouse=warehouse,
                    status=RELEASED,
                    lines_json="{}",
                    reserved_at=now,
                    closed_at=now,
                )
            )
            return ReturnedStock(released=0, restocked=0, written_off=0)
        if reservation.status == RESERVED:
            closed = await _close_reservation(session, order_id, RELEASED)
            if closed is not None:
                await _move_reserved(session, closed, RELEASE, StockLevel.available, keyed_by=refund_id)
        for sku in sorted(restock):
            await _restock(session, order_id, refund_id, reservation.warehouse, sku, restock[sku])
        # Counted from this refund's own ledger rows, so a retry after success reports what the first attempt did.
        released = await _units_keyed(session, [f"{refund_id}:{RELEASE}:{sku}" for sku in _lines_of(reservation)])
        restocked = await _units_keyed(session, [f"{refund_id}:{RESTOCK}:{sku}" for sku in restock])
        written_off = 0
        for sku, quantity in write_off.items():
            written_off += min(quantity, await _order_units(session, order_id, sku, SHIP))
    return ReturnedStock(released=released, restocked=restocked, written_off=written_off)


async def _restock(session: AsyncSession, order_id: str, refund_id: str, warehouse: str, sku: str, wanted: int) -> None:
    key = f"{refund_id}:{RESTOCK}:{sku}"
    if await _units_keyed(session, [key]):
        return  # this refund restocked the SKU already
    shipped = await _order_units(session, order_id, sku, SHIP)
    restocked = await _order_units(session, order_id, sku, RESTOCK)
    units = min(wanted, shipped - restocked)
    if units <= 0:
        return
    # Units coming back are a new inflow: available grows, shipped keeps what went out, the ledger says why.
    await _rows_changed(session, _level(sku, warehouse).values(available=StockLevel.available + units))
    session.add(_movement(key, sku, warehouse, RESTOCK, units, order_id))


async def _order_units(session: AsyncSession, order_id: str, sku: str, kind: str) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(
            StockMovement.order_id == order_id, StockMovement.sku == sku, StockMovement.kind == kind
        )
    )
    return int(total or 0)


async def _units_keyed(session: AsyncSession, keys: list[str]) -> int:
    if not keys:
        return 0
    total = await session.scalar(
        select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(StockMovement.idempotency_key.in_(keys))
    )
    return int(total or 0)


async def reservation_status(sessions: async_sessionmaker[AsyncSession], order_id: str) -> str | None:
    """`reserved`, `released` or `shipped`; None when the order never reserved stock."""
    async with sessions() as session:
        return await session.scalar(select(StockReservation.status).where(StockReservation.order_id == order_id))


def _already_reserved(reservation: StockReservation) -> int:
    if reservation.status == RELEASED:
        raise NoOpenReservation(reservation.order_id, reservation.status)
    return 0


async def _take(session: AsyncSession, sku: str, warehouse: str, quantity: int) -> bool:
    # The condition is the whole oversell guard: the database checks and moves in one statement.
    taken = (
        _level(sku, warehouse)
        .where(StockLevel.available >= quantity)
        .values(available=StockLevel.available - quantity, reserved=StockLevel.reserved + quantity)
    )
    return await _rows_changed(session, taken) == 1


async def _close_reservation(session: AsyncSession, order_id: str, status: str) -> StockReservation | None:
    # Only the attempt whose UPDATE flips `reserved` moves stock; a retry or a racing twin changes no row.
    closed = await _rows_changed(
        session,
        update(StockReservation)
        .where(StockReservation.order_id == order_id, StockReservation.status == RESERVED)
        .values(status=status, closed_at=datetime.now(UTC)),
    )
    if not closed:
        return None
    return await session.get(StockReservation, order_id)


def _lines_json(lines: Mapping[str, int]) -> str:
    return json.dumps([{"sku": sku, "quantity": lines[sku]} for sku in sorted(lines)])


def _lines_of(reservation: StockReservation) -> dict[str, int]:
    return {line["sku"]: int(line["quantity"]) for line in json.loads(reservation.lines_json)}


# --- ledger -------------------------------------------------------------------------------------------------


async def ledger_balance(sessions: async_sessionmaker[AsyncSession]) -> dict[tuple[str, str], LedgerBalance]:
    """Per (SKU, warehouse): the ledger's totals by kind beside the stock level, to check stock adds up."""
    async with sessions() as session:
        moves = (
            await session.execute(
                select(
                    StockMovement.sku,
                    StockMovement.warehouse,
                    StockMovement.kind,
                    func.sum(StockMovement.quantity),
                ).group_by(StockMovement.sku, StockMovement.warehouse, StockMovement.kind)
            )
        ).all()
        levels = (await session.scalars(select(StockLevel))).all()
    totals: dict[tuple[str, str], dict[str, int]] = {}
    for sku, warehouse, kind, quantity in moves:
        totals.setdefault((sku, warehouse), {})[kind] = int(quantity)
    on_hand = {(level.sku, level.warehouse): level for level in levels}
    balances: dict[tuple[str, str], LedgerBalance] = {}
    for key in sorted(totals.keys() | on_hand.keys()):
        kinds = totals.get(key, {})
        level = on_hand.get(key)
        balances[key] = LedgerBalance(
            sku=key[0],
            warehouse=key[1],
            initial=kinds.get(INITIAL, 0),
            received=kinds.get(RECEIVE, 0),
            restocked=kinds.get(RESTOCK, 0),
            reserve_moves=kinds.get(RESERVE, 0),
            release_moves=kinds.get(RELEASE, 0),
            ship_moves=kinds.get(SHIP, 0),
            available=level.available if level else 0,
            reserved=level.reserved if level else 0,
            shipped=level.shipped if level else 0,
        )
    return balances


def _movement(key: str, sku: str, warehouse: str, kind: str, quantity: int, order_id: str | None) -> StockMovement:
    return StockMovement(
        idempotency_key=key,
        sku=sku,
        warehouse=warehouse,
        kind=kind,
        quantity=quantity,
        order_id=order_id,
        at=datetime.now(UTC),
    )


# --- shared statements --------------------------------------------------------------------------------------


def _normal_sku(sku: str) -> str:
    # Orders upper-case their SKUs; the catalogue must spell them the same way to be found.
    return sku.strip().upper()


def _level(sku: str, warehouse: str) -> Update:
    return update(StockLevel).where(StockLevel.sku == sku, StockLevel.warehouse == warehouse)


async def _require_products(session: AsyncSession, skus: Iterable[str]) -> None:
    missing = await _missing_skus(session, skus)
    if missing:
        raise UnknownSku(missing)


async def _missing_skus(session: AsyncSession, skus: Iterable[str]) -> list[str]:
    wanted = set(skus)
    known = set((await execute_core(session, select(Product.sku).where(Product.sku.in_(wanted)))).scalars())
    return sorted(wanted - known)


async def _rows_changed(session: AsyncSession, statement: Update) -> int:
    # As Core: the ORM would otherwise try to sync loaded objects; these statements are the source of truth.
    return (await execute_core(session, statement)).rowcount
