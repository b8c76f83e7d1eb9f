"""Endpoints for the platform rather than for portals: liveness, readiness, metrics.

* ``/healthz``: the process is up and its event loop answers. Never touches a dependency, so
  an orchestrator does not restart healthy replicas because MongoDB blinked.
* ``/readyz``: MongoDB answers a ping within ``READY_TIMEOUT_SECONDS``; 503 otherwise, so a
  load balancer stops sending reads this replica cannot serve. Kafka is deliberately not
  checked: reads keep working while the broker is down (data only gets stale).
* ``/metrics``: Prometheus text format; source freshness is recomputed on each scrape.
"""

from __future__ import annotations

import asyncio
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from web.metrics import refresh_freshness

READY_TIMEOUT_SECONDS: Final = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    db = request.app.state.db
    try:
        await asyncio.wait_for(db.command("ping"), READY_TIMEOUT_SECONDS)
    except (PyMongoError, TimeoutError) as exc:
        detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return JSONResponse(
            {"status": "unavailable", "checks": {"mongodb": f"unreachable ({detail})"}},
            status_code=503,
        )
    return JSONResponse({"status": "ready", "checks": {"mongodb": "ok"}})


async def metrics(request: Request) -> Response:
    state = request.app.state
    await refresh_freshness(state.metrics, state.freshness, state.db)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
