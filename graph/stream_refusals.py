"""A streamed operation refused while its document is checked gets that refusal as its result.

Strawberry's ``Schema.execute`` (HTTP) turns an exception an extension raises while the
document is parsed or validated into the request's result; its ``Schema.stream``, which both
WebSocket protocols run every operation through (graphql-transport-ws directly, the legacy
graphql-ws through ``Schema.subscribe``), lets the exception escape the stream instead. The
graphql-transport-ws handler then logs "Exception in worker task" with a traceback and sends
only ``complete``; the legacy handler sends nothing. The web layer's limits raise their
refusals from ``on_parse`` (the text's size, the parser's token limit, a syntax error, a full
checking lane, a missing ``operationName``), so over WebSocket the client never learnt why,
and every attempt wrote a traceback to the log.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import aclosing

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.schema.schema import StreamResult
from strawberry.types.execution import PreExecutionError


async def refusals_as_results(
    results: StreamResult, process_errors: Callable[[list[GraphQLError]], None]
) -> StreamResult:
    """``results``, except that a ``GraphQLError`` raised before the first result becomes a
    ``PreExecutionError`` holding it, which each protocol sends as its ``error`` message for
    the operation's id, the connection going on. The error is the one HTTP's response
    carries, with its message and code (``process_errors`` sees it first, as in
    ``Schema.execute``). Any other exception is a bug and propagates as before."""
    async with aclosing(results):
        try:
            first = await anext(results)
        except StopAsyncIteration:
            return
        except GraphQLError as refusal:
            errors = [_operation_refusal(refusal)]
            process_errors(errors)
            yield PreExecutionError(data=None, errors=errors)
            return
        yield first
        async for result in results:
            yield result


def _operation_refusal(error: GraphQLError) -> GraphQLError:
    """``error`` as the refusal of its operation alone.

    Strawberry's graphql-transport-ws handler closes the whole connection (4400) when a
    pre-execution result starts with a ``GraphQLSyntaxError``, ending the client's other
    subscriptions with it; over HTTP a syntax error refuses only its request. So a syntax
    error is sent as an ``error`` message like any other refusal: a plain ``GraphQLError``
    with the same message, locations and code.
    """
    if not isinstance(error, GraphQLSyntaxError):
        return error
    return GraphQLError(
        error.message,
        source=error.source,
        positions=error.positions,
        original_error=error.original_error,
        extensions=error.extensions,
    )
