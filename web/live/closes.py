"""WebSocket close codes this API uses, and why each was chosen.

graphql-transport-ws defines 4400 (bad request), 4401 (unauthorized: subscribe before
``connection_ack``), 4403 (forbidden: ``connection_init`` rejected), 4406, 4408 (no
``connection_init`` in time), 4409 and 4429. A message of a shape the protocol does not define (not
an object, an id that is not a string, a ``subscribe`` without a payload object) closes with
4400 too (``web.live.handlers.malformed``). We follow it and add codes for conditions the
protocol leaves to the server, chosen outside its set so clients can tell them apart:

=====  =========================================================================================
4401   the token the connection was opened with has expired. Same meaning as the protocol's
       "Unauthorized": the client must obtain a fresh token, then reconnect with its last
       cursor. (4403 stays reserved for a token refused at ``connection_init``.)
4403   ``connection_init`` carried no token, or a token that failed verification.
4408   no ``connection_init`` within ``WS_INIT_TIMEOUT_SECONDS`` (10 s; Strawberry's
       ``connection_init_wait_timeout``, whose own default is 60 s):
       graphql-transport-ws's code and reason, used for the legacy graphql-ws protocol too,
       which names none (its server had no such timeout).
4413   the client read too slowly: its pending notices reached ``SUBSCRIPTION_BUFFER``.
       Reconnect and resume with the last cursor received.
4504   no pong within ``WS_PONG_TIMEOUT_SECONDS`` of a ping: the peer is presumed gone.
1009   a message larger than ``MAX_BODY_BYTES`` (sent by uvicorn, ``ws_max_size``, before the
       application sees the message; ``web.settings.QueryLimits.max_websocket_message_bytes``).
1011   the live feed lost its place in the change log; resume with the last cursor.
1012   the API process is shutting down; reconnect (to any replica) with the last cursor.
1013   "Try Again Later" (RFC 6455's registry): the process already holds
       ``MAX_WEBSOCKET_CONNECTIONS`` sockets, so this one is closed right after its handshake
       (``web.live.connections``), or as many not yet past ``connection_init`` as
       ``MAX_PENDING_WEBSOCKETS`` allows, or as many of them from the client's address as
       ``MAX_PENDING_WEBSOCKETS_PER_ADDRESS`` allows. Reconnect later, or to another
       replica. Also at ``connection_init`` when the token's subject already holds
       ``MAX_WEBSOCKETS_PER_CLIENT`` connections in the process (the reason says which).
=====  =========================================================================================

Reasons are at most 123 bytes, the limit of a close frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from readmodel.quoting import quoted


@dataclass(frozen=True)
class CloseReason:
    code: int
    reason: str

    def __post_init__(self) -> None:
        if len(self.reason.encode()) > 123:
            raise ValueError(f"close reason longer than 123 bytes: {self.reason!r}")


TOKEN_EXPIRED: Final = CloseReason(4401, "Unauthorized: token expired; reconnect with a new token")
#: graphql-transport-ws's own words (Strawberry's handler sends them), so both protocols read alike.
INIT_TIMEOUT: Final = CloseReason(4408, "Connection initialisation timeout")
PONG_TIMEOUT: Final = CloseReason(4504, "Keepalive timeout: no pong received")
FEED_INTERRUPTED: Final = CloseReason(1011, "Live feed interrupted; resume with your last cursor")
SHUTTING_DOWN: Final = CloseReason(1012, "Server restarting; resume with your last cursor")
TOO_MANY_CONNECTIONS: Final = CloseReason(
    1013, "Try again later: this server holds as many WebSocket connections as it may"
)
TOO_MANY_PENDING: Final = CloseReason(
    1013,
    "Try again later: this server holds as many WebSocket connections awaiting "
    "connection_init as it may",
)
TOO_MANY_PENDING_FROM_ADDRESS: Final = CloseReason(
    1013,
    "Try again later: too many WebSocket connections from your address await connection_init",
)


def too_many_of_client(allowed: int) -> CloseReason:
    return CloseReason(
        1013, f"Try again later: this client already holds {allowed} WebSocket connections here"
    )


def forbidden(detail: str) -> CloseReason:
    """4403 with the verifier's client-safe message, cut to fit a close frame."""
    return CloseReason(4403, _fit(f"Forbidden: {detail}"))


def too_slow(buffer_size: int) -> CloseReason:
    return CloseReason(
        4413, f"Client too slow: {buffer_size} notices pending; resume with your last cursor"
    )


def bad_request(detail: str) -> CloseReason:
    """4400 with ``detail`` (Strawberry's words, which may quote the client: an unknown
    ``type``, a syntax error's token), cut to fit a close frame."""
    return CloseReason(4400, _fit(detail))


def duplicate_id(operation_id: str) -> CloseReason:
    """4409, graphql-transport-ws's "Subscriber for <id> already exists", the id quoted cut
    short: a client's id may be any length, a close reason at most 123 bytes."""
    return CloseReason(
        4409, _fit(f"Subscriber for {quoted(operation_id, _ID_CHARACTERS)} already exists")
    )


#: Characters of an id a close reason quotes: its start and end, with its length, fit in
#: the 123 bytes with the words around them (``_fit`` cuts what wider characters overflow).
_ID_CHARACTERS: Final = 20


def _fit(text: str) -> str:
    """``text`` cut, on a UTF-8 character's boundary, to fit a close frame's 123 bytes."""
    encoded = text.encode()
    if len(encoded) <= 123:
        return text
    return encoded[:120].decode(errors="ignore") + "..."
