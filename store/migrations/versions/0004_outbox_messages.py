"""The outbox keeps each email as composed in the step that queued it, so the mail relay sends it byte for byte,
and a sender claims a row for a while instead of holding a transaction open while SMTP talks.

Rows queued before (null message) are sent by the activity that queued them, or composed by the relay (new-order
emails). An email the SMTP server refuses for good is marked failed, with the server's answer.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("message", sa.Text(), nullable=True))
    op.add_column("notifications", sa.Column("claimed_by", sa.String(length=64), nullable=True))
    op.add_column("notifications", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("notifications", sa.Column("failure", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as table:
        for column in ("failure", "claimed_until", "claimed_by", "message"):
            table.drop_column(column)
