"""The FastAPI application served by ``lockstep run`` and ``lockstep api``.

It exposes the webhook receivers (``web/webhooks.py``) and what an operator's load balancer and Prometheus
need: ``/healthz`` (the process answers), ``/readyz`` (database reachable and migrations current) and
``/metrics``. It binds to 127.0.0.1 by default.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep.clock import utcnow
from lockstep.queue import jobs as q
from lockstep.store import migrate
from lockstep.store import orders as order_store
from lockstep.store import stock as stock_store
from lockstep.web import deposco_webhooks, webhooks

QUEUE_DEPTH = Gauge("lockstep_queue_jobs", "Jobs by status", ["status"])
ORDERS = Gauge("lockstep_orders", "Orders by flow state", ["brand", "state"])
STOCK_SYNC_LAG = Gauge(
    "lockstep_stock_sync_lag_seconds", "Age of the oldest (pool, SKU) whose new stock is not yet in Centra", ["brand"]
)
OLDEST_PENDING = Gauge("lockstep_queue_oldest_pending_seconds", "Age of the oldest ready pending job")


def create_app(runtime: Any) -> FastAPI:
    """The app for one runtime (brands, secrets, engine); webhooks and metrics read it from ``app.state``."""
    engine: AsyncEngine = runtime.engine
    app = FastAPI(title="Lockstep", version="0.1.0", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.runtime = runtime
    app.include_router(webhooks.router)
    app.include_router(deposco_webhooks.router)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        try:
            current = await migrate.is_current(engine)
        except Exception as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            return JSONResponse({"status": "unavailable", "database": reason}, status_code=503)
        if not current:
            return JSONResponse({"status": "unavailable", "database": "migrations pending"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    async def metrics() -> Response:
        async with engine.connect() as conn:
            for status, count in (await q.counts(conn)).items():
                QUEUE_DEPTH.labels(status).set(count)
            OLDEST_PENDING.set(await q.oldest_pending_age_s(conn) or 0)
            for brand in runtime.brands:
                for state, count in (await order_store.counts_by_state(conn, brand)).items():
                    ORDERS.labels(brand, state).set(count)
            oldest_dirty = await stock_store.oldest_dirty(conn)
            now = utcnow()
            for brand in runtime.brands:
                since = oldest_dirty.get(brand)
                STOCK_SYNC_LAG.labels(brand).set((now - since).total_seconds() if since else 0.0)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
