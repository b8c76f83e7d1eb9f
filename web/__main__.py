"""``python -m web``: serve the API with uvicorn on API_HOST:API_PORT.

Configuration errors (every setting, subscriptions' included; the policy, keys and persisted
operation manifests, which ``create_app`` reads) end the process with one clear message and
exit status 2 instead of a traceback.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from config.env import SettingsError
from config.garbage import tune_garbage_collection
from entitlements.errors import ConfigurationError
from observability import json_logs
from web.app import create_app
from web.request_head import HeadLimits, protocol_for
from web.settings import load_settings
from web.tracing import log_context


def configure_logging(level: str) -> None:
    """JSON lines, each with the request id and trace id of the request it was logged for."""
    json_logs.configure(level)
    json_logs.add_context(log_context)
    # Strawberry logs every GraphQL error, expected ones included; web.masking logs the
    # unexpected ones with their request id, so Strawberry's copy is only noise.
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)


def main() -> int:
    try:
        settings = load_settings()
        configure_logging(settings.log_level)
        app = create_app(settings)
    except (SettingsError, ConfigurationError) as exc:
        print(f"portal API: {exc}", file=sys.stderr)
        return 2
    tune_garbage_collection()
    head_limits = HeadLimits(
        settings.request_header_max_bytes, settings.request_header_timeout_seconds
    )
    uvicorn.run(
        app,
        # uvicorn's httptools protocol, bounding the size of a request's head and the time
        # to read it (uvicorn bounds neither), counting what it refuses in the app's metrics.
        http=protocol_for(head_limits, app.state.metrics.count_head_refusal),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        # No uvicorn access line per request: every probe and scrape would write one at
        # INFO, and a GET's line holds its whole query string (the GraphQL document and its
        # variables: a portal user's search terms). Queries and mutations get their own line
        # ("graphql operation", ``web.operation_log``); responses are counted by status.
        access_log=False,
        proxy_headers=True,
        lifespan="on",
        timeout_graceful_shutdown=settings.api_shutdown_grace_seconds,
        ws_max_size=settings.limits.max_websocket_message_bytes,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
