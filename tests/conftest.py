"""Shared fixtures: a migrated database on SQLite *and* PostgreSQL.

PostgreSQL tests use a throw-away database created for the test session (``lockstep_test_<pid>``) on the server
named by ``LOCKSTEP_TEST_PG_URL`` (default: the local trust-auth server, database ``test``). Tables are emptied
between tests. Without a reachable server the PostgreSQL variants are skipped locally but fail under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import text

from lockstep.store import migrate
from lockstep.store.db import create_engine

PG_ADMIN_URL = os.environ.get("LOCKSTEP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_url_for(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def _admin(sql: str) -> None:
    engine = create_engine(PG_ADMIN_URL)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_database_url():
    name = f"lockstep_test_{os.getpid()}"
    try:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name}"))
        asyncio.run(_admin(f"CREATE DATABASE {name}"))
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {str(exc).splitlines()[0]}")
    url = _pg_url_for(name)

    async def _migrate():
        engine = create_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()

    asyncio.run(_migrate())
    yield url
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A migrated, empty database URL on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/lockstep.db"

        async def _migrate():
            engine = create_engine(url)
            await migrate.upgrade(engine)
            await engine.dispose()

        asyncio.run(_migrate())
        return url
    url = request.getfixturevalue("pg_database_url")

    async def _truncate():
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS test_effects"))
            tables = (
                await conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                    )
                )
            ).scalars()
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY"))
        await engine.dispose()

    asyncio.run(_truncate())
    return url


@pytest.fixture
async def engine(db_url):
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()
