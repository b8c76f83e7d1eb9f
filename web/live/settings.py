"""Configuration of live subscriptions, read at start-up with the API's other settings
(``web.settings.load_settings``)."""

from __future__ import annotations

from pydantic import Field

from config.env import EnvSettings


class LiveSettings(EnvSettings):
    """Limits and timers of the WebSocket subscriptions of one API process."""

    #: Subscriptions one client (token subject) may have open at once in this process, across
    #: all its connections (beyond: the subscribe is refused with TOO_MANY_OPERATIONS; see
    #: ``web.operation_admission``). A subscription holds no place among the client's
    #: ``MAX_REQUESTS_PER_CLIENT`` running requests: it lives as long as its client wants.
    max_subscriptions_per_client: int = Field(
        32, validation_alias="MAX_SUBSCRIPTIONS_PER_CLIENT", ge=1
    )
    #: Notices a connection may have waiting (across its subscriptions) before it is dropped.
    buffer_size: int = Field(256, validation_alias="SUBSCRIPTION_BUFFER", ge=1)
    #: Seconds between keepalive pings (graphql-transport-ws) or ``ka`` messages (graphql-ws).
    ping_interval_seconds: float = Field(
        15.0, validation_alias="WS_PING_INTERVAL_SECONDS", ge=0.05, allow_inf_nan=False
    )
    #: Seconds a graphql-transport-ws peer has to answer a ping with a pong.
    pong_timeout_seconds: float = Field(
        10.0, validation_alias="WS_PONG_TIMEOUT_SECONDS", ge=0.05, allow_inf_nan=False
    )
    #: Hours the changes topic keeps notices (the resume window), when this process creates it.
    retention_hours: int = Field(72, validation_alias="CHANGES_RETENTION_HOURS", ge=1)
    #: How many recent notice ids are remembered to drop notices the projector repeated.
    dedupe_window: int = Field(10_000, validation_alias="SUBSCRIPTION_DEDUPE_WINDOW", ge=1)
    #: How far back a resume may reach, in notices of every customer (changes-topic offsets):
    #: a replay reads and decodes every notice after its cursor, whoever it is for, so this
    #: bounds what one subscription may cost. An older cursor gets CURSOR_EXPIRED.
    resume_max_notices: int = Field(
        100_000, validation_alias="SUBSCRIPTION_RESUME_MAX_NOTICES", ge=1
    )
    #: Reads of the log for resumes (a chunk of up to 1,000 notices each, with a Kafka consumer
    #: of its own) running at once in this process, and of one client (``web.live.replays``).
    max_replays: int = Field(4, validation_alias="MAX_SUBSCRIPTION_REPLAYS", ge=1)
    max_replays_per_client: int = Field(
        2, validation_alias="MAX_SUBSCRIPTION_REPLAYS_PER_CLIENT", ge=1
    )
    #: How long a resume waits in the queue for its first read before it is refused with
    #: RATE_LIMITED: long enough for the resumes of a replica's every client to take turns.
    replay_wait_seconds: float = Field(
        30.0, validation_alias="SUBSCRIPTION_REPLAY_WAIT_SECONDS", ge=0, allow_inf_nan=False
    )
    #: WebSocket connections open at once in this process, initialised or not (beyond: the
    #: handshake is answered with close 1013, ``web.live.connections``).
    max_connections: int = Field(2_000, validation_alias="MAX_WEBSOCKET_CONNECTIONS", ge=1)
    #: Of those, sockets whose ``connection_init`` has not been answered yet (beyond: close
    #: 1013 too), so that sockets that never authenticate, from anyone, cannot take the places
    #: of initialised connections. Each stays pending for a round trip, or until
    #: ``WS_INIT_TIMEOUT_SECONDS`` if it sends nothing.
    max_pending_connections: int = Field(200, validation_alias="MAX_PENDING_WEBSOCKETS", ge=1)
    #: Of those, sockets from one client address (beyond: close 1013), so that one address
    #: cannot take every pending place and turn every other new subscriber away. The address
    #: is uvicorn's (the forwarded one behind a proxy ``FORWARDED_ALLOW_IPS`` trusts); a
    #: socket with no address (a Unix socket) counts only against ``MAX_PENDING_WEBSOCKETS``.
    max_pending_connections_per_address: int = Field(
        20, validation_alias="MAX_PENDING_WEBSOCKETS_PER_ADDRESS", ge=1
    )
    #: Authenticated WebSocket connections one client (token subject) may hold at once in
    #: this process (beyond: close 1013 at ``connection_init``), so that one token cannot
    #: take every place ``MAX_WEBSOCKET_CONNECTIONS`` allows.
    max_connections_per_client: int = Field(16, validation_alias="MAX_WEBSOCKETS_PER_CLIENT", ge=1)
    #: Seconds a new WebSocket has to send ``connection_init`` (close 4408 after).
    init_timeout_seconds: float = Field(
        10.0, validation_alias="WS_INIT_TIMEOUT_SECONDS", ge=0.05, le=3600, allow_inf_nan=False
    )
