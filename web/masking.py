"""Every error leaving the API gets a code; unexpected ones are masked and logged.

A bug or a driver failure must not show the client a stack trace, a collection name or a
connection string: its message becomes "Internal server error" with the request id, and the
full exception goes to the log under that id. Errors our layers raise on purpose keep their
message (see ``web.error_codes``).
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from graph.schema import UNRUNNABLE
from web.error_codes import ErrorCode, classify, is_unexpected
from web.operation_payload import unknown_operation
from web.request_id import current_request_id

logger = logging.getLogger("web.errors")

MASKED_MESSAGE = "Internal server error"


def masked(error: GraphQLError) -> GraphQLError:
    """``error`` as the client sees an unexpected one: the generic message, its code and the
    request id; the original goes to the log under that id."""
    request_id = current_request_id()
    original = error.original_error
    logger.error(
        "unexpected error at %s (request %s): %r",
        ".".join(str(p) for p in error.path or ()) or "<operation>",
        request_id,
        original,
        exc_info=(type(original), original, original.__traceback__) if original else None,
    )
    extensions: dict[str, Any] = {"code": ErrorCode.INTERNAL_SERVER_ERROR.value}
    if request_id is not None:
        extensions["requestId"] = request_id
    return GraphQLError(
        MASKED_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def _unrunnable(error: GraphQLError) -> GraphQLError | None:
    """A request Strawberry cannot run (``graph.schema.UNRUNNABLE``, which the schema keeps
    out of the log too), said so with BAD_REQUEST in HTTP's words; None for any other error.

    Over HTTP the view refuses these itself (``web.graphql_http``). Over WebSocket Strawberry
    makes them the operation's error, wrapping an exception nothing of ours declares, so
    each was masked as a bug (INTERNAL_SERVER_ERROR, and a traceback in the log): an
    ``operationName`` naming no operation of the document, a payload without ``query``, and
    a query over the legacy graphql-ws protocol, which carries subscriptions only.
    """
    original = error.original_error
    if not isinstance(original, UNRUNNABLE):
        return None
    if isinstance(original, CannotGetOperationTypeError):
        message = unknown_operation(original)
    elif isinstance(original, MissingQueryError):
        message = "The request has no GraphQL query."
    elif isinstance(original, InvalidOperationTypeError):
        kind = original.operation_type.value
        message = (
            f"A {kind} is not served over the legacy graphql-ws protocol, which carries "
            f"subscriptions only: send the {kind} over graphql-transport-ws or HTTP."
        )
    else:  # one Strawberry adds: in its own words, which are the client's to read
        message = str(original)
    return GraphQLError(
        message, nodes=error.nodes, extensions={"code": ErrorCode.BAD_REQUEST.value}
    )


def coded(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Every error with its ``extensions.code``, unexpected ones masked (``masked``)."""
    processed = []
    for error in errors:
        error = _unrunnable(error) or error
        if is_unexpected(error):
            error = masked(error)
        code = str(classify(error))
        if (error.extensions or {}).get("code") != code:
            error.extensions = {**(error.extensions or {}), "code": code}
        processed.append(error)
    return processed


class CodedErrors(MaskErrors):
    """``coded`` as a Strawberry extension (WebSocket operations, and HTTP requests that do
    not take ``web.prepared``'s path)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=MASKED_MESSAGE)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return coded(errors)
