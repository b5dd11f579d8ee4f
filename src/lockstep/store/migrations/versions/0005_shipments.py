"""Shipment flow: the link between each Deposco shipment and its Centra shipment.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from lockstep.store.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shipments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("deposco_id", sa.String(64), nullable=False),
        sa.Column("deposco_number", sa.String(64), nullable=False),
        sa.Column("sales_order", sa.String(64), nullable=False),
        sa.Column("order_number", sa.String(64), nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lines", sa.JSON, nullable=False),
        sa.Column("carrier", sa.String(128), nullable=False),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("tracking", sa.JSON, nullable=False),
        sa.Column("packages", sa.Integer, nullable=False),
        sa.Column("centra_id", sa.Integer),
        sa.Column("centra_number", sa.String(64)),
        sa.Column("mutations", sa.Integer, nullable=False),
        sa.Column("shipped_at", UTCDateTime()),
        sa.Column("detected_at", UTCDateTime(), nullable=False),
        sa.Column("create_attempted_at", UTCDateTime()),
        sa.Column("tagged_at", UTCDateTime()),
        sa.Column("captured_at", UTCDateTime()),
        sa.Column("completed_at", UTCDateTime()),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("brand", "deposco_id", name="uq_shipments_deposco"),
    )
    op.create_index("ix_shipments_brand_state", "shipments", ["brand", "state"])
    op.create_index("ix_shipments_order", "shipments", ["brand", "order_number"])


def downgrade() -> None:
    op.drop_table("shipments")
