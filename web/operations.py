"""Endpoints for the platform rather than for portals: liveness, readiness, metrics.

Whoever can reach the port can call them as fast as they can send, so none reads the store
once per request: each reuses one read per interval (``caching.reused``).

* ``/healthz``: the process is up and its event loop answers. Never touches a dependency, so
  an orchestrator does not restart healthy replicas because MongoDB blinked.
* ``/readyz``: MongoDB answered a ping within ``READY_TIMEOUT_SECONDS``; 503 otherwise, so a
  load balancer stops sending reads this replica cannot serve. One ping's verdict answers
  for ``READY_REUSE_SECONDS``. Kafka is deliberately not checked: reads keep working while
  the broker is down (data only gets stale).
* ``/metrics``: Prometheus text format; source freshness is recomputed on each scrape from
  the sources read at most once per ``FRESHNESS_REFRESH_SECONDS``. With ``METRICS_TOKEN``
  set, a scrape without ``Authorization: Bearer <token>`` is answered 401.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from caching.reused import Reused
from observability.metrics_access import CHALLENGE, metrics_allowed
from web.metrics import refresh_freshness

HEALTHZ: Final = "/healthz"
READYZ: Final = "/readyz"
METRICS: Final = "/metrics"
#: The paths of these endpoints: routed by the app, kept from ``GRAPHQL_PATH``, and counted
#: under one ``route`` label of ``portal_http_responses`` (``web.request_envelope``).
PATHS: Final = frozenset({HEALTHZ, READYZ, METRICS})

READY_TIMEOUT_SECONDS: Final = 2.0
#: How long one ping's verdict answers ``/readyz``: probes at any rate cause at most one ping
#: per interval, and a load balancer learns of an outage at most this much later than it
#: would have (probes come every few seconds anyway).
READY_REUSE_SECONDS: Final = 1.0

#: What ``/readyz`` answers from: the check of MongoDB, ``ok`` or why it failed.
Readiness = Reused[str]


def new_readiness() -> Readiness:
    return Reused(READY_REUSE_SECONDS)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = request.app.state
    mongodb = await state.readiness.get(lambda: _ping(state.db))
    if mongodb != "ok":
        return JSONResponse(
            {"status": "unavailable", "checks": {"mongodb": mongodb}}, status_code=503
        )
    return JSONResponse({"status": "ready", "checks": {"mongodb": mongodb}})


async def _ping(db: AsyncDatabase[dict[str, Any]]) -> str:
    try:
        await asyncio.wait_for(db.command("ping"), READY_TIMEOUT_SECONDS)
    except (PyMongoError, TimeoutError) as exc:
        detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return f"unreachable ({detail})"
    return "ok"


async def metrics(request: Request) -> Response:
    state = request.app.state
    if not metrics_allowed(state.settings.metrics_token, request.headers.get("authorization")):
        return PlainTextResponse(
            "unauthorized\n", status_code=401, headers={"WWW-Authenticate": CHALLENGE}
        )
    await refresh_freshness(state.metrics, state.freshness, state.db)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
