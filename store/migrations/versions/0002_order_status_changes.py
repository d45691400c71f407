"""Keep each status an order entered, for step times in reports and runs; filled from the stored timelines.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Orders are read in pages so a shop with millions of them does not hold every timeline in memory at once.
PAGE = 1_000


def upgrade() -> None:
    op.create_table(
        "order_status_changes",
        sa.Column("order_id", sa.String(length=100), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.order_id"],
        ),
        sa.PrimaryKeyConstraint("order_id", "seq"),
    )
    _backfill()


def _backfill() -> None:
    """Write the status changes of every order already in the read model from its stored view's timeline."""
    connection = op.get_bind()
    orders = sa.table("orders", sa.column("order_id", sa.String), sa.column("view_json", sa.Text))
    changes = sa.table(
        "order_status_changes",
        sa.column("order_id", sa.String),
        sa.column("seq", sa.Integer),
        sa.column("status", sa.String),
        sa.column("at", sa.DateTime(timezone=True)),
    )
    last = ""
    while True:
        page = connection.execute(
            sa.select(orders.c.order_id, orders.c.view_json)
            .where(orders.c.order_id > last)
            .order_by(orders.c.order_id)
            .limit(PAGE)
        ).all()
        if not page:
            return
        rows = []
        for order_id, view_json in page:
            timeline = json.loads(view_json).get("timeline", [])
            entered = [entry for entry in timeline if entry.get("status")]
            rows += [
                {"order_id": order_id, "seq": seq, "status": entry["status"], "at": _moment(entry["at"])}
                for seq, entry in enumerate(entered)
            ]
        if rows:
            connection.execute(changes.insert(), rows)
        last = page[-1][0]


def _moment(text: str) -> datetime:
    # Pydantic writes UTC as "Z", which fromisoformat on Python 3.11 reads; the column wants UTC.
    return datetime.fromisoformat(text).astimezone(UTC)


def downgrade() -> None:
    op.drop_table("order_status_changes")
