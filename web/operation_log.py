"""One JSON log line per GraphQL query or mutation: who asked, what, how long, which errors.

Carries the caller's ``sub`` and customer ids (never the token), and, through the log
context, the request id and trace id (``web.tracing``), so an operator can go from a
portal's complaint, a trace id or a customer to the requests that served them. The
operation's name is the client's (its ``operationName`` or its document's): one longer than
``ECHOED_CHARACTERS`` is logged cut short (``readmodel.quoting.quoted``), as every other
value the API echoes, or each request of a 100 KB name wrote 100 KB of log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from readmodel.quoting import ECHOED_CHARACTERS, quoted
from web.metrics import error_code, operation_type_of

logger = logging.getLogger("web.operations")


def log_operation(
    operation_name: str | None,
    operation_type: str,
    seconds: float,
    caller: object,
    errors: Iterable[GraphQLError],
) -> None:
    """The line for one finished query or mutation (subscriptions are logged by ``web.live``
    per subscription, not per event). Skipped cheaply when INFO is off."""
    if operation_type == "subscription" or not logger.isEnabledFor(logging.INFO):
        return
    logger.info(
        "graphql operation",
        extra={
            "operation_name": _logged_name(operation_name),
            "operation_type": operation_type,
            "duration_ms": round(seconds * 1000, 2),
            "sub": getattr(caller, "subject", None),
            "customer_ids": sorted(getattr(caller, "customers", ()) or ()),
            "error_codes": [error_code(e) for e in errors],
        },
    )


def _logged_name(name: str | None) -> str | None:
    """``name`` as the log line holds it: whole (unquoted, as an operator greps for it) up to
    ``ECHOED_CHARACTERS``, else quoted cut short with its length."""
    if name is None or len(name) <= ECHOED_CHARACTERS:
        return name
    return quoted(name, ECHOED_CHARACTERS)


class OperationLog(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        log_operation(
            context.operation_name,
            operation_type_of(context),
            time.perf_counter() - started,
            getattr(context.context, "caller", None),
            getattr(context.result, "errors", None) or (),
        )
