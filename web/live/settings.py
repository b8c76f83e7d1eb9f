"""Configuration of live subscriptions, read at start-up with the API's other settings
(``web.settings.load_settings``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from config.env import EnvSettings

#: How many of something a process or a client may have: at least one.
Count = Annotated[int, Field(ge=1)]
#: A timer: finite, and at least 50 ms (a shorter one would keep a process busy with it).
Interval = Annotated[float, Field(ge=0.05, allow_inf_nan=False)]


class LiveSettings(EnvSettings):
    """Limits and timers of the WebSocket subscriptions of one API process."""

    #: Subscriptions one client (token subject) may have open at once in this process, across
    #: all its connections (beyond: the subscribe is refused with TOO_MANY_OPERATIONS; see
    #: ``web.operation_admission``). A subscription holds no place among the client's
    #: ``MAX_REQUESTS_PER_CLIENT`` running requests: it lives as long as its client wants.
    max_subscriptions_per_client: Count = Field(32, validation_alias="MAX_SUBSCRIPTIONS_PER_CLIENT")
    #: Notices a connection may have waiting (across its subscriptions) before it is dropped.
    buffer_size: Count = Field(256, validation_alias="SUBSCRIPTION_BUFFER")
    #: Seconds between keepalive pings (graphql-transport-ws) or ``ka`` messages (graphql-ws).
    ping_interval_seconds: Interval = Field(15.0, validation_alias="WS_PING_INTERVAL_SECONDS")
    #: Seconds a graphql-transport-ws peer has to answer a ping with a pong.
    pong_timeout_seconds: Interval = Field(10.0, validation_alias="WS_PONG_TIMEOUT_SECONDS")
    #: Hours the changes topic keeps notices (the resume window), when this process creates it.
    retention_hours: Count = Field(72, validation_alias="CHANGES_RETENTION_HOURS")
    #: How many recent notice ids are remembered to drop notices the projector repeated.
    dedupe_window: Count = Field(10_000, validation_alias="SUBSCRIPTION_DEDUPE_WINDOW")
    #: How far back a resume may reach, in notices of every customer (changes-topic offsets):
    #: a replay reads and decodes every notice after its cursor, whoever it is for, so this
    #: bounds what one subscription may cost. An older cursor gets CURSOR_EXPIRED.
    resume_max_notices: Count = Field(100_000, validation_alias="SUBSCRIPTION_RESUME_MAX_NOTICES")
    #: Reads of the log for resumes (a chunk of up to 1,000 notices each, with a Kafka consumer
    #: of its own) running at once in this process, and of one client (``web.live.replays``).
    max_replays: Count = Field(4, validation_alias="MAX_SUBSCRIPTION_REPLAYS")
    max_replays_per_client: Count = Field(2, validation_alias="MAX_SUBSCRIPTION_REPLAYS_PER_CLIENT")
    #: How long a resume waits in the queue for its first read before it is refused with
    #: RATE_LIMITED: long enough for the resumes of a replica's every client to take turns.
    replay_wait_seconds: float = Field(
        30.0, validation_alias="SUBSCRIPTION_REPLAY_WAIT_SECONDS", ge=0, allow_inf_nan=False
    )
    #: WebSocket connections open at once in this process, initialised or not (beyond: the
    #: handshake is answered with close 1013, ``web.live.connections``).
    max_connections: Count = Field(2_000, validation_alias="MAX_WEBSOCKET_CONNECTIONS")
    #: Of those, sockets whose ``connection_init`` has not been answered yet (beyond: close
    #: 1013 too), so that sockets that never authenticate, from anyone, cannot take the places
    #: of initialised connections. Each stays pending for a round trip, or until
    #: ``WS_INIT_TIMEOUT_SECONDS`` if it sends nothing.
    max_pending_connections: Count = Field(200, validation_alias="MAX_PENDING_WEBSOCKETS")
    #: Of those, sockets from one client address (beyond: close 1013), so that one address
    #: cannot take every pending place and turn every other new subscriber away. The address
    #: is uvicorn's (the forwarded one behind a proxy ``FORWARDED_ALLOW_IPS`` trusts); a
    #: socket with no address (a Unix socket) counts only against ``MAX_PENDING_WEBSOCKETS``.
    max_pending_connections_per_address: Count = Field(
        20, validation_alias="MAX_PENDING_WEBSOCKETS_PER_ADDRESS"
    )
    #: Authenticated WebSocket connections one client (token subject) may hold at once in
    #: this process (beyond: close 1013 at ``connection_init``), so that one token cannot
    #: take every place ``MAX_WEBSOCKET_CONNECTIONS`` allows.
    max_connections_per_client: Count = Field(16, validation_alias="MAX_WEBSOCKETS_PER_CLIENT")
    #: Seconds a new WebSocket has to send ``connection_init`` (close 4408 after).
    init_timeout_seconds: Interval = Field(
        10.0, validation_alias="WS_INIT_TIMEOUT_SECONDS", le=3600
    )
