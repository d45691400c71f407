"""Inventory activities: reserve an order's stock all or nothing, release it on cancellation, ship it, take it back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import api
from activities.api import ErrorType
from activities.orders import write_order
from domain import progress
from settings import Settings
from store import catalogue
from store.transaction import one_transaction


class InventoryActivities:
    """The stock side of an order; every movement happens once per order, however often it is retried."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def handlers(self) -> list[Callable[..., Awaitable[Any]]]:
        """The activity functions to register with a worker."""
        return [self.reserve_stock, self.reserve_order_stock, self.release_stock, self.ship_stock, self.return_stock]

    @api.RESERVE_ORDER_STOCK.implementation
    async def reserve_order_stock(self, request: api.ReserveOrderStock) -> api.Reservation:
        """Reserve every line or none, and write the order's move (picking, or backordered) in the same commit."""
        changes = request.changes
        async with one_transaction(self.sessions) as shared:
            reservation = await self._reserve(shared, changes.order_id, request.warehouse, request.lines)
            if reservation.reserved:
                await write_order(
                    shared,
                    self.settings,
                    changes,
                    lambda view: progress.stock_reserved(view, request.warehouse, changes.at, picking=request.picking),
                )
            else:
                await write_order(
                    shared,
                    self.settings,
                    changes,
                    lambda view: progress.backordered(view, reservation.short_skus, changes.at),
                )
        return reservation

    @api.RESERVE_STOCK.implementation
    async def reserve_stock(self, request: api.ReserveStock) -> api.Reservation:
        """Reserve every line of the order or none; when short, name the SKUs the order must wait for."""
        return await self._reserve(self.sessions, request.order_id, request.warehouse, request.lines)

    async def _reserve(
        self, sessions: async_sessionmaker[AsyncSession], order_id: str, warehouse: str, lines: list[api.StockLine]
    ) -> api.Reservation:
        wanted: dict[str, int] = {}
        for line in lines:
            wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
        try:
            units = await catalogue.reserve_stock(sessions, order_id, warehouse, wanted)
        except catalogue.OutOfStock as short:
            activity.logger.info("order %s: short of %s", order_id, ", ".join(short.skus))
            return api.Reservation(reserved=False, short_skus=short.skus)
        except catalogue.UnknownSku as unknown:
            raise ApplicationError(
                f"order {order_id}: {unknown}",
                unknown.skus,
                type=ErrorType.UNKNOWN_SKU,
                non_retryable=True,
            ) from unknown
        except catalogue.NoOpenReservation as closed:
            raise _nothing_reserved(closed) from closed
        except ValueError as malformed:
            # A request with no lines cannot become valid by retrying it.
            raise ApplicationError(f"order {order_id}: {malformed}", non_retryable=True) from malformed
        activity.logger.info("order %s: reserved %d units in %s", order_id, units, warehouse)
        return api.Reservation(reserved=True)

    @api.RELEASE_STOCK.implementation
    async def release_stock(self, request: api.StockRelease) -> api.StockMoved:
        """Put the order's reserved units back on sale; moves nothing if already released or shipped."""
        units = await catalogue.release_reservation(self.sessions, request.order_id)
        return api.StockMoved(units=units)

    @api.SHIP_STOCK.implementation
    async def ship_stock(self, request: api.StockRelease) -> api.StockMoved:
        """Count the order's reserved units as shipped; a retry after success moves nothing."""
        try:
            units = await catalogue.ship_reservation(self.sessions, request.order_id)
        except catalogue.NoOpenReservation as closed:
            raise _nothing_reserved(closed) from closed
        return api.StockMoved(units=units)

    @api.RETURN_STOCK.implementation
    async def return_stock(self, request: api.ReturnStock) -> api.StockReturned:
        """Release what the order still has reserved and restock the refund's shipped goods unless damaged.

        A retry after success moves nothing and reports the same counts.
        """
        returned = await catalogue.return_stock(
            self.sessions,
            request.order_id,
            request.refund_id,
            [
                catalogue.ReturnLine(sku=line.sku, quantity=line.quantity, restock=line.restock)
                for line in request.lines
            ],
            warehouse=self.settings.warehouse,
        )
        activity.logger.info(
            "order %s, refund %s: %d units released, %d restocked, %d written off",
            request.order_id,
            request.refund_id,
            returned.released,
            returned.restocked,
            returned.written_off,
        )
        return api.StockReturned(
            released=returned.released, restocked=returned.restocked, written_off=returned.written_off
        )


def _nothing_reserved(closed: catalogue.NoOpenReservation) -> ApplicationError:
    return ApplicationError(str(closed), type=ErrorType.NOTHING_RESERVED, non_retryable=True)
