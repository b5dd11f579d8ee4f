"""Item coverage: which item keys Centra and Deposco each know, and how they differ.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from lockstep.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_coverage",
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("item_key", sa.String(128), nullable=False),
        sa.Column("sku", sa.String(128)),
        sa.Column("ean", sa.String(64)),
        sa.Column("deposco_upc", sa.String(64)),
        sa.Column("in_centra", sa.Boolean, nullable=False),
        sa.Column("in_deposco", sa.Boolean, nullable=False),
        sa.Column("centra_active", sa.Boolean, nullable=False),
        sa.Column("differences", sa.JSON, nullable=False),
        sa.Column("centra_updated_at", UTCDateTime()),
        sa.Column("last_synced_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("brand", "item_key", name="pk_item_coverage"),
    )
    # The duplicate-UPC check of an incremental sync looks items up by the UPC Deposco holds.
    op.create_index("ix_item_coverage_brand_deposco_upc", "item_coverage", ["brand", "deposco_upc"])


def downgrade() -> None:
    op.drop_table("item_coverage")
