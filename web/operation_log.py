"""One JSON log line per GraphQL query or mutation: who asked, what, how long, which errors.

Carries the caller's ``sub`` and customer ids (never the token), and, through the log
context, the request id and trace id (``web.tracing``), so an operator can go from a
portal's complaint, a trace id or a customer to the requests that served them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from web.metrics import operation_type_of

logger = logging.getLogger("web.operations")


class OperationLog(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        operation_type = operation_type_of(context)
        if operation_type == "subscription":
            return  # logged by web.live per subscription, not per event
        caller = getattr(context.context, "caller", None)
        errors = getattr(context.result, "errors", None) or ()
        logger.info(
            "graphql operation",
            extra={
                "operation_name": context.operation_name,
                "operation_type": operation_type,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "sub": getattr(caller, "subject", None),
                "customer_ids": sorted(getattr(caller, "customers", ()) or ()),
                "error_codes": [
                    str((e.extensions or {}).get("code", "INTERNAL_SERVER_ERROR")) for e in errors
                ],
            },
        )
