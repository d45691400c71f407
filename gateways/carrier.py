"""The sandbox carrier "sandbox-post": labels with tracking numbers, and scans that follow the wall clock."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

SANDBOX_CARRIER = "sandbox-post"

LABEL_CREATED = "label_created"
IN_TRANSIT = "in_transit"
OUT_FOR_DELIVERY = "out_for_delivery"
DELIVERED = "delivered"


@dataclass(frozen=True)
class Scan:
    """One tracking event of a parcel."""

    event: str
    at: datetime


@dataclass(frozen=True)
class SandboxLabel:
    """A label the sandbox carrier printed: its tracking number and when the parcel will arrive."""

    carrier: str
    tracking: str
    created_at: datetime
    delivers_at: datetime

    def scans(self, now: datetime) -> list[Scan]:
        """The tracking events whose time has come by `now`, oldest first."""
        transit = self.delivers_at - self.created_at
        journey = [
            Scan(LABEL_CREATED, self.created_at),
            Scan(IN_TRANSIT, self.created_at + transit / 3),
            Scan(OUT_FOR_DELIVERY, self.created_at + transit * 2 / 3),
            Scan(DELIVERED, self.delivers_at),
        ]
        return [scan for scan in journey if scan.at <= now]


class SandboxCarrier:
    """A carrier whose parcels take `transit` from label to doorstep, scanned at fixed points on the way."""

    def __init__(self, transit: timedelta) -> None:
        self.transit = transit

    def create_label(self, order_id: str, at: datetime, attempt: int = 0) -> SandboxLabel:
        """Print the order's label; its tracking number follows from the order id and `attempt`."""
        return SandboxLabel(
            carrier=SANDBOX_CARRIER,
            tracking=tracking_number(order_id, attempt),
            created_at=at,
            delivers_at=at + self.transit,
        )


def tracking_number(order_id: str, attempt: int = 0) -> str:
    """SBX and ten digits derived from the order id; each `attempt` gives another number for the order."""
    seed = order_id if attempt == 0 else f"{order_id}#{attempt}"
    digest = hashlib.sha256(seed.encode()).digest()
    return f"SBX{int.from_bytes(digest[:8], 'big') % 10**10:010d}"
