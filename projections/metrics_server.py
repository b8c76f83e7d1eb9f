"""``/metrics`` and ``/healthz`` of a projector process, on ``PROJECTOR_METRICS_PORT``.

Served from a thread (prometheus-client's threading WSGI server), not from the event loop:
a scrape never waits for a batch, and ``/healthz`` can tell that the consumer loop stopped
coming round (it reads ``portal_projector_last_loop_timestamp_seconds``), which a handler
running on that same loop could not. With ``METRICS_TOKEN`` set, ``/metrics`` asks for it
as the API's does (``observability.metrics_access``); ``/healthz`` stays open to probes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from observability.metrics_access import CHALLENGE, metrics_allowed
from projections.metrics import ProjectorMetrics

log = logging.getLogger(__name__)

#: A loop that has not come round for this long is reported unhealthy. A batch of 10,000
#: records takes about half a minute on FerretDB; store outages are retried within the loop.
STALLED_AFTER_SECONDS: Final = 300.0

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape on stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        return None


class MetricsServer:
    """Started before the consumer, stopped after it; port 0 picks a free port."""

    def __init__(
        self, metrics: ProjectorMetrics, host: str, port: int, token: str | None = None
    ) -> None:
        self._metrics = metrics
        self._token = token
        self._started = time.time()
        self._prometheus = make_wsgi_app(metrics.registry)
        self._server = make_server(
            host, port, self._app, ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="projector-metrics", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def start(self) -> None:
        self._thread.start()
        log.info("projector metrics on port %d (/metrics, /healthz)", self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def health(self) -> tuple[bool, dict[str, Any]]:
        last = self._metrics.last_loop_at or self._started
        age = max(time.time() - last, 0.0)
        healthy = age <= STALLED_AFTER_SECONDS
        return healthy, {
            "status": "ok" if healthy else "stalled",
            "lastLoopAgeSeconds": round(age, 3),
            "assignedPartitions": self._metrics.assigned_count,
        }

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            healthy, body = self.health()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        if environ.get("PATH_INFO") == "/metrics":
            if not metrics_allowed(self._token, environ.get("HTTP_AUTHORIZATION")):
                headers = [("Content-Type", "text/plain"), ("WWW-Authenticate", CHALLENGE)]
                start_response("401 Unauthorized", headers)
                return [b"unauthorized\n"]
            result: Iterable[bytes] = self._prometheus(environ, start_response)
            return result
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /healthz\n"]
