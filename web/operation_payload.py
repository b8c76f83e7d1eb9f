"""The members of an operation's request (an HTTP body, a WebSocket ``subscribe`` or
``start`` payload) that must have one JSON type, checked alike on every transport."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from graphql import GraphQLError
from strawberry.schema.exceptions import CannotGetOperationTypeError

from readmodel.quoting import ECHOED_CHARACTERS, quoted
from web.error_codes import ErrorCode

#: The members of an operation's payload and the type each must have when present, with
#: the words HTTP's refusal uses (Strawberry's view, for ``variables`` and ``extensions``).
_PAYLOAD_MEMBERS: Final = (
    ("variables", dict, "an object"),
    ("extensions", dict, "an object"),
    ("operationName", str, "a string"),
)


def payload_refusal(payload: Mapping[str, Any]) -> GraphQLError | None:
    """The ``BAD_REQUEST`` refusal of an operation's payload whose ``variables``,
    ``extensions`` or ``operationName`` is of the wrong type; None when they are usable.
    HTTP refuses such a body with a 400 (``web.graphql_http``; Strawberry's view checks
    ``variables`` and ``extensions`` only, and read any ``operationName`` as a name:
    ``Unknown operation named "['A']".``). Strawberry's WebSocket handlers passed them on,
    and a string as ``variables`` made the operation raise: the client got ``complete`` and
    no error, and the log a traceback (``web.live.handlers``)."""
    for name, kind, what in _PAYLOAD_MEMBERS:
        value = payload.get(name)
        if value is not None and not isinstance(value, kind):
            return GraphQLError(
                f"The GraphQL operation's `{name}` must be {what} or null, if provided.",
                extensions={"code": ErrorCode.BAD_REQUEST.value},
            )
    return None


def unknown_operation(error: CannotGetOperationTypeError) -> str:
    """Strawberry's words for an ``operationName`` naming no operation of the document
    (``Unknown operation named "Z".``), on every transport, with a name of more than
    ``ECHOED_CHARACTERS`` quoted cut short: Strawberry echoes the client's name whole."""
    name = error.operation_name
    if name is None or len(name) <= ECHOED_CHARACTERS:
        return error.as_http_error_reason()
    return f"Unknown operation named {quoted(name, ECHOED_CHARACTERS)}."
