"""What every process reads: where the store and the broker are, and how much it logs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from config.env import (
    EnvSettings,
    check_host_port_list,
    check_mongodb_database,
    check_mongodb_uri,
)


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class ProcessSettings(EnvSettings):
    """``MONGODB_URI``, ``MONGODB_DATABASE``, ``KAFKA_BOOTSTRAP_SERVERS``, the replication
    factor of the topics the read model creates (``KAFKA_REPLICATION_FACTOR``), ``LOG_LEVEL``
    and the token its ``/metrics`` asks for (``METRICS_TOKEN``)."""

    mongodb_uri: Annotated[str, AfterValidator(check_mongodb_uri)] = "mongodb://127.0.0.1:27017/"
    mongodb_database: Annotated[str, AfterValidator(check_mongodb_database)] = "portal"
    kafka_bootstrap_servers: Annotated[str, AfterValidator(check_host_port_list)] = "127.0.0.1:9092"
    kafka_replication_factor: int = Field(1, ge=1)
    #: The root logger's level (JSON lines on stderr, ``observability.json_logs``).
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
    ] = "INFO"
    #: When set, ``/metrics`` answers 401 to a request without ``Authorization: Bearer`` and
    #: this token (``observability.metrics_access``); unset, it is open to whoever reaches
    #: the port (Prometheus inside the cluster network). ``repr=False``: never echoed.
    metrics_token: str | None = Field(None, min_length=16, repr=False)
