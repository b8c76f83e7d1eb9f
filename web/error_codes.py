"""The ``extensions.code`` every error the API returns carries, and how a code is chosen.

Clients branch on the code, never on the message. The codes:

=========================  =====================================================================
UNAUTHENTICATED            no token, or a token that failed verification (HTTP 401 for the latter)
FORBIDDEN                  authenticated, but the caller's entitlements do not allow this
BAD_USER_INPUT             arguments or variables that are well-formed GraphQL but unusable
NOT_FOUND                  a lookup that must name an existing entity did not
GRAPHQL_VALIDATION_FAILED  the document does not parse or does not validate against the schema
QUERY_TOO_COMPLEX          the document exceeds a size, depth, alias or cost limit (web.limits)
RATE_LIMITED               this client (or everyone) already has as many requests running, or new
                           documents being checked, as one API process admits (HTTP 429 with
                           Retry-After; web.admission): retry later
INTERNAL_SERVER_ERROR      anything unexpected; the message is masked, the log has the details
SERVICE_UNAVAILABLE        a store (MongoDB) or the change log failed; retrying later may work
BAD_REQUEST                the HTTP request itself is unusable (bad JSON, media type, method)
=========================  =====================================================================

Subscriptions add CURSOR_EXPIRED (see ``resolvers.errors``); a WebSocket connection that
already runs as many operations as it may, or a client that already has as many subscriptions
open as it may, gets TOO_MANY_OPERATIONS (``web.live.handlers``, ``web.operation_admission``).

Errors raised on purpose by our own layers carry their code either in
``GraphQLError.extensions["code"]`` or as a ``code`` string attribute of the exception
(``entitlements.errors.EntitlementError`` and the resolvers' errors); such errors are shown as
they are. Any other exception is unexpected and is masked.
"""

from __future__ import annotations

import re
from enum import StrEnum

from graphql import GraphQLError, GraphQLSyntaxError


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    BAD_REQUEST = "BAD_REQUEST"
    TOO_MANY_OPERATIONS = "TOO_MANY_OPERATIONS"


_CODE_SHAPE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
#: graphql-core's words for variable values it cannot coerce (the caller's input). Its
#: validation rules about variables word their refusals "Variable '$n' ..." too (never used,
#: not defined, used in a position of another type, of a type that is not an input): those
#: are the document's mistakes, GRAPHQL_VALIDATION_FAILED (until session 19 every message
#: starting "Variable '$" was BAD_USER_INPUT).
_VARIABLE_VALUE = re.compile(
    r"^(Variable '\$[^']*' has invalid (default )?value|Variable values are nested too deeply)"
)


def declared_code(error: GraphQLError) -> str | None:
    """The code the raiser chose, from the error's extensions or its original exception."""
    code = (error.extensions or {}).get("code")
    if isinstance(code, str) and _CODE_SHAPE.match(code):
        return code
    original = error.original_error
    code = getattr(original, "code", None) if original is not None else None
    if isinstance(code, str) and _CODE_SHAPE.match(code):
        return code
    return None


def is_unexpected(error: GraphQLError) -> bool:
    """True for errors whose message must not reach the client (a bug or a driver failure)."""
    if declared_code(error) is not None:
        return False
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def classify(error: GraphQLError) -> str:
    """The code to report for ``error``.

    Errors that graphql-core raises before execution have no original exception: a syntax
    error or a failed validation rule, or a variable whose value does not fit its type (which
    is the caller's input, hence BAD_USER_INPUT). A ``GraphQLError`` raised inside a resolver
    without a code is a deliberate refusal of the input (e.g. a malformed global id).
    """
    if (code := declared_code(error)) is not None:
        return code
    original = error.original_error
    if original is None:
        if isinstance(error, GraphQLSyntaxError):
            return ErrorCode.GRAPHQL_VALIDATION_FAILED
        if _VARIABLE_VALUE.match(error.message):
            return ErrorCode.BAD_USER_INPUT
        if error.path is None:
            return ErrorCode.GRAPHQL_VALIDATION_FAILED
        return ErrorCode.INTERNAL_SERVER_ERROR
    if isinstance(original, GraphQLError):
        return ErrorCode.BAD_USER_INPUT
    return ErrorCode.INTERNAL_SERVER_ERROR


def is_request_error(errors: list[GraphQLError], data: object) -> bool:
    """True when no field was executed: the document or its variables were refused.

    Such responses carry no ``data`` entry and, under ``application/graphql-response+json``,
    a 4xx status (GraphQL over HTTP, "Status codes").
    """
    return data is None and bool(errors) and all(e.path is None for e in errors)


def retry_later(errors: list[GraphQLError]) -> tuple[int, int] | None:
    """(HTTP status, seconds) for a request refused only for now: an error carrying
    ``extensions.retryAfter`` is 429 when it is RATE_LIMITED, else 503."""
    for error in errors:
        extensions = error.extensions or {}
        wait = extensions.get("retryAfter")
        if isinstance(wait, int):
            status = 429 if extensions.get("code") == ErrorCode.RATE_LIMITED else 503
            return status, wait
    return None
