"""Errors the readers raise, each with the stable ``code`` a client sees.

::

    ResolverError                   code + a message safe to show as it is
    ├── Unauthenticated             UNAUTHENTICATED: no caller on the request
    ├── Forbidden                   FORBIDDEN: the caller's policy refuses this read
    ├── BadUserInput                BAD_USER_INPUT: a cursor, filter or limit the API refuses
    └── StoreUnavailable            SERVICE_UNAVAILABLE: MongoDB failed; the driver error is chained

A lookup of something missing or not the caller's is not an error: it returns None (null),
so that one customer cannot probe another's identifiers.

Entitlement errors are converted to the first two at the readers' boundary, so the graph layer
meets one hierarchy. Each error carries ``extensions`` because graphql-core copies an original
exception's ``extensions`` dict onto the GraphQL error it builds: the code reaches the client
without this package importing anything from GraphQL.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ResolverError(Exception):
    """A read the API refuses or cannot serve; the message is written for the client."""

    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code}


class Unauthenticated(ResolverError):
    """Data was asked for without a verified caller."""

    code = "UNAUTHENTICATED"


class Forbidden(ResolverError):
    """The caller is known, but their entitlements do not cover this read."""

    code = "FORBIDDEN"


class BadUserInput(ResolverError):
    """An argument is malformed or out of range; the message names the argument."""

    code = "BAD_USER_INPUT"


class StoreUnavailable(ResolverError):
    """The database failed. The message stays generic; the driver error is the ``__cause__``."""

    code = "SERVICE_UNAVAILABLE"
