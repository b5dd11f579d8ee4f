"""Order units by SKU across pools.

The routing allowance (every fetch batch) and the stock equation's other-pools term (every publish of a pool
that shares a facility) read the routed units of some SKUs in *every* pool. ``ix_order_units_pool_sku`` leads
with the pool, so those reads scanned all the brand's order units, which only grow.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_order_units_sku", "order_units", ["brand", "sku"])


def downgrade() -> None:
    op.drop_index("ix_order_units_sku", table_name="order_units")
