"""Configuration of live subscriptions, read once at start-up with the API's other settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class LiveSettingsError(ValueError):
    """The environment's subscription settings are unusable; the message names each variable."""


@dataclass(frozen=True)
class LiveSettings:
    """Limits and timers of the WebSocket subscriptions of one API process."""

    bootstrap_servers: str
    changes_topic: str
    #: Notices a connection may have waiting (across its subscriptions) before it is dropped.
    buffer_size: int = 256
    #: Seconds between keepalive pings (graphql-transport-ws) or ``ka`` messages (graphql-ws).
    ping_interval_seconds: float = 15.0
    #: Seconds a graphql-transport-ws peer has to answer a ping with a pong.
    pong_timeout_seconds: float = 10.0
    #: Hours the changes topic keeps notices (the resume window), when this process creates it.
    retention_hours: int = 72
    #: How many recent notice ids are remembered to drop notices the projector repeated.
    dedupe_window: int = 10_000

    @classmethod
    def from_env(
        cls,
        *,
        bootstrap_servers: str,
        changes_topic: str,
        environ: Mapping[str, str] = os.environ,
    ) -> LiveSettings:
        problems: list[str] = []

        def number(name: str, default: float, minimum: float) -> float:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                problems.append(f"{name}={raw!r}: expected a number")
                return default
            if not value >= minimum or value == float("inf"):
                problems.append(f"{name}={raw!r}: must be a finite number >= {minimum}")
                return default
            return value

        def integer(name: str, default: int, minimum: int) -> int:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{name}={raw!r}: expected an integer")
                return default
            if value < minimum:
                problems.append(f"{name}={raw!r}: must be at least {minimum}")
                return default
            return value

        settings = cls(
            bootstrap_servers=bootstrap_servers,
            changes_topic=changes_topic,
            buffer_size=integer("SUBSCRIPTION_BUFFER", 256, 1),
            ping_interval_seconds=number("WS_PING_INTERVAL_SECONDS", 15.0, 0.05),
            pong_timeout_seconds=number("WS_PONG_TIMEOUT_SECONDS", 10.0, 0.05),
            retention_hours=integer("CHANGES_RETENTION_HOURS", 72, 1),
            dedupe_window=integer("SUBSCRIPTION_DEDUPE_WINDOW", 10_000, 1),
        )
        if problems:
            raise LiveSettingsError("invalid subscription settings:\n  " + "\n  ".join(problems))
        return settings
