"""One JSON object per log line, so operators can filter by ``trace_id``, ``request_id``,
``sub`` or ``customer_ids`` instead of parsing prose.

Stdlib ``logging`` with this formatter: a record's ``extra`` fields become keys, and
context fields registered with ``add_context`` (the API's request id and trace) are added to
every line logged while they are set. Nothing here knows about tokens: callers pass the
caller's ``sub`` and customer ids, never a credential.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from observability.trace_context import parse_traceparent

#: Attributes every ``LogRecord`` has; anything else on a record came from ``extra``.
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

ContextSource = Callable[[], Mapping[str, Any]]
_context_sources: list[ContextSource] = []


def add_context(source: ContextSource) -> None:
    """Fields added to every line (e.g. the current request id); set once at start-up."""
    if source not in _context_sources:
        _context_sources.append(source)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for source in _context_sources:
            line.update({k: v for k, v in source().items() if v is not None})
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def configure(level: str = "INFO") -> None:
    """Root logging to stderr as JSON lines at ``level`` (the process's ``LOG_LEVEL``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def log_traced_hop(
    logger: logging.Logger, message: str, traceparent: object, **fields: Any
) -> None:
    """Log one hop of a traced message at INFO, under the trace it carries (``trace_id``, and
    the sender's span as ``parent_span_id``) with ``fields``; nothing when it carries no valid
    ``traceparent``: only traced messages get a line per hop."""
    trace = parse_traceparent(traceparent)
    if trace is not None:
        extra = {"trace_id": trace.trace_id, "parent_span_id": trace.span_id, **fields}
        logger.info(message, extra=extra)
