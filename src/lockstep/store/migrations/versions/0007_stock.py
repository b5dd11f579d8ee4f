"""Inventory flow: Deposco readings, what Centra holds, dirty (pool, SKU) keys, and drift.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from lockstep.store.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock_levels",
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(128), nullable=False),
        sa.Column("atp", sa.Integer, nullable=False),
        sa.Column("on_hand", sa.Integer, nullable=False),
        sa.Column("as_of", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("brand", "facility", "sku", name="pk_stock_levels"),
    )
    op.create_table(
        "stock_published",
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(128), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("terms", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("brand", "pool", "sku", name="pk_stock_published"),
    )
    op.create_table(
        "stock_dirty",
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(128), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("touched_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("brand", "pool", "sku", name="pk_stock_dirty"),
    )
    op.create_index("ix_stock_dirty_since", "stock_dirty", ["brand", "since"])
    op.create_table(
        "stock_drift",
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(128), nullable=False),
        sa.Column("expected", sa.Integer, nullable=False),
        sa.Column("centra", sa.Integer, nullable=False),
        sa.Column("difference", sa.Integer, nullable=False),
        sa.Column("percent", sa.Float, nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("brand", "pool", "sku", name="pk_stock_drift"),
    )


def downgrade() -> None:
    op.drop_table("stock_drift")
    op.drop_index("ix_stock_dirty_since", table_name="stock_dirty")
    op.drop_table("stock_dirty")
    op.drop_table("stock_published")
    op.drop_table("stock_levels")
