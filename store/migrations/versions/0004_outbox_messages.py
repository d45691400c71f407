"""The outbox keeps each email as composed in the step that queued it, so the mail relay sends it byte for byte.

Rows queued before (null) are sent by the activity that queued them, or composed by the relay (new-order emails).

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


def downgrade() -> None:
    with op.batch_alter_table("notifications") as table:
        table.drop_column("message")
