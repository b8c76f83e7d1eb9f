"""Where the store and the broker are: the variables the projector and the API share."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from config.env import (
    EnvSettings,
    check_host_port_list,
    check_mongodb_database,
    check_mongodb_uri,
)


class ConnectionSettings(EnvSettings):
    """``MONGODB_URI``, ``MONGODB_DATABASE``, ``KAFKA_BOOTSTRAP_SERVERS``, and the
    replication factor of the topics the read model creates (``KAFKA_REPLICATION_FACTOR``)."""

    mongodb_uri: Annotated[str, AfterValidator(check_mongodb_uri)] = "mongodb://127.0.0.1:27017/"
    mongodb_database: Annotated[str, AfterValidator(check_mongodb_database)] = "portal"
    kafka_bootstrap_servers: Annotated[str, AfterValidator(check_host_port_list)] = "127.0.0.1:9092"
    kafka_replication_factor: int = Field(1, ge=1)
