"""The FastAPI application served by ``lockstep run`` and ``lockstep api``.

For now it exposes what an operator's load balancer and Prometheus need: ``/healthz`` (the process answers),
``/readyz`` (database reachable and migrations current) and ``/metrics``. It binds to 127.0.0.1 by default.
"""

from __future__ import annotations

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep.queue import jobs as q
from lockstep.store import migrate

QUEUE_DEPTH = Gauge("lockstep_queue_jobs", "Jobs by status", ["status"])
OLDEST_PENDING = Gauge("lockstep_queue_oldest_pending_seconds", "Age of the oldest ready pending job")


def create_app(engine: AsyncEngine) -> FastAPI:
    app = FastAPI(title="Lockstep", version="0.1.0", docs_url="/api/docs", openapi_url="/api/openapi.json")

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
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
