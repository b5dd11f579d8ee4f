"""Shipment follow-up: wider state columns, tracking known to Centra, shipping cost per shipment, capture retries.

``orders.state`` needs room for ``partially_shipped``; ``shipments.state`` for ``capture_pending``.
``centra_tracking`` is what the Centra shipment already carries, so tracking numbers Deposco adds later are sent
once and only they are sent. ``shipping_cost`` is decided once per shipment before it is created (the order's cost
on its first shipment, nothing on the others), so a retry cannot move it to a second shipment.
``capture_attempts`` / ``next_capture_at`` schedule the retries of a capture the payment provider left pending.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from lockstep.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _set_state_length(length: int) -> None:
    # SQLite does not enforce VARCHAR lengths (and cannot ALTER a column type without copying the table), so only
    # the backends that enforce them are altered.
    if op.get_context().dialect.name == "sqlite":
        return
    for table in ("orders", "shipments"):
        op.alter_column(table, "state", type_=sa.String(length), existing_nullable=False)


def upgrade() -> None:
    _set_state_length(32)
    op.add_column("shipments", sa.Column("centra_tracking", sa.JSON))
    op.add_column("shipments", sa.Column("shipping_cost", sa.Float))
    op.add_column("shipments", sa.Column("capture_attempts", sa.Integer, nullable=False, server_default="0"))
    op.add_column("shipments", sa.Column("next_capture_at", UTCDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        for column in ("next_capture_at", "capture_attempts", "shipping_cost", "centra_tracking"):
            batch.drop_column(column)
    _set_state_length(16)
