"""Foundation: jobs, inbox events, sync cursors, exceptions, audit log, schedule slots.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from lockstep.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _where(condition: str) -> dict:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("task", sa.String(128), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("run_at", UTCDateTime(), nullable=False),
        sa.Column("lane", sa.String(128)),
        sa.Column("dedupe_key", sa.String(256)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("worker_id", sa.String(128)),
        sa.Column("lease_token", sa.String(36)),
        sa.Column("lease_expires_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
    )
    op.create_index("ix_jobs_claim", "jobs", ["status", sa.text("priority DESC"), "run_at", "id"])
    op.create_index("ix_jobs_lease", "jobs", ["status", "lease_expires_at"])
    op.create_index(
        "uq_jobs_pending_dedupe",
        "jobs",
        ["brand", "dedupe_key"],
        unique=True,
        **_where("status = 'pending' AND dedupe_key IS NOT NULL"),
    )
    op.create_index(
        "uq_jobs_running_lane",
        "jobs",
        ["brand", "lane"],
        unique=True,
        **_where("status = 'running' AND lane IS NOT NULL"),
    )

    op.create_table(
        "inbox_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("processed_at", UTCDateTime()),
        sa.UniqueConstraint("brand", "source", "event_id", name="uq_inbox_events_brand_source_event_id"),
    )

    op.create_table(
        "sync_cursors",
        sa.Column("brand", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )

    op.create_table(
        "exceptions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("dedupe_key", sa.String(256), nullable=False),
        sa.Column("entity_type", sa.String(32)),
        sa.Column("entity_id", sa.String(256)),
        sa.Column("owner_team", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolution", sa.String(32)),
        sa.Column("playbook", sa.String(128), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime()),
        sa.Column("resolved_at", UTCDateTime()),
    )
    op.create_index("ix_exceptions_brand_status", "exceptions", ["brand", "status"])
    op.create_index(
        "uq_exceptions_active",
        "exceptions",
        ["brand", "kind", "dedupe_key"],
        unique=True,
        **_where("status <> 'resolved'"),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity_type", sa.String(32)),
        sa.Column("entity_id", sa.String(256)),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_log_brand_at", "audit_log", ["brand", "at"])

    op.create_table(
        "schedule_slots",
        sa.Column("brand", sa.String(64), primary_key=True),
        sa.Column("schedule", sa.String(128), primary_key=True),
        sa.Column("slot", UTCDateTime(), primary_key=True),
        sa.Column("job_id", sa.BigInteger),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("schedule_slots", "audit_log", "exceptions", "sync_cursors", "inbox_events", "jobs"):
        op.drop_table(table)
