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
