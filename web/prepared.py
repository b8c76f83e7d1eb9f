"""The lean path for most HTTP requests: a known, valid document run by graphql-core directly.

Portals send the same few documents again and again. Once ``web.document_cache`` holds a
text, parsed and validated without errors, everything Strawberry's ``Schema.execute`` does
per request around graphql-core's ``execute`` is bookkeeping: an ``ExecutionContext``, six
schema extensions entered and left as context managers, their hooks looked up, the
operation type found again. That machinery was 12 % of the API's CPU per tracking lookup
(docs/benchmarks.md), more than graphql-core spends on the shipment's fields.

``PreparedOperations.prepare`` decides, from lookups alone, whether a request can take this
path: its text is known and valid, it names one operation the transport may run, its
variables are clean and its measure within the limits (``web.limits``). Anything else
(a new text, an error of any kind before execution, a subscription, a mutation over GET)
returns None and runs through Strawberry and the extensions as before, so every refusal
keeps exactly one implementation. ``execute`` then does what the extensions would have done
around graphql-core, calling the same functions they call: unexpected errors logged by the
schema and masked, every error coded (``web.masking.coded``), the metrics and the operation
log line (``web.metrics``, ``web.operation_log``), and ``extensions.freshness``
(``web.freshness``).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    execute,
    get_operation_ast,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.pyutils import is_awaitable
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema import Schema
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from web.document_cache import DocumentCache
from web.freshness import FreshnessReport
from web.limits import MeasureCache, request_refusals, text_refusal
from web.masking import coded
from web.metrics import Metrics
from web.operation_log import log_operation
from web.settings import QueryLimits


@dataclass(frozen=True)
class PreparedOperation:
    """A request found fit for the lean path: its checked document and chosen operation."""

    document: DocumentNode
    operation: OperationDefinitionNode

    @property
    def operation_type(self) -> str:
        return self.operation.operation.value


@dataclass(frozen=True)
class PreparedOperations:
    """One per app, sharing the app's document cache, measures, metrics and freshness report
    with the schema extensions that serve every other request. ``freshness`` None: responses
    carry no ``extensions.freshness`` (as when the schema has no ``FreshnessExtension``)."""

    schema: Schema
    documents: DocumentCache
    measures: MeasureCache
    limits: QueryLimits
    metrics: Metrics
    freshness: FreshnessReport | None

    def prepare(
        self,
        query: str | None,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        allowed: Collection[OperationType],
    ) -> PreparedOperation | None:
        """The operation to run on the lean path, or None to run the request through
        Strawberry (which reports whatever is wrong with it)."""
        if query is None or text_refusal(query, self.limits) is not None:
            return None
        graphql_schema = self.schema._schema
        checked = self.documents.known(graphql_schema, query)
        if checked is None or checked.errors:
            return None
        operation = get_operation_ast(checked.document, operation_name)
        if operation is None or OperationType(operation.operation.value) not in allowed:
            return None
        if request_refusals(
            graphql_schema, checked.document, query, variables, self.limits, self.measures
        ):
            return None
        return PreparedOperation(checked.document, operation)

    async def execute(
        self,
        prepared: PreparedOperation,
        context: Any,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Run ``prepared`` as ``Schema.execute`` would with the web layer's extensions."""
        started = time.perf_counter()
        result = await self._run(prepared, context, variables, operation_name, operation_extensions)
        errors = result.errors
        if errors:
            self.schema.process_errors(errors)  # logs the unexpected ones, unmasked
            errors = coded(errors)
        seconds = time.perf_counter() - started
        self.metrics.record_operation(prepared.operation_type, seconds, errors or ())
        name = operation_name or (
            prepared.operation.name.value if prepared.operation.name else None
        )
        log_operation(
            name, prepared.operation_type, seconds, getattr(context, "caller", None), errors or ()
        )
        extensions = self.freshness.results(context) if self.freshness else {}
        return ExecutionResult(data=result.data, errors=errors or None, extensions=extensions)

    async def _run(
        self,
        prepared: PreparedOperation,
        context: Any,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        operation_extensions: dict[str, Any] | None,
    ) -> GraphQLExecutionResult:
        try:
            outcome = execute(
                self.schema._schema,
                prepared.document,
                context_value=context,
                variable_values=variables,
                operation_name=operation_name,
                executor_class=self.schema.execution_context_class,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                operation_extensions=operation_extensions,
            )
            if is_awaitable(outcome):
                outcome = await outcome
        except Exception as exc:  # reported and masked, as Strawberry would
            error = (
                exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
            )
            return GraphQLExecutionResult(data=None, errors=[error])
        assert isinstance(outcome, GraphQLExecutionResult)
        return outcome
