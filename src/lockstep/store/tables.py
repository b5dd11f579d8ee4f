"""SQLAlchemy Core table definitions.

Core rather than ORM on purpose: the queue and the bulk flows issue set-based statements (claim a batch, upsert
many rows) and never need identity-mapped objects. Every row carries its brand, so one deployment can serve many
brands without anything leaking between them. The Alembic migrations under ``migrations/versions`` create exactly
these tables, and they alone define the indexes (the partial unique indexes that make coalescing, lanes and
exception de-duplication safe are documented there).
"""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

# BigInteger ids that still autoincrement on SQLite (which only does so for INTEGER PRIMARY KEY).
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timestamp type; storing naive UTC there and aware values on PostgreSQL, and always handing back
    aware UTC, keeps comparisons (``run_at <= :now``) correct on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use lockstep.clock.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(name: str, nullable: bool = True) -> Column:
    return Column(name, UTCDateTime(), nullable=nullable)


jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("brand", String(64), nullable=False),
    Column("task", String(128), nullable=False),
    Column("payload", JSON, nullable=False),
    # pending -> running -> done | dead ; running -> pending (retry or lease expired)
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False, server_default="0"),
    _ts("run_at", nullable=False),
    Column("lane", String(128)),
    Column("dedupe_key", String(256)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("worker_id", String(128)),
    # A fresh token per claim: completion and retry only apply while the caller still holds the lease.
    Column("lease_token", String(36)),
    _ts("lease_expires_at"),
    _ts("created_at", nullable=False),
    _ts("started_at"),
    _ts("finished_at"),
)

inbox_events = Table(
    "inbox_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("brand", String(64), nullable=False),
    Column("source", String(32), nullable=False),  # centra | deposco | ...
    Column("event_id", String(256), nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("payload", JSON, nullable=False),
    _ts("received_at", nullable=False),
    _ts("processed_at"),
    UniqueConstraint("brand", "source", "event_id"),
)

sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("brand", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    _ts("updated_at", nullable=False),
)

exceptions = Table(
    "exceptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("brand", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("dedupe_key", String(256), nullable=False),
    Column("entity_type", String(32)),
    Column("entity_id", String(256)),
    Column("owner_team", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # open | acknowledged | resolved
    Column("resolution", String(32)),  # manual | auto
    Column("playbook", String(128), nullable=False),
    Column("summary", Text, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("occurrences", Integer, nullable=False, server_default="1"),
    _ts("first_seen", nullable=False),
    _ts("last_seen", nullable=False),
    _ts("acknowledged_at"),
    _ts("resolved_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("brand", String(64), nullable=False),
    _ts("at", nullable=False),
    Column("actor", String(128), nullable=False),  # a person (cli:<user>) or a component (scheduler, worker)
    Column("action", String(64), nullable=False),
    Column("entity_type", String(32)),
    Column("entity_id", String(256)),
    Column("details", JSON, nullable=False),
)

schedule_slots = Table(
    "schedule_slots",
    metadata,
    Column("brand", String(64), primary_key=True),
    Column("schedule", String(128), primary_key=True),
    # The unique slot row is what makes a cron slot run once, however many schedulers race for it.
    Column("slot", UTCDateTime(), primary_key=True),
    Column("job_id", BigInteger),
    _ts("created_at", nullable=False),
)

rate_grants = Table(
    "rate_grants",
    metadata,
    # The shared rate budget's sliding log (connectors/budget.py): one row per admitted call and bucket.
    # ``at`` is epoch seconds from the database clock, so every process agrees on time.
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("scope", String(128), nullable=False),
    Column("bucket", String(32), nullable=False),
    Column("at", Float, nullable=False),
)

item_coverage = Table(
    "item_coverage",
    metadata,
    # One row per brand and item key (the Deposco item number: full SKU or EAN, per the brand's ``sku_key``):
    # whether Centra and Deposco know it, and how they differ. Written by the item sync (flows/items.py); the
    # order flow asks it which SKUs Deposco does not know before sending an order.
    Column("brand", String(64), primary_key=True),
    Column("item_key", String(128), primary_key=True),
    Column("sku", String(128)),  # Centra's values; empty for an item only Deposco has
    Column("ean", String(64)),
    Column("deposco_upc", String(64)),  # the UPC Deposco holds: a duplicate UPC is found without asking Deposco
    Column("in_centra", Boolean, nullable=False),
    Column("in_deposco", Boolean, nullable=False),
    Column("centra_active", Boolean, nullable=False),
    Column("differences", JSON, nullable=False),  # field -> [Centra value, Deposco value]
    _ts("centra_updated_at"),
    _ts("last_synced_at", nullable=False),
    Column("last_error", Text),
)
