"""The errors every read raises, over HTTP and WebSocket alike, each with the stable ``code``
a client sees (the one hierarchy: queries' readers and subscriptions' feeds both raise these).

::

    ResolverError                   code + a message safe to show as it is
    ├── Unauthenticated             UNAUTHENTICATED: no caller on the request or connection
    ├── Forbidden                   FORBIDDEN: the caller's policy refuses this read
    ├── BadUserInput                BAD_USER_INPUT: a cursor, filter or limit the API refuses
    │   └── BadCursor               a subscription's ``after`` is not a cursor this API issued
    ├── CursorExpired               CURSOR_EXPIRED: older than the retained change log; refetch
    ├── StoreUnavailable            SERVICE_UNAVAILABLE: MongoDB failed; the driver error is chained
    └── FeedUnavailable             SERVICE_UNAVAILABLE: the change log cannot be read right now

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


class BadCursor(BadUserInput):
    """A subscription's ``after`` names no position this API handed out."""


class CursorExpired(ResolverError):
    """The cursor is older than what the change log retains: refetch, then subscribe anew."""

    code = "CURSOR_EXPIRED"


class FeedUnavailable(ResolverError):
    """The change log cannot be read right now (Kafka down, or the connection is closing)."""

    code = "SERVICE_UNAVAILABLE"
