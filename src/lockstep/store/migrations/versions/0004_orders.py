"""Order flow: orders, their routed units, and the Deposco sales orders made for them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from lockstep.store.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("brand", sa.String(64), primary_key=True),
        sa.Column("number", sa.String(64), primary_key=True),
        sa.Column("centra_id", sa.String(128)),
        sa.Column("centra_status", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("eligible", sa.Boolean, nullable=False),
        sa.Column("market", sa.String(64)),
        sa.Column("ship_country", sa.String(2)),
        sa.Column("snapshot", sa.JSON, nullable=False),
        sa.Column("causes", sa.JSON, nullable=False),
        sa.Column("notes", sa.JSON, nullable=False),
        sa.Column("centra_updated_at", UTCDateTime()),
        sa.Column("detected_at", UTCDateTime(), nullable=False),
        sa.Column("state_since", UTCDateTime(), nullable=False),
        sa.Column("exported_at", UTCDateTime()),
    )
    op.create_index("ix_orders_brand_state", "orders", ["brand", "state", "state_since"])
    op.create_table(
        "order_units",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("order_number", sa.String(64), nullable=False),
        sa.Column("line_id", sa.Integer, nullable=False),
        sa.Column("sku", sa.String(128), nullable=False),
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("sales_order", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("cancelled", sa.Integer, nullable=False),
        sa.Column("shipped", sa.Integer, nullable=False),
        sa.UniqueConstraint("brand", "order_number", "line_id", "pool", "facility", name="uq_order_units_line_route"),
    )
    # The stock equation sums units per (brand, pool, sku).
    op.create_index("ix_order_units_pool_sku", "order_units", ["brand", "pool", "sku"])
    op.create_table(
        "sales_orders",
        sa.Column("brand", sa.String(64), primary_key=True),
        sa.Column("number", sa.String(64), primary_key=True),
        sa.Column("order_number", sa.String(64), nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("deposco_id", sa.String(64)),
        sa.Column("deposco_status", sa.String(32)),
        sa.Column("attempted_at", UTCDateTime()),
        sa.Column("confirmed_at", UTCDateTime()),
        sa.Column("cancelled_at", UTCDateTime()),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_sales_orders_order", "sales_orders", ["brand", "order_number"])


def downgrade() -> None:
    for table in ("sales_orders", "order_units", "orders"):
        op.drop_table(table)
