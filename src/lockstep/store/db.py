"""Engine set-up for SQLite (default) and PostgreSQL.

SQLite notes: WAL so readers never block the writer; a busy timeout so concurrent processes wait instead of
failing; and every transaction starts with ``BEGIN IMMEDIATE`` so the write lock is taken up front. That turns
SQLite's "deferred upgrade" deadlocks (two readers both trying to write) into plain waiting, and it is what makes
the queue's claim atomic on SQLite.

Within one process, writers also queue on an asyncio lock before ``BEGIN IMMEDIATE`` (:class:`_WriterGate`).
SQLite's busy handler polls with sleeps of up to 100 ms, so without it a transaction waiting on another one of
the same process slept on while the lock sat free: at 100 orders/s most of the order flow's time went there.
The busy timeout still covers other processes.

A connection opened with :func:`read_only` only reads: on SQLite it begins a deferred transaction (a WAL snapshot)
outside the gate, so it neither waits for the writer nor holds it up while it computes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import await_only, in_greenlet

from lockstep.config.settings import sqlalchemy_async_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY_OPTION = "lockstep_read_only"  # execution option: this connection never writes (see read_only)


class DatabaseUnavailable(RuntimeError):
    """The database URL cannot be used (bad URL, server unreachable, folder missing)."""


def normalise_url(url: str) -> str:
    """Accept the URLs people type (``postgresql://``, ``sqlite:///``) and pick the async driver."""
    return sqlalchemy_async_url(url)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a long message
        raise DatabaseUnavailable(f"invalid database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    raise DatabaseUnavailable(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, decide when transactions begin (see the "begin" hook).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    gate = _WriterGate()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            conn.exec_driver_sql("BEGIN")  # deferred: a snapshot to read, no write lock, no place in the gate
            return
        gate.enter(conn)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            gate.leave(conn)
            raise

    @event.listens_for(engine.sync_engine, "commit")
    def _on_commit(conn):
        gate.leave(conn)

    @event.listens_for(engine.sync_engine, "rollback")
    def _on_rollback(conn):
        # An invalidated connection (a statement interrupted by a cancellation, or a disconnect) still rolls its
        # transaction back; the pool's invalidate event below has released the gate already, and reaching
        # ``conn.info`` now would raise PendingRollbackError in place of the error that interrupted it.
        if not conn.invalidated:
            gate.leave(conn)

    # A connection that ends without a commit or rollback event (invalidated, returned mid-transaction) must
    # not keep the gate shut: the pool's events release it too.
    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _on_checkin(_dbapi_connection, record):
        gate.release(record.info)

    @event.listens_for(engine.sync_engine.pool, "invalidate")
    def _on_invalidate(_dbapi_connection, record, _exception):
        gate.release(record.info)


class _WriterGate:
    """One SQLite transaction at a time per event loop, handed over in arrival order.

    SQLite admits one writer, and every transaction here is a writer (``BEGIN IMMEDIATE``). Waiting on an
    asyncio lock wakes the next transaction the moment the previous one ends; waiting in SQLite's busy handler
    wakes it on a sleep schedule. The lock is released on the "commit"/"rollback" events, i.e. just before the
    COMMIT is sent, which the next ``BEGIN IMMEDIATE`` (queued behind it) then finds done or nearly so. Outside an
    event loop (plain sync use) there is nothing to order and the gate stands open.
    """

    _HELD = "lockstep_writer_gate"

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    def enter(self, conn) -> None:
        if not in_greenlet():
            return
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        try:
            await_only(asyncio.wait_for(lock.acquire(), SQLITE_BUSY_TIMEOUT_MS / 1000))
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked (waited for this process's writer)") from None
        conn.info[self._HELD] = lock

    def leave(self, conn) -> None:
        self.release(conn.info)

    def release(self, info: dict) -> None:
        lock = info.pop(self._HELD, None)
        if lock is not None:
            lock.release()


@contextlib.asynccontextmanager
async def read_only(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads only: one consistent snapshot, and on SQLite no wait for the process's writer.

    The stock publisher computes a pool's figures twice a run from a few hundred rows; taken through the writer
    gate, those reads held every other transaction up about 40 % of a sale's time (and waited on them). Do not write
    through it: on SQLite the deferred transaction would have to take the write lock past the gate."""
    async with engine.connect() as conn:
        await conn.execution_options(**{READ_ONLY_OPTION: True})
        yield conn


async def check_reachable(engine: AsyncEngine) -> None:
    """Raise DatabaseUnavailable with one readable line if the database cannot be reached."""
    from sqlalchemy import text

    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatabaseUnavailable(f"database unreachable: {reason}") from None


def insert_for(conn):
    """The dialect's INSERT construct (both offer ``on_conflict_do_*`` with the same signature)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
